package server

import (
	"testing"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/nfs"
)

// The core names filesystem exports; the NFS server must recognise them.
func TestNFSExportNamesAgree(t *testing.T) {
	if volume.NFSExportPrefix != nfs.ExportPrefix {
		t.Fatalf("core names NFS exports %q…, the NFS server expects %q…", volume.NFSExportPrefix, nfs.ExportPrefix)
	}
}
