package nfs

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/internal/filestore"
)

// FS is a filesystem volume as the server serves it: files named by
// 64-bit ids that stay valid across restarts, addressed without ever
// following a symbolic link, with the quotas enforced inside (a change
// beyond them fails with an errs.Quota or errs.NoSpace error). The
// server decides who may do what; FS does what it is asked as the
// volume's owner. filestore.Volume keeps a volume on the node's disk,
// cephfs.Volume in a CephFS directory.
type FS interface {
	Root() uint64
	Stat(ctx context.Context, ino uint64) (unix.Stat_t, error)
	Lookup(ctx context.Context, dir uint64, name string) (unix.Stat_t, error)
	Read(ctx context.Context, ino uint64, off int64, b []byte) (int, bool, unix.Stat_t, error)
	Write(ctx context.Context, ino uint64, off int64, b []byte, sync bool) (before, after unix.Stat_t, err error)
	Commit(ctx context.Context, ino uint64) error
	SetAttr(ctx context.Context, ino uint64, a filestore.SetAttr) (before, after unix.Stat_t, err error)
	Create(ctx context.Context, dir uint64, name string, mode uint32, how filestore.CreateMode, verf [8]byte, own *filestore.Owner) (unix.Stat_t, error)
	Mkdir(ctx context.Context, dir uint64, name string, mode uint32, own *filestore.Owner) (unix.Stat_t, error)
	Symlink(ctx context.Context, dir uint64, name, target string, own *filestore.Owner) (unix.Stat_t, error)
	Link(ctx context.Context, ino, dir uint64, name string) (unix.Stat_t, error)
	Readlink(ctx context.Context, ino uint64) (string, error)
	Remove(ctx context.Context, dir uint64, name string, isDir bool) error
	Rename(ctx context.Context, fromDir uint64, fromName string, toDir uint64, toName string) error
	ReadDir(ctx context.Context, dir uint64, cookie uint64, max int) ([]filestore.Entry, bool, error)
	// Space is what FSSTAT tells a client.
	Space() filestore.Space
}

var _ FS = (*filestore.Volume)(nil)
