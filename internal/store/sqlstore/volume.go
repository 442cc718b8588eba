package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/bytesize"
	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
)

var _ volume.Store = (*Store)(nil)

type rowScanner = interface{ Scan(...any) error }

const volumeCols = `id, project_id, name, description, size_bytes, type, zone, status, bootable, media, multiattach,
	metadata, tags, source_type, source_id, backend_id, error, created_at, updated_at`

func scanVolume(row rowScanner) (volume.Volume, error) {
	var v volume.Volume
	var status, meta, tags string
	var created, updated int64
	err := row.Scan(&v.ID, &v.ProjectID, &v.Name, &v.Description, &v.Size, &v.Type, &v.Zone, &status, &v.Bootable, &v.Media,
		&v.MultiAttach, &meta, &tags, &v.SourceType, &v.SourceID, &v.BackendID, &v.Error, &created, &updated)
	if err != nil {
		return v, err
	}
	v.Status = volume.Status(status)
	v.Created, v.Updated = fromTS(created), fromTS(updated)
	if err := json.Unmarshal([]byte(meta), &v.Metadata); err != nil {
		return v, fmt.Errorf("volume %s metadata: %w", v.ID, err)
	}
	if err := json.Unmarshal([]byte(tags), &v.Tags); err != nil {
		return v, fmt.Errorf("volume %s tags: %w", v.ID, err)
	}
	v.Attachments = []volume.Attachment{}
	return v, nil
}

