//go:build ceph

package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// nfsAck is a file nfs-cp copied into a filesystem volume and reported
// done: written through the NFS address the attachment named (via), under
// the attachment's export path.
type nfsAck struct {
	via, export, file string
	sum               [32]byte
	size              int
}

// key names the write in the ledger.
func (a nfsAck) key() string { return "nfs:" + a.export + a.file }

// nfsTools fails the test when libnfs's command-line tools are missing.
func nfsTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"nfs-cp", "nfs-cat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (make test-deps installs libnfs-utils): %v", tool, err)
		}
	}
}

// nfsWorker creates a filesystem volume (kept in CephFS) through HAProxy,
// attaches it and copies files into it with nfs-cp through the NFS
// address the attachment names until ctx ends (at least one file, at most
// eight), so that copies are under way when a node dies: a copy through
// the dead node fails and is not counted as acknowledged.
func (c *cluster) nfsWorker(ctx context.Context, fx fixture, cycle int, l *ledger) {
	err := c.nfsRound(ctx, fx, cycle, l)
	l.count("filesystem volume round", err)
}

func (c *cluster) nfsRound(ctx context.Context, fx fixture, cycle int, l *ledger) error {
	_, u, err := c.attachedVolume(fx, map[string]any{"name": fmt.Sprintf("c%d-fs", cycle), "size": 8 * mib, "type": "filesystem"}, fmt.Sprintf("c%d-hpc", cycle))
	if err != nil {
		return err
	}
	if u.Scheme != "nfs" || u.Port() == "" {
		return fmt.Errorf("filesystem volume's connection_info uri %q", u)
	}
	dir, err := os.MkdirTemp("", "stowage-cluster-nfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sizes := []int{1000, 70_000, 300_000, 1 << 20}
	for i := 0; i < 8 && (i == 0 || ctx.Err() == nil); i++ {
		a := nfsAck{via: u.Host, export: u.Path, file: fmt.Sprintf("/f%d.bin", i), size: sizes[i%len(sizes)]}
		b := body(a.key(), a.size)
		a.sum = sha256.Sum256(b)
		src := filepath.Join(dir, "src")
		if err := os.WriteFile(src, b, 0o600); err != nil {
			return err
		}
		out, err := nfsCopy(src, testenv.LibnfsURL(c.t, u.String(), a.file))
		if err != nil {
			err = fmt.Errorf("nfs-cp through %s: %v: %s", a.via, err, bytes.TrimSpace(out))
		}
		l.count("nfs write", err)
		if err == nil {
			l.mu.Lock()
			l.nfs = append(l.nfs, a)
			l.acked++
			l.mu.Unlock()
		}
		sleep(ctx, 200*time.Millisecond)
	}
	return nil
}

// nfsCopyTimeout bounds one nfs-cp of at most 1 MiB. libnfs's nfs-cp
// whose server is killed mid-copy can retry for ever without a socket,
// spinning a core (seen for 9 minutes in a CI run); killed at the bound,
// the copy failed and is not acknowledged, like any copy through the dead
// node.
const nfsCopyTimeout = 30 * time.Second

// nfsCopy copies the local file src to the libnfs URL dst with nfs-cp.
func nfsCopy(src, dst string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), nfsCopyTimeout)
	defer cancel()
	return exec.CommandContext(ctx, "nfs-cp", src, dst).CombinedOutput()
}

// verifyNFS reads every file nfs-cp reported copied back with nfs-cat
// through a node other than the one it was written through, under the
// same export path.
func (c *cluster) verifyNFS(l *ledger) {
	c.t.Helper()
	l.mu.Lock()
	acks := slices.Clone(l.nfs)
	l.mu.Unlock()
	for _, a := range acks {
		_, addr := c.other("", a.via, func(n *node) string { return n.nfs })
		uri := testenv.LibnfsURL(c.t, "nfs://"+addr+a.export, a.file)
		got, err := exec.Command("nfs-cat", uri).Output()
		if err != nil || sha256.Sum256(got) != a.sum {
			var msg string
			if ee, ok := err.(*exec.ExitError); ok {
				msg = strings.TrimSpace(string(ee.Stderr))
			}
			c.t.Errorf("file %s%s written over NFS through %s reads back through %s as %d of %d bytes (%v %s)", a.export, a.file, a.via, addr, len(got), a.size, err, msg)
			l.record(a.key(), false)
			continue
		}
		l.record(a.key(), true)
	}
}
