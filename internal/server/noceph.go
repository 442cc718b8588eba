//go:build !ceph

package server

import (
	"context"
	"errors"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/core/volume"
)

// errNoCeph is what a binary without Ceph support answers --ceph with.
var errNoCeph = errors.New("--ceph: this binary was built without Ceph support; build one with `make build-ceph` (needs cgo and librbd-dev, librados-dev)")

// cephBuilt refuses --ceph before anything touches the data dir.
func cephBuilt(cfg config.Config) error {
	if cfg.Ceph != "" {
		return errNoCeph
	}
	return nil
}

func (s *Server) openCeph(ctx context.Context) (volume.Backend, blockData, error) {
	return nil, nil, errNoCeph
}

func (s *Server) openCephFS(context.Context) (fileVolumes, error) { return nil, errNoCeph }

// cephBlockIO: no RBD pool in this binary.
func (s *Server) cephBlockIO() volume.BlockIO { return nil }