func insertVolume(ctx context.Context, x execer, v volume.Volume) error {
	_, err := x.ExecContext(ctx, `INSERT INTO volumes (`+volumeCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
		$14, $15, $16, $17, $18, $19)`, v.ID, v.ProjectID, v.Name, v.Description, v.Size, v.Type, v.Zone, string(v.Status), v.Bootable,
		v.Media, v.MultiAttach, jsonText(v.Metadata), jsonText(v.Tags), v.SourceType, v.SourceID, v.BackendID, v.Error,
		ts(v.Created), ts(v.Updated))
	return mapErr(err)
}

const snapshotCols = `id, project_id, volume_id, name, description, size_bytes, status, backend_id, kept_until, restorations,
	exclusive_bytes, created_at, updated_at, metadata, public`

func scanSnapshot(row rowScanner) (volume.Snapshot, error) {
	var s volume.Snapshot
	var status, rest, meta string
	var kept sql.NullInt64
	var created, updated int64
	err := row.Scan(&s.ID, &s.ProjectID, &s.VolumeID, &s.Name, &s.Description, &s.Size, &status, &s.BackendID, &kept, &rest,
		&s.ExclusiveBytes, &created, &updated, &meta, &s.Public)
	if err != nil {
		return s, err
	}
	s.Status, s.KeptUntil = volume.SnapshotStatus(status), fromTSPtr(kept)
	s.Created, s.Updated = fromTS(created), fromTS(updated)
	if err := json.Unmarshal([]byte(rest), &s.Restorations); err != nil {
		return s, fmt.Errorf("snapshot %s restorations: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(meta), &s.Metadata); err != nil {
		return s, fmt.Errorf("snapshot %s metadata: %w", s.ID, err)
	}
	if s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	return s, nil
}

const attachmentCols = `id, project_id, volume_id, snapshot_id, instance_id, export_name, read_only, state, created_at`

func scanAttachment(row rowScanner) (volume.Attachment, error) {
	var a volume.Attachment
	var created int64
	err := row.Scan(&a.ID, &a.ProjectID, &a.VolumeID, &a.SnapshotID, &a.InstanceID, &a.ExportName, &a.ReadOnly, &a.State, &created)
	a.Created = fromTS(created)
	return a, err
}

func insertAttachment(ctx context.Context, x execer, a volume.Attachment) error {
	_, err := x.ExecContext(ctx, `INSERT INTO attachments (`+attachmentCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		a.ID, a.ProjectID, a.VolumeID, a.SnapshotID, a.InstanceID, a.ExportName, a.ReadOnly, a.State, ts(a.Created))
	return mapErr(err)
}

func insertEvent(ctx context.Context, x execer, e volume.Event) error {
	detail := e.Detail
	if detail == nil {
		detail = map[string]any{}
	}
	_, err := x.ExecContext(ctx, `INSERT INTO events (id, project_id, user_id, action, resource_type, resource_id, detail, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.ID, nullStr(e.ProjectID), e.UserID, e.Action, e.ResourceType, e.ResourceID,
		jsonText(detail), ts(e.Created))
	return mapErr(err)
}

// in appends "col IN (?, ?, …)".
func (q *query) in(col string, vals []string) *query {
	q.add(col + " IN (")
	for i, v := range vals {
		if i > 0 {
			q.add(", ")
		}
		q.add("?", v)
	}
	return q.add(")")
}

func statusStrings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

var errChanged = errs.E(errs.Conflict, "the resource changed state concurrently; reload it and try again")

func execOne(ctx context.Context, tx *sql.Tx, q *query) error {
	res, err := tx.ExecContext(ctx, q.String(), q.args...)
	if err != nil {
		return mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return errChanged
	}
	return nil
}

// execWithEvent runs a one-row change and records its audit event in the
// same transaction, so the log never shows a change that did not happen.
func execWithEvent(ctx context.Context, tx *sql.Tx, q *query, e volume.Event) error {
	if err := execOne(ctx, tx, q); err != nil {
		return err
	}
	return insertEvent(ctx, tx, e)
}

// Apply records an intent: every step below runs in one transaction, so an
// intent either happened whole (status, rows, reservation, job, event) or
// not at all.
func (s *Store) Apply(ctx context.Context, in volume.Intent) error {
	at := in.At
	if at.IsZero() {
		at = time.Now()
	}
	now := ts(at)
	return s.tx(ctx, func(tx *sql.Tx) error {
		if in.VolumeID != "" {
			// A resize records its level change here, exactly when it
			// commits, not at the next sample.
			var resized *metering.Resource
			if in.NewSize > 0 {
				var err error
				if resized, err = meteredVolume(ctx, tx, in.VolumeID); err != nil {
					return err
				}
			}
			q := new(query).add("UPDATE volumes SET updated_at = ?", now)
			if in.To != "" {
				q.add(", status = ?, error = ''", string(in.To))
			}
			if in.NewSize > 0 {
				q.add(", size_bytes = ?", in.NewSize)
			}
			q.add(" WHERE id = ? AND ", in.VolumeID).in("status", statusStrings(in.From))
			if err := execOne(ctx, tx, q); err != nil {
				return err
			}
			if r := resized; r != nil {
				if err := s.meterLevel(ctx, tx, r.Ref, metering.VolumeProvisioned, r.Levels[metering.VolumeProvisioned], in.NewSize, r.Created, at); err != nil {
					return err
				}
			}
			// Deleting, growing or reverting the source would change what
			// a pending copy's job reads.
			if in.To == volume.Deleting || in.To == volume.Resizing || in.To == volume.Restoring {
				if err := noPendingCopies(ctx, tx, "volume", in.VolumeID); err != nil {
					return err
				}
			}
		}
		if in.SnapshotID != "" {
			q := new(query).add("UPDATE snapshots SET updated_at = ?", now)
			if in.SnapTo != "" {
				q.add(", status = ?", string(in.SnapTo))
			}
			q.add(" WHERE id = ? AND ", in.SnapshotID).in("status", statusStrings(in.SnapFrom))
			if err := execOne(ctx, tx, q); err != nil {
				return err
			}
			if in.SnapTo == volume.SnapDeleting {
				if err := noPendingCopies(ctx, tx, "snapshot", in.SnapshotID); err != nil {
					return err
				}
			}
			if in.RestoredTo != "" {
				if err := addRestoration(ctx, tx, in.SnapshotID, in.RestoredTo); err != nil {
					return err
				}
			}
		}
		if v := in.NewVolume; v != nil {
			if err := insertVolume(ctx, tx, *v); err != nil {
				return err
			}
		}
		if u := in.NewUpload; u != nil {
			if _, err := tx.ExecContext(ctx, "INSERT INTO volume_uploads (volume_id, total, received, updated_at) VALUES ($1, $2, $3, $4)",
				u.VolumeID, u.Total, jsonText(rangesDoc(u.Received)), now); err != nil {
				return mapErr(err)
			}
		}
		if sn := in.NewSnapshot; sn != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO snapshots (`+snapshotCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
				sn.ID, sn.ProjectID, sn.VolumeID, sn.Name, sn.Description, sn.Size, string(sn.Status), sn.BackendID, tsPtr(sn.KeptUntil),
				jsonText(sn.Restorations), sn.ExclusiveBytes, ts(sn.Created), ts(sn.Updated), jsonText(sn.Metadata), sn.Public)
			if err != nil {
				return mapErr(err)
			}
		}
		if a := in.NewAttachment; a != nil {
			if err := insertAttachment(ctx, tx, *a); err != nil {
				return err
			}
		}
		if in.DetachID != "" {
			q := new(query).add("UPDATE attachments SET state = 'detaching' WHERE id = ? AND state = 'attached'", in.DetachID)
			if err := execOne(ctx, tx, q); err != nil {
				return err
			}
		}
		if in.Reserve != (volume.Usage{}) {
			if err := reserve(ctx, tx, in.ProjectID, in.Reserve); err != nil {
				return err
			}
		}
		if in.Job != nil {
			if err := insertJob(ctx, tx, *in.Job); err != nil {
				return err
			}
		}
		if in.Event != nil {
			return insertEvent(ctx, tx, *in.Event)
		}
		return nil
	})
}

// noPendingCopies refuses to change a source whose clones or snapshots
// are still being made: their jobs read the source's data and size. It runs after
// the caller's UPDATE of the source row, whose lock orders it against the
// intents that start such copies (they update the same row).
func noPendingCopies(ctx context.Context, tx *sql.Tx, kind, id string) error {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM volumes WHERE source_type = $1 AND source_id = $2 AND status = 'cloning')
		+ (SELECT COUNT(*) FROM snapshots WHERE volume_id = $2 AND status = 'creating' AND $1 = 'volume')`, kind, id).Scan(&n)
	if err != nil {
		return mapErr(err)
	}
	if n > 0 {
		return errs.E(errs.Conflict, "%s %s is the source of %d clones or snapshots still being made; try again when they are done", kind, id, n)
	}
	return nil
}

func addRestoration(ctx context.Context, tx *sql.Tx, snapshotID, volumeID string) error {
	var rest string
	if err := tx.QueryRowContext(ctx, "SELECT restorations FROM snapshots WHERE id = $1", snapshotID).Scan(&rest); err != nil {
		return notFound(err, "snapshot", snapshotID)
	}
	var ids []string
	if err := json.Unmarshal([]byte(rest), &ids); err != nil {
		return fmt.Errorf("snapshot %s restorations: %w", snapshotID, err)
	}
	_, err := tx.ExecContext(ctx, "UPDATE snapshots SET restorations = $1 WHERE id = $2", jsonText(append(ids, volumeID)), snapshotID)
	return mapErr(err)
}

// reserve adds d to the project's usage and fails with errs.Quota when a
// growing counter passes its limit. The UPDATE takes the usage row's lock,
// so concurrent reservations of one project queue behind each other and
// each sees the counters the previous one left.
func reserve(ctx context.Context, tx *sql.Tx, projectID string, d volume.Usage) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO volume_usage (project_id) VALUES ($1) ON CONFLICT (project_id) DO NOTHING", projectID); err != nil {
		return mapErr(err)
	}
	var u volume.Usage
	err := tx.QueryRowContext(ctx, `UPDATE volume_usage SET storage_bytes = storage_bytes + $1, volumes = volumes + $2,
		snapshots = snapshots + $3 WHERE project_id = $4 RETURNING storage_bytes, volumes, snapshots`,
		d.StorageBytes, d.Volumes, d.Snapshots, projectID).Scan(&u.StorageBytes, &u.Volumes, &u.Snapshots)
	if err != nil {
		return mapErr(err)
	}
	var lb, lv, ls sql.NullInt64
	err = tx.QueryRowContext(ctx, "SELECT storage_bytes, volumes, snapshots FROM volume_quotas WHERE project_id = $1", projectID).
		Scan(&lb, &lv, &ls)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return mapErr(err)
	}
	check := func(what string, delta, now int64, lim sql.NullInt64, format func(int64) string) error {
		if delta > 0 && lim.Valid && now > lim.Int64 {
			return errs.E(errs.Quota, "project quota exceeded: %s would be %s, the limit is %s", what, format(now), format(lim.Int64))
		}
		return nil
	}
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	// The storage quota covers the project's objects and multipart parts
	// too.
	objects, err := projectObjectBytes(ctx, tx, projectID)
	if err != nil {
		return err
	}
	if err := check("storage", d.StorageBytes, u.StorageBytes+objects, lb, bytesize.Format); err != nil {
		return err
	}
	if err := check("volumes", d.Volumes, u.Volumes, lv, count); err != nil {
		return err
	}
	return check("snapshots", d.Snapshots, u.Snapshots, ls, count)
}

