package server

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Files in the data dir that scripts and operators rely on (contract.md).
const (
	adminTokenFile    = "admin-token"
	adminPasswordFile = "admin-password"
	addressesFile     = "addresses.json"
	jwtKeyFile        = "session.key"
	masterKeyFile     = "master.key"
)

// writeFileAtomic writes data to path with mode perm via a temp file, fsync
// and rename, so readers (and a crash) see the old file or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// tightenDataDir makes the data dir 0700 and every file directly in it
// 0600 (directories 0700): they hold password and token hashes, keys and
// export names, and a dir made by someone else, or an older version, may
// have left them readable by other users. Each change is logged.
func tightenDataDir(dir string, log *slog.Logger) error {
	fix := func(path string, mode os.FileMode) error {
		st, err := os.Lstat(path)
		if err != nil {
			return fmt.Errorf("data dir permissions: %w", err)
		}
		if st.Mode()&os.ModeSymlink != 0 || st.Mode().Perm() == mode {
			return nil
		}
		if err := os.Chmod(path, mode); err != nil {
			return fmt.Errorf("data dir permissions: %w", err)
		}
		log.Info("tightened permissions in the data dir", "path", path, "was", st.Mode().Perm().String(), "now", mode.String())
		return nil
	}
	if err := fix(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("data dir permissions: %w", err)
	}
	for _, e := range entries {
		mode := os.FileMode(0o600)
		if e.IsDir() {
			mode = 0o700
		}
		if err := fix(filepath.Join(dir, e.Name()), mode); err != nil {
			return err
		}
	}
	return nil
}

// loadOrCreateKey returns the 32-byte key in file, creating it on first start.
func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("key file %s: want 32 bytes, have %d", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if err := writeFileAtomic(path, b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
}

// Addresses are the listeners' bound addresses, as written to addresses.json.
type Addresses struct {
	API string `json:"api"`
	S3  string `json:"s3,omitempty"`
	NBD string `json:"nbd,omitempty"`
	NFS string `json:"nfs,omitempty"`
	// TLS is set when the API and S3 listeners speak TLS (https).
	TLS bool `json:"tls,omitempty"`
}

func writeAddresses(dir string, a Addresses) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, addressesFile), append(b, '\n'), 0o600)
}
