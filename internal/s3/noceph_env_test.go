//go:build !ceph

package s3_test

import (
	"testing"

	"github.com/stowage/stowage/internal/s3"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

// radosBodies: a binary without the ceph tag keeps bodies on local disk.
func radosBodies(testing.TB, *sqlstore.Store, string) (s3.Blobs, bodyPool) { return nil, nil }