// projectObjectBytes is the bytes held in a project's live buckets,
// multipart parts included.
func projectObjectBytes(ctx context.Context, q rowQuerier, projectID string) (int64, error) {
	return bucketUsage(ctx, q, "project_id", projectID)
}

func (s *Store) attachmentsOf(ctx context.Context, vols []volume.Volume) error {
	if len(vols) == 0 {
		return nil
	}
	ids := make([]string, len(vols))
	at := map[string]int{}
	for i, v := range vols {
		ids[i] = v.ID
		at[v.ID] = i
	}
	q := new(query).add("SELECT "+attachmentCols+" FROM attachments WHERE snapshot_id = '' AND ").in("volume_id", ids).add(" ORDER BY id")
	as, err := collect(ctx, s.r, q, scanAttachment)
	if err != nil {
		return err
	}
	for _, a := range as {
		v := &vols[at[a.VolumeID]]
		v.Attachments = append(v.Attachments, a)
	}
	return nil
}

func (s *Store) GetVolume(ctx context.Context, sc access.Scope, id string) (volume.Volume, error) {
	q := new(query).add("SELECT "+volumeCols+" FROM volumes WHERE id = ? AND ", id).visibleProjects("project_id", sc)
	v, err := scanVolume(s.r.QueryRowContext(ctx, q.String(), q.args...))
	if err != nil {
		return v, notFound(err, "volume", id)
	}
	vs := []volume.Volume{v}
	if err := s.attachmentsOf(ctx, vs); err != nil {
		return volume.Volume{}, err
	}
	return vs[0], nil
}

