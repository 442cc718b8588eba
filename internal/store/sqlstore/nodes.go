package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/core/cluster"
	"github.com/stowage/stowage/internal/errs"
)

var _ cluster.Store = (*Store)(nil)

const nodeCols = "id, name, api_addr, s3_addr, nbd_addr, nfs_addr, version, started_at, heartbeat_at, ceph_addr, fenced_at"

func insertNode(ctx context.Context, x execer, n cluster.Node) error {
	_, err := x.ExecContext(ctx, "INSERT INTO nodes ("+nodeCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)",
		n.ID, n.Name, n.API, n.S3, n.NBD, n.NFS, n.Version, ts(n.Started), ts(n.Heartbeat), n.CephAddr)
	return mapErr(err)
}

func (s *Store) AddNode(ctx context.Context, n cluster.Node, fresh time.Time) (int, error) {
	var live int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM nodes WHERE name = $1 AND heartbeat_at > $2", n.Name, ts(fresh)).Scan(&live); err != nil {
			return fmt.Errorf("count nodes named %s: %w", n.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM nodes WHERE name = $1", n.Name); err != nil {
			return fmt.Errorf("remove earlier runs of node %s: %w", n.Name, err)
		}
		return insertNode(ctx, tx, n)
	})
	return live, err
}

func (s *Store) BeatNode(ctx context.Context, n cluster.Node) error {
	res, err := s.w.ExecContext(ctx, "UPDATE nodes SET heartbeat_at = $1, ceph_addr = $3 WHERE id = $2 AND fenced_at = 0", ts(n.Heartbeat), n.ID, n.CephAddr)
	if err != nil {
		return fmt.Errorf("node heartbeat: %w", mapErr(err))
	}
	if k, err := res.RowsAffected(); err == nil && k > 0 {
		return nil
	}
	var fenced int
	if err := s.w.QueryRowContext(ctx, "SELECT COUNT(*) FROM nodes WHERE id = $1 AND fenced_at <> 0", n.ID).Scan(&fenced); err != nil {
		return fmt.Errorf("node heartbeat: %w", mapErr(err))
	}
	if fenced > 0 || n.CephAddr != "" {
		return cluster.ErrFenced
	}
	if err := insertNode(ctx, s.w, n); err != nil && !errs.Is(err, errs.Exist) {
		return fmt.Errorf("re-register node: %w", err)
	}
	return nil
}

func (s *Store) RemoveNode(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, "DELETE FROM nodes WHERE id = $1", id)
	return mapErr(err)
}

func (s *Store) FenceNode(ctx context.Context, id string, t time.Time) error {
	_, err := s.w.ExecContext(ctx, "UPDATE nodes SET fenced_at = $1 WHERE id = $2 AND fenced_at = 0", ts(t), id)
	return mapErr(err)
}

func (s *Store) ListNodes(ctx context.Context) ([]cluster.Node, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+nodeCols+" FROM nodes ORDER BY name, id")
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []cluster.Node
	for rows.Next() {
		var n cluster.Node
		var started, beat, fenced int64
		if err := rows.Scan(&n.ID, &n.Name, &n.API, &n.S3, &n.NBD, &n.NFS, &n.Version, &started, &beat, &n.CephAddr, &fenced); err != nil {
			return nil, mapErr(err)
		}
		n.Started, n.Heartbeat = fromTS(started), fromTS(beat)
		if fenced != 0 {
			n.Fenced = fromTS(fenced)
		}
		out = append(out, n)
	}
	return out, mapErr(rows.Err())
}

// SharedSecret returns the cluster's secret called name, sealed at rest:
// the one some node stored first, or mine when there is none yet. Every
// node that opens it must hold the sealing key, so a node started with
// another master key fails here rather than later on every S3 request.
func (s *Store) SharedSecret(ctx context.Context, name string, mine []byte, seal func([]byte) string, open func(string) ([]byte, error)) ([]byte, error) {
	if _, err := s.w.ExecContext(ctx, "INSERT INTO cluster_secrets (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
		name, seal(mine)); err != nil {
		return nil, fmt.Errorf("store shared secret %s: %w", name, mapErr(err))
	}
	var sealed string
	if err := s.w.QueryRowContext(ctx, "SELECT sealed FROM cluster_secrets WHERE name = $1", name).Scan(&sealed); err != nil {
		return nil, fmt.Errorf("read shared secret %s: %w", name, mapErr(err))
	}
	b, err := open(sealed)
	if err != nil {
		return nil, fmt.Errorf("open the cluster's %s: this node's master key is not the one the other nodes use (STOWAGE_MASTER_KEY must be the same on every node): %w", name, err)
	}
	return b, nil
}
