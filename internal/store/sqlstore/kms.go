package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/core/kms"
	"github.com/stowage/stowage/internal/errs"
)

var _ kms.Store = (*Store)(nil)

const kmsKeyCols = "id, project_id, alias, description, state, material, created_at, deletion_at"

func scanKMSKey(row rowScanner) (kms.Key, error) {
	var k kms.Key
	var created, deletion int64
	err := row.Scan(&k.ID, &k.ProjectID, &k.Alias, &k.Description, &k.State, &k.Material, &created, &deletion)
	k.Created = fromTS(created)
	if deletion > 0 {
		k.DeletionDate = fromTS(deletion)
	}
	return k, err
}

func kmsDeletion(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return ts(t)
}

func (s *Store) CreateKMSKey(ctx context.Context, k kms.Key) error {
	_, err := s.w.ExecContext(ctx, "INSERT INTO kms_keys ("+kmsKeyCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		k.ID, k.ProjectID, k.Alias, k.Description, k.State, k.Material, ts(k.Created), kmsDeletion(k.DeletionDate))
	return mapErr(err)
}

func (s *Store) GetKMSKey(ctx context.Context, projectID, id string) (kms.Key, error) {
	k, err := scanKMSKey(s.r.QueryRowContext(ctx, "SELECT "+kmsKeyCols+" FROM kms_keys WHERE project_id = $1 AND id = $2", projectID, id))
	return k, notFound(err, "kms key", id)
}

func (s *Store) KMSKeyByAlias(ctx context.Context, projectID, alias string) (kms.Key, error) {
	k, err := scanKMSKey(s.r.QueryRowContext(ctx, "SELECT "+kmsKeyCols+" FROM kms_keys WHERE project_id = $1 AND alias = $2 AND alias <> ''",
		projectID, alias))
	return k, notFound(err, "kms key alias", alias)
}

func (s *Store) ListKMSKeys(ctx context.Context, projectID string) ([]kms.Key, error) {
	q := new(query).add("SELECT "+kmsKeyCols+" FROM kms_keys WHERE project_id = ? ORDER BY id", projectID)
	return collect(ctx, s.r, q, scanKMSKey)
}

// SetKMSKeyState changes the state only from one of from (one or two
// states), in the statement that checks it, so two admins racing cannot
// skip a step.
func (s *Store) SetKMSKeyState(ctx context.Context, projectID, id string, from []string, state string, deletion time.Time) error {
	if len(from) == 0 || len(from) > 2 {
		return fmt.Errorf("set kms key state: %d states to change from", len(from))
	}
	res, err := s.w.ExecContext(ctx, "UPDATE kms_keys SET state = $1, deletion_at = $2 WHERE project_id = $3 AND id = $4 AND state IN ($5, $6)",
		state, kmsDeletion(deletion), projectID, id, from[0], from[len(from)-1])
	if err != nil {
		return mapErr(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return mapErr(err)
	}
	k, err := s.GetKMSKey(ctx, projectID, id)
	if err != nil {
		return err
	}
	return errs.E(errs.Conflict, "kms key %s is %s", id, k.State)
}

func (s *Store) DestroyKMSKeys(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, "DELETE FROM kms_keys WHERE state = $1 AND deletion_at > 0 AND deletion_at <= $2",
		kms.PendingDeletion, ts(now))
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return int(n), mapErr(err)
}
