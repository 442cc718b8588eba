// Package backup_test follows the restore procedure of docs/operations.md
// end to end: `stowage admin backup` while clients write objects and
// volume blocks, stop, restore into a new data dir, start, and every
// object and volume the backup holds reads back.
package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/cli"
	"github.com/stowage/stowage/internal/testenv"
)

func body(key string) []byte { return bytes.Repeat([]byte(key+";"), 100) }

func TestBackupUnderLoadAndRestore(t *testing.T) {
	e := testenv.Start(t)
	creds := e.BucketWithKey("kept")

	// Two volumes with a pattern of their own in the first MiB.
	type vol struct {
		export string
		data   []byte
	}
	var vols []vol
	for i := range 2 {
		_, uri := e.AttachedVolume(fmt.Sprintf("disk%d", i), 8<<20)
		v := vol{export: testenv.ExportName(uri), data: bytes.Repeat([]byte{byte(0x10 + i)}, 1<<20)}
		n, err := testenv.DialNBD(e.Addrs.NBD, v.export)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Write(0, v.data, true); err != nil {
			t.Fatal(err)
		}
		n.Close()
		vols = append(vols, v)
	}

	// The load: S3 PUTs of new keys and volume writes, until told to stop.
	var acked sync.Map // key → acknowledged before the backup started
	var backupStarted, writes atomic.Bool
	var puts atomic.Int64
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			le := e.WithT(t)
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%d-%05d", w, i)
				if r := le.S3(creds, "PUT", "/kept/"+key, "", nil, body(key)); r.Status != 200 {
					t.Errorf("PUT %s: %d %s", key, r.Status, r.Body)
					return
				}
				// Acknowledged before the backup began: committed before
				// its snapshot, so the backup must hold it.
				acked.Store(key, !backupStarted.Load())
				puts.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, err := testenv.DialNBD(e.Addrs.NBD, vols[0].export)
		if err != nil {
			t.Error(err)
			return
		}
		defer n.Close()
		buf := bytes.Repeat([]byte{0xee}, 4096)
		for off := uint64(2 << 20); ctx.Err() == nil; off = 2<<20 + (off+4096)%(4<<20) {
			if err := n.Write(off, buf, false); err != nil {
				t.Error(err)
				return
			}
			writes.Store(true)
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); puts.Load() < 50 || !writes.Load(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the load did not start")
		}
	}

	backup := filepath.Join(t.TempDir(), "stowage-backup.db")
	var out, errOut bytes.Buffer
	backupStarted.Store(true)
	putsBefore := puts.Load()
	start := time.Now()
	code := cli.Main([]string{"admin", "backup", backup}, strings.NewReader(""), &out, &errOut,
		func(k string) string { return map[string]string{"STOWAGE_DATA_DIR": e.DataDir}[k] })
	took := time.Since(start)
	putsDuring := puts.Load() - putsBefore
	if code != 0 {
		t.Fatalf("admin backup: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"backed up the metadata (schema version ", "master.key", "cannot be read without it", "objects"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("admin backup printed no %q:\n%s", want, out.String())
		}
	}
	// More load after the backup, then the node stops.
	for target := puts.Load() + 30; puts.Load() < target; time.Sleep(5 * time.Millisecond) {
	}
	stopLoad()
	wg.Wait()
	e.Stop()
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("backup: under load (3 S3 writers, 1 NBD writer): %v for %d bytes; %d PUTs acknowledged during it, %d in all\n",
		took.Round(time.Millisecond), fi.Size(), putsDuring, puts.Load())

	// The restore of docs/operations.md: a new data dir with the keys and
	// the data files of the old one, and the backup as its database.
	restored := t.TempDir()
	for _, name := range []string{"master.key", "session.key", "admin-token", "objects", "blocks", "filesystems"} {
		if b, err := exec.Command("cp", "-a", filepath.Join(e.DataDir, name), restored+"/").CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v %s", name, err, b)
		}
	}
	if b, err := exec.Command("cp", backup, filepath.Join(restored, "stowage.db")).CombinedOutput(); err != nil {
		t.Fatalf("cp backup: %v %s", err, b)
	}
	cfg := e.Config
	cfg.DataDir = restored
	r := testenv.StartConfig(t, cfg)

	// Every object acknowledged before the backup began is there; every
	// object the restored node lists reads back whole.
	list := r.S3(creds, "GET", "/kept", "list-type=2&max-keys=1000", nil, nil)
	if list.Status != 200 {
		t.Fatalf("list: %d %s", list.Status, list.Body)
	}
	listed, before := 0, 0
	var missing []string
	acked.Range(func(k, b any) bool {
		key := k.(string)
		inList := bytes.Contains(list.Body, []byte("<Key>"+key+"</Key>"))
		if b.(bool) {
			before++
			if !inList {
				missing = append(missing, key)
			}
		}
		if inList {
			listed++
			if g := r.S3(creds, "GET", "/kept/"+key, "", nil, nil); g.Status != 200 || !bytes.Equal(g.Body, body(key)) {
				t.Errorf("GET %s after restore: %d, %d bytes", key, g.Status, len(g.Body))
			}
		}
		return true
	})
	if len(missing) > 0 {
		t.Errorf("objects acknowledged before the backup are missing after restore: %v", missing)
	}
	if bytes.Count(list.Body, []byte("<Key>")) != listed {
		t.Errorf("the restored node lists objects nobody wrote:\n%s", list.Body)
	}
	for _, v := range vols {
		n, err := testenv.DialNBD(r.Addrs.NBD, v.export)
		if err != nil {
			t.Fatalf("volume %s after restore: %v", v.export, err)
		}
		got := make([]byte, len(v.data))
		if err := n.Read(0, got); err != nil || !bytes.Equal(got, v.data) {
			t.Errorf("volume %s after restore: %v, data differs", v.export, err)
		}
		n.Close()
	}
	fmt.Printf("backup: restored into a new data dir: %d objects listed and read back (%d acknowledged before the backup), %d volumes read back\n",
		listed, before, len(vols))
}

func TestBackupOnPostgresPointsToPgTools(t *testing.T) {
	var out, errOut bytes.Buffer
	code := cli.Main([]string{"admin", "backup", filepath.Join(t.TempDir(), "x.db"), "--database", "postgres://db.example/stowage"},
		strings.NewReader(""), &out, &errOut, func(string) string { return "" })
	if code != 0 || !strings.Contains(out.String(), "pg_dump") || !strings.Contains(out.String(), "master key") {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errOut.String())
	}
}
