//go:build ceph

package rbd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ClientAddr is the address of this store's librados client, as `osd
// blocklist add` takes it: blocklisting it drops the client's watches, so
// another client takes the exclusive locks of the images it had open at
// once instead of after the watch timeout.
func (s *Store) ClientAddr() (string, error) {
	a, err := s.conn.GetAddrs()
	if err != nil {
		return "", fmt.Errorf("ceph: client address: %w", err)
	}
	return a, nil
}

// Blocklist adds addr (another node's ClientAddr) to the OSD blocklist for
// expire through the monitors; `profile rbd` mon caps permit exactly
// this.
func (s *Store) Blocklist(ctx context.Context, addr string, expire time.Duration) error {
	if addr == "" || strings.ContainsAny(addr, " \t\n") {
		return fmt.Errorf("ceph: blocklist: bad client address %q", addr)
	}
	// The monitor wants expire as a JSON float: 3600 fails, 3600.0 passes.
	cmd, err := json.Marshal(map[string]any{"prefix": "osd blocklist", "blocklistop": "add",
		"addr": addr, "expire": json.RawMessage(strconv.FormatFloat(expire.Seconds(), 'f', 1, 64))})
	if err != nil {
		return err
	}
	type result struct {
		status string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		_, st, err := s.conn.MonCommand(cmd)
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return fmt.Errorf("ceph: osd blocklist add %s: %s: %w", addr, r.status, r.err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fenced tells whether the cluster answers this client that it is
// blocklisted: another node fenced this one, and nothing it does on the
// cluster will land any more.
func (s *Store) Fenced(ctx context.Context) bool { return blocklisted(s.Ping(ctx)) }

// blocklisted tells whether err is EBLOCKLISTED (which is ESHUTDOWN).
func blocklisted(err error) bool {
	return err != nil && errno(err) == 108
}
