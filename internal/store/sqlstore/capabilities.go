package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/volume"
)

// Taking capabilities back when a member loses their role: S3 keys and
// NBD export names.

// ReplaceS3Credentials revokes the project's live keys named in revoke and
// creates add, recording events, in one transaction: a rotation never
// leaves a service without a key, nor a revoked key alive.
func (s *Store) ReplaceS3Credentials(ctx context.Context, projectID string, revoke []string, add []bucket.Credential, events []volume.Event, at time.Time) error {
	defer s.forget(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range revoke {
			if _, err := tx.ExecContext(ctx, "UPDATE s3_credentials SET revoked_at = $1 WHERE access_key = $2 AND project_id = $3 AND revoked_at IS NULL",
				ts(at), k, projectID); err != nil {
				return mapErr(err)
			}
		}
		for _, c := range add {
			if err := insertCredential(ctx, tx, c); err != nil {
				return err
			}
		}
		for _, e := range events {
			if err := insertEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// ProjectAttachments lists every attachment and snapshot export of a
// project, whatever its state.
func (s *Store) ProjectAttachments(ctx context.Context, projectID string) ([]volume.Attachment, error) {
	q := new(query).add("SELECT "+attachmentCols+" FROM attachments WHERE project_id = ? ORDER BY id", projectID)
	return collect(ctx, s.r, q, scanAttachment)
}

// RenameExports gives attachments new export names and records events in
// one transaction. A rename whose attachment is gone or was renamed
// meanwhile (its name is no longer Old) is skipped: the name it would
// replace is dead already.
func (s *Store) RenameExports(ctx context.Context, renames []volume.Rename, events []volume.Event) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range renames {
			if _, err := tx.ExecContext(ctx, "UPDATE attachments SET export_name = $1 WHERE id = $2 AND export_name = $3",
				r.New, r.AttachmentID, r.Old); err != nil {
				return mapErr(err)
			}
		}
		for _, e := range events {
			if err := insertEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}
