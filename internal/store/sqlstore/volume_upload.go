package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// rangesDoc is the stored form of received ranges: [[offset, length], …].
func rangesDoc(rs []volume.Range) [][2]int64 {
	out := make([][2]int64, len(rs))
	for i, r := range rs {
		out[i] = [2]int64{r.Off, r.Len}
	}
	return out
}

func scanVolumeUpload(row rowScanner, volumeID string) (volume.Upload, error) {
	u := volume.Upload{VolumeID: volumeID}
	var doc string
	if err := row.Scan(&u.Total, &doc); err != nil {
		return u, notFound(err, "upload of volume", volumeID)
	}
	var rs [][2]int64
	if err := json.Unmarshal([]byte(doc), &rs); err != nil {
		return u, fmt.Errorf("upload of volume %s: %w", volumeID, err)
	}
	u.Received = make([]volume.Range, len(rs))
	for i, r := range rs {
		u.Received[i] = volume.Range{Off: r[0], Len: r[1]}
	}
	return u, nil
}

func (s *Store) GetVolumeUpload(ctx context.Context, volumeID string) (volume.Upload, error) {
	return scanVolumeUpload(s.r.QueryRowContext(ctx, "SELECT total, received FROM volume_uploads WHERE volume_id = $1", volumeID), volumeID)
}

// AddVolumeUploadRange merges r into the received ranges. The first UPDATE takes
// the row's lock, so concurrent pieces of one upload queue behind each
// other and each sees the ranges the previous one left.
func (s *Store) AddVolumeUploadRange(ctx context.Context, volumeID string, r volume.Range, finish *jobs.Job) (volume.Upload, error) {
	var u volume.Upload
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := ts(time.Now())
		if _, err := tx.ExecContext(ctx, "UPDATE volume_uploads SET updated_at = $1 WHERE volume_id = $2", now, volumeID); err != nil {
			return mapErr(err)
		}
		var err error
		u, err = scanVolumeUpload(tx.QueryRowContext(ctx, "SELECT total, received FROM volume_uploads WHERE volume_id = $1", volumeID), volumeID)
		if err != nil {
			return err
		}
		for _, x := range u.Received {
			if x.Off < r.End() && r.Off < x.End() {
				return errs.E(errs.Exist, "bytes %d-%d are already uploaded", r.Off, r.End())
			}
		}
		u.Received = u.Add(r)
		if !u.Complete() {
			_, err := tx.ExecContext(ctx, "UPDATE volume_uploads SET received = $1 WHERE volume_id = $2", jsonText(rangesDoc(u.Received)), volumeID)
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM volume_uploads WHERE volume_id = $1", volumeID); err != nil {
			return mapErr(err)
		}
		to := volume.Available
		if finish != nil {
			to = volume.Restoring
		}
		q := new(query).add("UPDATE volumes SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
			string(to), now, volumeID, string(volume.Uploading))
		if err := execOne(ctx, tx, q); err != nil || finish == nil {
			return err
		}
		return insertJob(ctx, tx, *finish)
	})
	return u, err
}