// likeEscape makes s match literally inside a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (s *Store) ListVolumes(ctx context.Context, sc access.Scope, f volume.Filter, r page.Request) ([]volume.Volume, error) {
	q := new(query).add("SELECT "+volumeCols+" FROM volumes WHERE id > ? AND ", r.After).visibleProjects("project_id", sc)
	if f.ProjectID != "" {
		q.add(" AND project_id = ?", f.ProjectID)
	}
	if f.Name != "" {
		q.add(" AND name = ?", f.Name)
	}
	if f.NameContains != "" {
		q.add(` AND LOWER(name) LIKE ? ESCAPE '\'`, "%"+likeEscape(strings.ToLower(f.NameContains))+"%")
	}
	if f.Status != "" {
		q.add(" AND status = ?", string(f.Status))
	}
	if f.Type != "" {
		q.add(" AND type = ?", f.Type)
	}
	if f.Zone != "" {
		q.add(" AND zone = ?", f.Zone)
	}
	if f.InstanceID != "" {
		q.add(" AND id IN (SELECT volume_id FROM attachments WHERE instance_id = ?)", f.InstanceID)
	}
	if f.Tag != "" {
		// Tags are a JSON array; a JSON-quoted tag can only match a whole
		// element.
		q.add(` AND tags LIKE ? ESCAPE '\'`, "%"+likeEscape(jsonText(f.Tag))+"%")
	}
	q.add(" ORDER BY id LIMIT ?", r.Limit)
	vs, err := collect(ctx, s.r, q, scanVolume)
	if err != nil {
		return nil, err
	}
	return vs, s.attachmentsOf(ctx, vs)
}

