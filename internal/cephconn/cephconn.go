//go:build ceph

// Package cephconn opens the one kind of connection both Ceph backends
// (RBD volumes and RADOS object bodies) need: a cephx user, a ceph.conf and
// one pool, failing the start rather than hanging it when the cluster does
// not answer.
package cephconn

import (
	"context"
	"fmt"
	"strings"

	"github.com/ceph/go-ceph/rados"

	"github.com/stowage/stowage/internal/errs"
)

// Dial connects as user (client.NAME or NAME) with the cluster named in
// conf, after setting options, and opens pool. The caller destroys the
// I/O context and shuts the connection down.
func Dial(ctx context.Context, conf, user, pool string, options map[string]string) (*rados.Conn, *rados.IOContext, error) {
	user = strings.TrimPrefix(user, "client.")
	if user == "" || conf == "" || pool == "" {
		return nil, nil, errs.E(errs.Invalid, "ceph: a ceph.conf, a user and a pool are needed")
	}
	conn, err := rados.NewConnWithUser(user)
	if err != nil {
		return nil, nil, fmt.Errorf("ceph: %w", err)
	}
	if err := conn.ReadConfigFile(conf); err != nil {
		conn.Shutdown()
		return nil, nil, fmt.Errorf("ceph: read %s: %w", conf, err)
	}
	// A cluster that does not answer fails the start instead of hanging it.
	_ = conn.SetConfigOption("client_mount_timeout", "30")
	for k, v := range options {
		if err := conn.SetConfigOption(k, v); err != nil {
			conn.Shutdown()
			return nil, nil, fmt.Errorf("ceph: set %s: %w", k, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- conn.Connect() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Connect gives up by itself after client_mount_timeout.
		return nil, nil, ctx.Err()
	}
	if err != nil {
		conn.Shutdown()
		return nil, nil, fmt.Errorf("ceph: connect as client.%s with %s: %w", user, conf, err)
	}
	io, err := conn.OpenIOContext(pool)
	if err != nil {
		conn.Shutdown()
		return nil, nil, fmt.Errorf("ceph: open pool %s: %w", pool, err)
	}
	return conn, io, nil
}
