package backup

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/stowage/stowage/internal/errs"
)

// DirStore is a Store on a local directory: an object is a file, put by
// writing a temporary file and renaming it, so that it is whole or absent
// as in a bucket. It serves benchmarks and the format's tests; the volume
// service stores backups in buckets.
type DirStore struct{ Dir string }

func (d DirStore) path(key string) string { return filepath.Join(d.Dir, filepath.FromSlash(key)) }

// Put implements Store.
func (d DirStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p := d.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if n, err := io.Copy(f, r); err != nil || n != size {
		f.Close()
		return errs.E(errs.Invalid, "put %s: %d of %d bytes: %v", key, n, size, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// Get implements Store.
func (d DirStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	f, err := os.Open(d.path(key))
	if os.IsNotExist(err) {
		return nil, errs.E(errs.NotExist, "no object %s", key)
	}
	if err != nil {
		return nil, err
	}
	if length < 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	b := make([]byte, length)
	n, err := f.ReadAt(b, off)
	f.Close()
	if err != nil && err != io.EOF {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b[:n])), nil
}

// Delete implements Store.
func (d DirStore) Delete(ctx context.Context, key string) error {
	if err := os.Remove(d.path(key)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// List implements Store.
func (d DirStore) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(d.Dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || strings.HasPrefix(e.Name(), ".tmp-") {
			return err
		}
		rel, err := filepath.Rel(d.Dir, p)
		if err != nil {
			return err
		}
		if k := filepath.ToSlash(rel); strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
		return nil
	})
	return out, err
}