func (s *Store) UpdateVolume(ctx context.Context, v volume.Volume, allowed []volume.Status, e volume.Event) error {
	q := new(query).add(`UPDATE volumes SET name = ?, description = ?, bootable = ?, media = ?, multiattach = ?, metadata = ?, tags = ?,
		type = ?, updated_at = ? WHERE id = ?`, v.Name, v.Description, v.Bootable, v.Media, v.MultiAttach, jsonText(v.Metadata),
		jsonText(v.Tags), v.Type, ts(v.Updated), v.ID)
	if len(allowed) > 0 {
		q.add(" AND ").in("status", statusStrings(allowed))
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return execWithEvent(ctx, tx, q, e) })
}

func (s *Store) SetVolumeStatus(ctx context.Context, id string, from []volume.Status, to volume.Status, errMsg string) error {
	q := new(query).add("UPDATE volumes SET status = ?, error = ?, updated_at = ? WHERE id = ?", string(to), errMsg, ts(time.Now()), id)
	if len(from) > 0 {
		q.add(" AND ").in("status", statusStrings(from))
	}
	err := s.tx(ctx, func(tx *sql.Tx) error { return execOne(ctx, tx, q) })
	if err != nil && len(from) == 0 {
		return nil // the volume is gone; nothing to mark
	}
	return err
}

func (s *Store) SetVolumeBackend(ctx context.Context, id, backendID string, size int64) error {
	q := new(query).add("UPDATE volumes SET backend_id = ?, size_bytes = ?, status = 'available', updated_at = ? WHERE id = ? AND status = 'restoring'",
		backendID, size, ts(time.Now()), id)
	return s.tx(ctx, func(tx *sql.Tx) error { return execOne(ctx, tx, q) })
}

func (s *Store) CompleteAttach(ctx context.Context, attachmentID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var volID string
		err := tx.QueryRowContext(ctx, "UPDATE attachments SET state = 'attached' WHERE id = $1 RETURNING volume_id", attachmentID).Scan(&volID)
		if err != nil {
			return notFound(err, "attachment", attachmentID)
		}
		_, err = tx.ExecContext(ctx, "UPDATE volumes SET status = 'in_use', updated_at = $1 WHERE id = $2 AND status = 'attaching'",
			ts(time.Now()), volID)
		return mapErr(err)
	})
}

func (s *Store) CompleteDetach(ctx context.Context, volumeID, attachmentID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM attachments WHERE id = $1", attachmentID); err != nil {
			return mapErr(err)
		}
		var n int
		err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM attachments WHERE volume_id = $1 AND snapshot_id = '' AND state = 'attached'",
			volumeID).Scan(&n)
		if err != nil {
			return mapErr(err)
		}
		to := volume.Available
		if n > 0 {
			to = volume.InUse
		}
		_, err = tx.ExecContext(ctx, "UPDATE volumes SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'detaching'",
			string(to), ts(time.Now()), volumeID)
		return mapErr(err)
	})
}

func (s *Store) RemoveVolume(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var project string
		var size int64
		err := tx.QueryRowContext(ctx, "SELECT project_id, size_bytes FROM volumes WHERE id = $1", id).Scan(&project, &size)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM attachments WHERE volume_id = $1 AND snapshot_id = ''", id); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM volume_uploads WHERE volume_id = $1", id); err != nil {
			return mapErr(err)
		}
		if err := meterEnd(ctx, tx, "volume", id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM volumes WHERE id = $1", id); err != nil {
			return mapErr(err)
		}
		return reserve(ctx, tx, project, volume.Usage{StorageBytes: -size, Volumes: -1})
	})
}

func (s *Store) ListAttachments(ctx context.Context, volumeID, snapshotID string) ([]volume.Attachment, error) {
	q := new(query).add("SELECT " + attachmentCols + " FROM attachments WHERE ")
	if snapshotID != "" {
		q.add("snapshot_id = ?", snapshotID)
	} else {
		q.add("volume_id = ? AND snapshot_id = ''", volumeID)
	}
	q.add(" ORDER BY id")
	as, err := collect(ctx, s.r, q, scanAttachment)
	if as == nil {
		as = []volume.Attachment{}
	}
	return as, err
}

func (s *Store) CreateExport(ctx context.Context, a volume.Attachment, e volume.Event) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := insertAttachment(ctx, tx, a); err != nil {
			return err
		}
		return insertEvent(ctx, tx, e)
	})
}

