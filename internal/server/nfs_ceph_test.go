//go:build ceph

package server_test

import (
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// TestCephNFSExportAddressesAndRootSquash is
// TestNFSExportAddressesAndRootSquash with filesystem volumes on CephFS.
func TestCephNFSExportAddressesAndRootSquash(t *testing.T) {
	testNFSExportAddressesAndRootSquash(t, testenv.CephFS(t))
}
