package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/filestore"
	"github.com/stowage/stowage/internal/nfs"
)

// fileVolumes is where filesystem volumes live: directory trees under
// the data dir, or CephFS directories (--cephfs).
type fileVolumes interface {
	volume.Files
	// Open returns the volume as the NFS server serves it.
	Open(ctx context.Context, id string) (nfs.FS, error)
	Close() error
}

// localFiles keeps filesystem volumes on the node's disk.
type localFiles struct{ *filestore.Store }

func (l localFiles) Open(ctx context.Context, id string) (nfs.FS, error) {
	v, err := l.Volume(ctx, id)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// filesystems opens the store of filesystem volumes and binds the NFS
// listener that serves them.
func (s *Server) filesystems(ctx context.Context) error {
	if s.cfg.CephFS != "" {
		files, err := s.openCephFS(ctx)
		if err != nil {
			return fmt.Errorf("filesystem volumes: %w", err)
		}
		s.files = files
	} else {
		st, err := filestore.Open(filepath.Join(s.cfg.DataDir, "filesystems"), filestore.Options{Reserve: s.cfg.ReserveBytes})
		if err != nil {
			return fmt.Errorf("filesystem volumes: %w", err)
		}
		s.files = localFiles{st}
	}
	var err error
	if s.nfsLn, err = net.Listen("tcp", s.cfg.NFSListen); err != nil {
		return fmt.Errorf("listen nfs %s: %w", s.cfg.NFSListen, err)
	}
	s.nfs = nfs.NewServer(nfsExports{s}, nfs.Options{Logger: s.log.With("component", "nfs"), HeaderTimeout: s.cfg.HeaderTimeout})
	return nil
}

// nfsExports is the NFS resolver: names of attached filesystem volumes.
type nfsExports struct{ s *Server }

func (x nfsExports) Resolve(ctx context.Context, name string) (nfs.Export, error) {
	e, err := x.s.volumes.ResolveExport(ctx, name)
	if err != nil || e.Kind != volume.KindFilesystem {
		return nfs.Export{}, errNoSuchExport
	}
	v, err := x.s.files.Open(ctx, e.BackendID)
	if err != nil {
		return nfs.Export{}, err
	}
	clients := make([]netip.Prefix, 0, len(e.Clients))
	for _, c := range e.Clients {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nfs.Export{}, fmt.Errorf("export %s: client address %q: %w", name, c, err)
		}
		clients = append(clients, p)
	}
	return nfs.Export{Volume: v, Clients: clients, AllowRoot: e.AllowRoot, Counter: x.s.counters.Files(e.ResourceID)}, nil
}

// planes revokes an export on every data plane; only the one serving
// the name has anything to cut off.
type planes []volume.Exports

func (p planes) Revoke(ctx context.Context, name string) {
	for _, x := range p {
		x.Revoke(ctx, name)
	}
}