func (s *Store) RemoveAttachment(ctx context.Context, id string, e *volume.Event) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM attachments WHERE id = $1", id); err != nil {
			return mapErr(err)
		}
		if e != nil {
			return insertEvent(ctx, tx, *e)
		}
		return nil
	})
}

// ExportByName resolves only attachments in state attached, of volumes
// whose status keeps exports up, or of available snapshots.
func (s *Store) ExportByName(ctx context.Context, name string) (volume.Export, error) {
	e := volume.Export{Name: name}
	var meta string
	var addrs sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT v.id, v.backend_id, v.type, v.metadata, i.addresses FROM attachments a
		JOIN volumes v ON v.id = a.volume_id LEFT JOIN instances i ON i.id = a.instance_id
		WHERE a.export_name = $1 AND a.snapshot_id = '' AND a.state = 'attached'
		AND v.status IN ('in_use', 'attaching', 'detaching', 'resizing')`, name).Scan(&e.ResourceID, &e.BackendID, &e.Type, &meta, &addrs)
	if err == nil {
		if err := json.Unmarshal([]byte(meta), &e.Metadata); err != nil {
			return volume.Export{}, fmt.Errorf("export %s metadata: %w", name, err)
		}
		if addrs.Valid {
			if err := json.Unmarshal([]byte(addrs.String), &e.Clients); err != nil {
				return volume.Export{}, fmt.Errorf("export %s addresses: %w", name, err)
			}
		}
		return e, nil
	}
	if err != sql.ErrNoRows {
		return e, mapErr(err)
	}
	e.ReadOnly = true
	err = s.r.QueryRowContext(ctx, `SELECT s.id, s.backend_id FROM attachments a JOIN snapshots s ON s.id = a.snapshot_id
		WHERE a.export_name = $1 AND a.state = 'attached' AND s.status = 'available'`, name).Scan(&e.ResourceID, &e.BackendID)
	if err != nil {
		return volume.Export{}, notFound(err, "export", name)
	}
	return e, nil
}

func (s *Store) GetSnapshot(ctx context.Context, sc access.Scope, id string) (volume.Snapshot, error) {
	q := new(query).add("SELECT "+snapshotCols+" FROM snapshots WHERE id = ? AND ", id).visibleProjects("project_id", sc)
	sn, err := scanSnapshot(s.r.QueryRowContext(ctx, q.String(), q.args...))
	if err != nil {
		return sn, notFound(err, "snapshot", id)
	}
	return sn, nil
}

func (s *Store) ListSnapshots(ctx context.Context, sc access.Scope, f volume.SnapshotFilter, r page.Request) ([]volume.Snapshot, error) {
	q := new(query).add("SELECT "+snapshotCols+" FROM snapshots WHERE id > ? AND ", r.After).visibleProjects("project_id", sc)
	if f.ProjectID != "" {
		q.add(" AND project_id = ?", f.ProjectID)
	}
	if f.VolumeID != "" {
		q.add(" AND volume_id = ?", f.VolumeID)
	}
	if f.Name != "" {
		q.add(" AND name = ?", f.Name)
	}
	if f.Status != "" {
		q.add(" AND status = ?", string(f.Status))
	}
	if f.Public != nil {
		q.add(" AND public = ?", *f.Public)
	}
	q.add(" ORDER BY id LIMIT ?", r.Limit)
	return collect(ctx, s.r, q, scanSnapshot)
}

func (s *Store) UpdateSnapshot(ctx context.Context, sn volume.Snapshot, e volume.Event) error {
	q := new(query).add("UPDATE snapshots SET name = ?, description = ?, metadata = ?, kept_until = ?, updated_at = ? WHERE id = ?",
		sn.Name, sn.Description, jsonText(sn.Metadata), tsPtr(sn.KeptUntil), ts(sn.Updated), sn.ID)
	return s.tx(ctx, func(tx *sql.Tx) error { return execWithEvent(ctx, tx, q, e) })
}

func (s *Store) SetSnapshotStatus(ctx context.Context, id string, from []volume.SnapshotStatus, to volume.SnapshotStatus) error {
	q := new(query).add("UPDATE snapshots SET status = ?, updated_at = ? WHERE id = ?", string(to), ts(time.Now()), id)
	if len(from) > 0 {
		q.add(" AND ").in("status", statusStrings(from))
	}
	err := s.tx(ctx, func(tx *sql.Tx) error { return execOne(ctx, tx, q) })
	if err != nil && len(from) == 0 {
		return nil
	}
	return err
}

func (s *Store) RemoveSnapshot(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var project string
		var excl int64
		err := tx.QueryRowContext(ctx, "SELECT project_id, exclusive_bytes FROM snapshots WHERE id = $1", id).Scan(&project, &excl)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM attachments WHERE snapshot_id = $1", id); err != nil {
			return mapErr(err)
		}
		if err := meterEnd(ctx, tx, "snapshot", id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM snapshots WHERE id = $1", id); err != nil {
			return mapErr(err)
		}
		return reserve(ctx, tx, project, volume.Usage{Snapshots: -1, StorageBytes: -excl})
	})
}

// SetSnapshotExclusive records a new measurement and moves the project's
// storage usage by the difference. Growth is measured, not requested, so
// it is never refused: a project over its limit only cannot reserve more.
func (s *Store) SetSnapshotExclusive(ctx context.Context, id string, bytes int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var project string
		var old int64
		err := tx.QueryRowContext(ctx, "SELECT project_id, exclusive_bytes FROM snapshots WHERE id = $1", id).Scan(&project, &old)
		if err == sql.ErrNoRows || (err == nil && old == bytes) {
			return nil
		}
		if err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE snapshots SET exclusive_bytes = $1 WHERE id = $2", bytes, id); err != nil {
			return mapErr(err)
		}
		_, err = tx.ExecContext(ctx, "UPDATE volume_usage SET storage_bytes = storage_bytes + $1 WHERE project_id = $2", bytes-old, project)
		return mapErr(err)
	})
}

func (s *Store) ExpiredSnapshots(ctx context.Context, now time.Time, limit int) ([]volume.Snapshot, error) {
	q := new(query).add(`SELECT `+snapshotCols+` FROM snapshots WHERE kept_until IS NOT NULL AND kept_until <= ?
		AND status IN ('available', 'error') ORDER BY kept_until LIMIT ?`, ts(now), limit)
	return collect(ctx, s.r, q, scanSnapshot)
}

const instanceCols = "id, project_id, name, description, power_state, addresses, created_at, updated_at"

func scanInstance(row rowScanner) (volume.Instance, error) {
	var in volume.Instance
	var addrs string
	var created, updated int64
	if err := row.Scan(&in.ID, &in.ProjectID, &in.Name, &in.Description, &in.PowerState, &addrs, &created, &updated); err != nil {
		return in, err
	}
	in.Created, in.Updated = fromTS(created), fromTS(updated)
	if err := json.Unmarshal([]byte(addrs), &in.Addresses); err != nil {
		return in, fmt.Errorf("instance %s addresses: %w", in.ID, err)
	}
	return in, nil
}

func (s *Store) CreateInstance(ctx context.Context, in volume.Instance, e volume.Event) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO instances ("+instanceCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			in.ID, in.ProjectID, in.Name, in.Description, in.PowerState, jsonText(in.Addresses), ts(in.Created), ts(in.Updated))
		if err != nil {
			return mapErr(err)
		}
		return insertEvent(ctx, tx, e)
	})
}

func (s *Store) GetInstance(ctx context.Context, sc access.Scope, id string) (volume.Instance, error) {
	q := new(query).add("SELECT "+instanceCols+" FROM instances WHERE id = ? AND ", id).visibleProjects("project_id", sc)
	in, err := scanInstance(s.r.QueryRowContext(ctx, q.String(), q.args...))
	if err != nil {
		return in, notFound(err, "instance", id)
	}
	return in, nil
}

func (s *Store) ListInstances(ctx context.Context, sc access.Scope, projectID string, r page.Request) ([]volume.Instance, error) {
	q := new(query).add("SELECT "+instanceCols+" FROM instances WHERE id > ? AND ", r.After).visibleProjects("project_id", sc)
	if projectID != "" {
		q.add(" AND project_id = ?", projectID)
	}
	q.add(" ORDER BY id LIMIT ?", r.Limit)
	return collect(ctx, s.r, q, scanInstance)
}

func (s *Store) UpdateInstance(ctx context.Context, in volume.Instance, e volume.Event) error {
	q := new(query).add("UPDATE instances SET name = ?, description = ?, power_state = ?, updated_at = ? WHERE id = ?",
		in.Name, in.Description, in.PowerState, ts(in.Updated), in.ID)
	return s.tx(ctx, func(tx *sql.Tx) error { return execWithEvent(ctx, tx, q, e) })
}

func (s *Store) DeleteInstance(ctx context.Context, id string, e volume.Event) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM attachments WHERE instance_id = $1", id).Scan(&n); err != nil {
			return mapErr(err)
		}
		if n > 0 {
			return errs.E(errs.Conflict, "instance %s has %d volume(s) attached; detach them first", id, n)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM instances WHERE id = $1", id); err != nil {
			return mapErr(err)
		}
		return insertEvent(ctx, tx, e)
	})
}

func nullInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func intPtr(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

func (s *Store) GetQuota(ctx context.Context, projectID string) (volume.Limits, volume.Usage, error) {
	var l volume.Limits
	var u volume.Usage
	var lb, lv, ls sql.NullInt64
	err := s.r.QueryRowContext(ctx, "SELECT storage_bytes, volumes, snapshots FROM volume_quotas WHERE project_id = $1", projectID).
		Scan(&lb, &lv, &ls)
	if err != nil && err != sql.ErrNoRows {
		return l, u, mapErr(err)
	}
	l = volume.Limits{StorageBytes: intPtr(lb), Volumes: intPtr(lv), Snapshots: intPtr(ls)}
	err = s.r.QueryRowContext(ctx, "SELECT storage_bytes, volumes, snapshots FROM volume_usage WHERE project_id = $1", projectID).
		Scan(&u.StorageBytes, &u.Volumes, &u.Snapshots)
	if err != nil && err != sql.ErrNoRows {
		return l, u, mapErr(err)
	}
	objects, err := projectObjectBytes(ctx, s.r, projectID)
	u.StorageBytes += objects
	return l, u, err
}

func (s *Store) SetQuota(ctx context.Context, projectID string, l volume.Limits, e volume.Event) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO volume_quotas (project_id, storage_bytes, volumes, snapshots) VALUES ($1, $2, $3, $4)
			ON CONFLICT (project_id) DO UPDATE SET storage_bytes = $2, volumes = $3, snapshots = $4`,
			projectID, nullInt(l.StorageBytes), nullInt(l.Volumes), nullInt(l.Snapshots))
		if err != nil {
			return mapErr(err)
		}
		return insertEvent(ctx, tx, e)
	})
}

