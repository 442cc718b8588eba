package objectstore

import (
	"context"
	"os"
	"path/filepath"
)

// Usage is what the blob directories hold.
type Usage struct {
	Blobs int64
	Bytes int64 // apparent sizes, the bytes clients wrote
}

// Usage walks the blob directories and counts what is there: committed
// objects, parts of unfinished uploads and orphans alike. It reads every
// directory entry, so it is for operators, not for request paths.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	shards, err := os.ReadDir(filepath.Join(s.dir, "blobs"))
	if err != nil {
		return u, ioErr("list shards", err)
	}
	for _, sh := range shards {
		if err := ctx.Err(); err != nil {
			return u, err
		}
		if !sh.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.dir, "blobs", sh.Name()))
		if err != nil {
			return u, ioErr("list shard", err)
		}
		for _, e := range entries {
			if !validID(e.Name()) {
				continue
			}
			// A blob deleted since the listing is simply not counted.
			if info, err := e.Info(); err == nil {
				u.Blobs++
				u.Bytes += info.Size()
			}
		}
	}
	return u, nil
}
