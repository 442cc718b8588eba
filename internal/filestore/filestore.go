// Package filestore owns filesystem volumes: one directory tree per volume
// under the data dir, with a hard byte quota equal to the volume's size,
// usage kept exact as files change (every byte a volume costs on disk,
// names and inodes included, see costOf), a limit on its files, and the
// node's disk reserve applied to every growth. It addresses files by inode number, as
// an NFS server does, and never follows a symbolic link while resolving a
// path, so nothing a tenant creates can lead outside its tree.
package filestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/stowage/stowage/internal/errs"
)

// Store holds the filesystem volumes of one node.
type Store struct {
	dir  string
	o    Options
	mu   sync.Mutex
	vols map[string]*Volume
}

// Options tune a Store.
type Options struct {
	// Reserve is free space on the data dir's file system that no
	// volume may take: growth that would leave less fails with an
	// errs.NoSpace error.
	Reserve int64
}

const (
	treeDir   = "tree"
	quotaFile = "quota"
	trashPfx  = ".trash-"
)

// Open prepares dir and finishes deletions a crash interrupted.
func Open(dir string, o Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), trashPfx) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("filestore: finish deleting %s: %w", e.Name(), err)
			}
		}
	}
	return &Store{dir: dir, o: o, vols: map[string]*Volume{}}, nil
}

// CheckID accepts a volume id that names one directory of its own.
func CheckID(id string) error {
	if id == "" || strings.ContainsAny(id, "/\x00") || id[0] == '.' {
		return errs.E(errs.Invalid, "filestore: bad volume id %q", id)
	}
	return nil
}

// Create makes an empty volume with a quota of size bytes. It is
// idempotent, so a retried job finds the volume it made before.
func (s *Store) Create(ctx context.Context, id string, size int64) error {
	if err := CheckID(id); err != nil {
		return err
	}
	base := filepath.Join(s.dir, id)
	tree := filepath.Join(base, treeDir)
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return fmt.Errorf("filestore: create %s: %w", id, err)
	}
	// The top directory is open to every user, sticky as /tmp is: a
	// new volume is usable by any client user, each of whom can remove
	// only their own files there. Its owner may narrow it.
	if err := os.Chmod(tree, 0o777|os.ModeSticky); err != nil {
		return fmt.Errorf("filestore: create %s: %w", id, err)
	}
	if err := writeQuota(base, size); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// Grow raises a volume's quota; open volumes see it at once.
func (s *Store) Grow(ctx context.Context, id string, size int64) error {
	v, err := s.Volume(ctx, id)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if size < v.quota {
		return errs.E(errs.Invalid, "filestore: %s: quota only grows (%d < %d)", id, size, v.quota)
	}
	if err := writeQuota(filepath.Join(s.dir, id), size); err != nil {
		return err
	}
	v.quota = size
	return nil
}

// Delete removes a volume and all its files. The tree is first renamed
// away in one step, so a crash leaves either the volume or trash that
// Open removes.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	s.mu.Lock()
	if v := s.vols[id]; v != nil {
		v.close()
		delete(s.vols, id)
	}
	s.mu.Unlock()
	trash := filepath.Join(s.dir, trashPfx+id+"-"+randHex(4))
	if err := os.Rename(filepath.Join(s.dir, id), trash); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("filestore: delete %s: %w", id, err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("filestore: delete %s: %w", id, err)
	}
	return nil
}

// Usage returns the bytes a volume's files hold and its quota.
func (s *Store) Usage(ctx context.Context, id string) (used, quota int64, err error) {
	v, err := s.Volume(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.used, v.quota, nil
}

// Volume opens a volume, counting its usage on first use.
func (s *Store) Volume(ctx context.Context, id string) (*Volume, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.vols[id]; v != nil {
		return v, nil
	}
	v, err := openVolume(ctx, filepath.Join(s.dir, id), s.o.Reserve)
	if err != nil {
		return nil, fmt.Errorf("filestore: open %s: %w", id, err)
	}
	s.vols[id] = v
	return v, nil
}

// Close releases every open volume.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, v := range s.vols {
		v.close()
		delete(s.vols, id)
	}
	return nil
}

func writeQuota(base string, size int64) error {
	tmp := filepath.Join(base, quotaFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("filestore: write quota: %w", err)
	}
	_, err = f.WriteString(strconv.FormatInt(size, 10))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(base, quotaFile))
	}
	if err == nil {
		err = syncDir(base)
	}
	if err != nil {
		return fmt.Errorf("filestore: write quota: %w", err)
	}
	return nil
}

func readQuota(base string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(base, quotaFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, errs.E(errs.NotExist, "filesystem volume not found")
		}
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filestore: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("filestore: sync %s: %w", dir, err)
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