func scanEvent(row rowScanner) (volume.Event, error) {
	var e volume.Event
	var project sql.NullString
	var detail string
	var created int64
	err := row.Scan(&e.ID, &project, &e.UserID, &e.Action, &e.ResourceType, &e.ResourceID, &detail, &created)
	if err != nil {
		return e, err
	}
	e.ProjectID, e.Created = project.String, fromTS(created)
	if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
		return e, fmt.Errorf("event %s detail: %w", e.ID, err)
	}
	return e, nil
}

func (s *Store) ListEvents(ctx context.Context, sc access.Scope, f volume.EventFilter, r page.Request) ([]volume.Event, error) {
	q := new(query).add("SELECT id, project_id, user_id, action, resource_type, resource_id, detail, created_at FROM events WHERE id > ? AND ",
		r.After).jobVisible(sc)
	if f.ProjectID != "" {
		q.add(" AND project_id = ?", f.ProjectID)
	}
	if f.ResourceType != "" {
		q.add(" AND resource_type = ?", f.ResourceType)
	}
	if f.ResourceID != "" {
		q.add(" AND resource_id = ?", f.ResourceID)
	}
	if f.Action != "" {
		q.add(" AND action = ?", f.Action)
	}
	q.add(" ORDER BY id LIMIT ?", r.Limit)
	return collect(ctx, s.r, q, scanEvent)
}
