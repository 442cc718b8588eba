// Package diskspace owns one question the data planes ask before they
// grow: would this leave the file system under the data dir with less free
// space than the reserve? The reserve is what keeps metadata writable on
// a full disk: deleting an object or a volume needs a little room in the
// database's journal, and a tenant freeing space must not be refused for
// lack of it. It knows nothing of objects or volumes.
package diskspace

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/internal/errs"
)

// Reserve refuses growth that would leave fewer than its bytes free on
// the file system holding its directory. The zero value never refuses.
type Reserve struct {
	dir   string
	bytes int64
}

// New returns a reserve of bytes on the file system holding dir.
func New(dir string, bytes int64) Reserve { return Reserve{dir: dir, bytes: bytes} }

// Check returns an errs.NoSpace error when writing n more bytes would
// leave less than the reserve free. When the file system cannot be asked,
// it does not refuse: the write itself will find out.
func (r Reserve) Check(n int64) error {
	if r.bytes <= 0 {
		return nil
	}
	_, free, err := Of(r.dir)
	if err != nil {
		return nil
	}
	if free-n < r.bytes {
		return errs.E(errs.NoSpace, "the disk is full: %d bytes free, %d kept in reserve", max(free, 0), r.bytes)
	}
	return nil
}

// Of reports the size of the file system holding dir and the bytes still
// available on it to an unprivileged writer.
func Of(dir string) (capacity, free int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), nil
}
