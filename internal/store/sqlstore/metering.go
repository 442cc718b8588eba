package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/core/volume"
)

// The meter's clock and epoch live in meter_levels under a key no
// resource has: level is the epoch, at the last sample.
const meterClock = "clock"

func unix(t time.Time) int64     { return t.Unix() }
func fromUnix(v int64) time.Time { return time.Unix(v, 0).UTC() }

// MeterResources lists every volume and snapshot, and every bucket live or
// deleted after since. A volume or snapshot being deleted ended when its
// deletion was asked for (its last update); one that failed holds nothing.
func (s *Store) MeterResources(ctx context.Context, since time.Time) ([]metering.Resource, error) {
	var out []metering.Resource
	for _, k := range []struct{ typ, component, query string }{
		{metering.TypeVolume, metering.VolumeProvisioned,
			`SELECT id, project_id, '', created_at, updated_at, backend_id, type, size_bytes, status FROM volumes`},
		{metering.TypeSnapshot, metering.SnapshotBytes,
			`SELECT id, project_id, volume_id, created_at, updated_at, backend_id, '', exclusive_bytes, status FROM snapshots`},
	} {
		rows, err := s.r.QueryContext(ctx, k.query)
		if err != nil {
			return nil, mapErr(err)
		}
		for rows.Next() {
			r := metering.Resource{Ref: metering.Ref{Type: k.typ}}
			var created, updated, level int64
			var status string
			if err := rows.Scan(&r.ID, &r.ProjectID, &r.ParentID, &created, &updated, &r.BackendID, &r.VolumeType, &level, &status); err != nil {
				rows.Close()
				return nil, mapErr(err)
			}
			r.Created = fromTS(created)
			// Volumes and snapshots spell these two states alike.
			switch status {
			case string(volume.Deleting):
				r.Ended = fromTS(updated)
			case string(volume.Error):
				level = 0
			}
			r.Levels = map[string]int64{k.component: level}
			out = append(out, r)
		}
		if err := closeRows(rows); err != nil {
			return nil, err
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, project_id, service_id, created_at, deleted_at, object_bytes, object_count FROM buckets
		WHERE deleted_at IS NULL OR deleted_at > $1`, ts(since))
	if err != nil {
		return nil, mapErr(err)
	}
	for rows.Next() {
		var r metering.Resource
		var created, bytes, count int64
		var deleted sql.NullInt64
		if err := rows.Scan(&r.ID, &r.ProjectID, &r.ParentID, &created, &deleted, &bytes, &count); err != nil {
			rows.Close()
			return nil, mapErr(err)
		}
		r.Type, r.Created = metering.TypeBucket, fromTS(created)
		if deleted.Valid {
			r.Ended = fromTS(deleted.Int64)
		}
		r.Levels = map[string]int64{metering.ObjectBytes: bytes, metering.ObjectCount: count}
		out = append(out, r)
	}
	return out, closeRows(rows)
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return mapErr(err)
}

// MeterState returns the open levels and the meter's clock and epoch.
func (s *Store) MeterState(ctx context.Context) ([]metering.Open, time.Time, time.Time, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT resource_type, resource_id, component, project_id, parent_id, level, at FROM meter_levels`)
	if err != nil {
		return nil, time.Time{}, time.Time{}, mapErr(err)
	}
	var out []metering.Open
	var clock, epoch time.Time
	for rows.Next() {
		var o metering.Open
		var at int64
		if err := rows.Scan(&o.Type, &o.ID, &o.Component, &o.ProjectID, &o.ParentID, &o.Level, &at); err != nil {
			rows.Close()
			return nil, time.Time{}, time.Time{}, mapErr(err)
		}
		if o.Type == "" && o.Component == meterClock {
			clock, epoch = fromUnix(at), fromUnix(o.Level)
			continue
		}
		o.At = fromUnix(at)
		out = append(out, o)
	}
	return out, clock, epoch, closeRows(rows)
}

// MeterEnds lists the deleted volumes and snapshots not yet consumed.
func (s *Store) MeterEnds(ctx context.Context) ([]metering.Ended, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT resource_type, resource_id, component, project_id, parent_id, level, created_at, ended_at
		FROM meter_ends ORDER BY resource_type, resource_id, component`)
	if err != nil {
		return nil, mapErr(err)
	}
	var out []metering.Ended
	for rows.Next() {
		var e metering.Ended
		var comp string
		var level, created, ended int64
		if err := rows.Scan(&e.Type, &e.ID, &comp, &e.ProjectID, &e.ParentID, &level, &created, &ended); err != nil {
			rows.Close()
			return nil, mapErr(err)
		}
		if n := len(out); n > 0 && out[n-1].Type == e.Type && out[n-1].ID == e.ID {
			out[n-1].Levels[comp] = level
			continue
		}
		e.Created, e.Ended, e.Levels = fromUnix(created), fromUnix(ended), map[string]int64{comp: level}
		out = append(out, e)
	}
	return out, closeRows(rows)
}

// ApplyMeterTick writes one sample in one transaction. A level whose open
// one is no longer what the sample read (a resize recorded its change
// meanwhile) is left as it is, with its rows: the next sample goes on from
// there.
func (s *Store) ApplyMeterTick(ctx context.Context, t metering.Tick) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := prepareLevelRows(ctx, tx)
		if err != nil {
			return err
		}
		defer rows.close()
		moved, err := tx.PrepareContext(ctx, `UPDATE meter_levels SET project_id = $1, parent_id = $2, level = $3, at = $4
			WHERE resource_type = $5 AND resource_id = $6 AND component = $7 AND level = $8 AND at = $9`)
		if err != nil {
			return err
		}
		defer moved.Close()
		opened, err := tx.PrepareContext(ctx, `INSERT INTO meter_levels (resource_type, resource_id, component, project_id, parent_id, level, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (resource_type, resource_id, component) DO NOTHING`)
		if err != nil {
			return err
		}
		defer opened.Close()
		stale := map[metering.Key]bool{}
		for _, o := range t.Levels {
			var res sql.Result
			if r := o.Read; r != nil {
				res, err = moved.ExecContext(ctx, o.ProjectID, o.ParentID, o.Level, unix(o.At), o.Type, o.ID, o.Component, r.Level, unix(r.At))
			} else {
				res, err = opened.ExecContext(ctx, o.Type, o.ID, o.Component, o.ProjectID, o.ParentID, o.Level, unix(o.At))
			}
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				stale[o.Key()] = true
			}
		}
		for _, r := range t.Rows {
			if !stale[metering.Key{Type: r.Type, ID: r.ID, Component: r.Component}] {
				if err := rows.add(ctx, r); err != nil {
					return err
				}
			}
		}
		for _, k := range t.Closed {
			if _, err := tx.ExecContext(ctx, `DELETE FROM meter_levels WHERE resource_type = $1 AND resource_id = $2 AND component = $3`,
				k.Type, k.ID, k.Component); err != nil {
				return err
			}
		}
		for _, e := range t.Ends {
			if _, err := tx.ExecContext(ctx, `DELETE FROM meter_ends WHERE resource_type = $1 AND resource_id = $2`, e.Type, e.ID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO meter_levels (resource_type, resource_id, component, project_id, parent_id, level, at)
			VALUES ('', '', $1, '', '', $2, $2) ON CONFLICT (resource_type, resource_id, component) DO UPDATE SET at = excluded.at`,
			meterClock, unix(t.At))
		return err
	})
}

// levelRows writes intervals of constant level: one that starts where a
// row of the same level ends extends it, so that a level that never
// changes stays one row.
type levelRows struct{ extend, insert *sql.Stmt }

func prepareLevelRows(ctx context.Context, tx *sql.Tx) (*levelRows, error) {
	extend, err := tx.PrepareContext(ctx, `UPDATE usage_rows SET to_ts = $1
		WHERE resource_type = $2 AND resource_id = $3 AND component = $4 AND to_ts = $5 AND level = $6`)
	if err != nil {
		return nil, err
	}
	insert, err := tx.PrepareContext(ctx, `INSERT INTO usage_rows
		(resource_type, resource_id, component, from_ts, to_ts, project_id, parent_id, level, amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)`)
	if err != nil {
		extend.Close()
		return nil, err
	}
	return &levelRows{extend, insert}, nil
}

func (l *levelRows) close() {
	l.extend.Close()
	l.insert.Close()
}

func (l *levelRows) add(ctx context.Context, r metering.Row) error {
	res, err := l.extend.ExecContext(ctx, unix(r.To), r.Type, r.ID, r.Component, unix(r.From), r.Level)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = l.insert.ExecContext(ctx, r.Type, r.ID, r.Component, unix(r.From), unix(r.To), r.ProjectID, r.ParentID, r.Level)
	return err
}

// meteredVolume is a volume as the meter sees it, with the bytes it is
// provisioned (none in error, as the sampler counts it).
func meteredVolume(ctx context.Context, tx *sql.Tx, id string) (*metering.Resource, error) {
	r := metering.Resource{Ref: metering.Ref{Type: metering.TypeVolume, ID: id}}
	var created, size int64
	var status string
	err := tx.QueryRowContext(ctx, "SELECT project_id, created_at, size_bytes, status FROM volumes WHERE id = $1", id).
		Scan(&r.ProjectID, &created, &size, &status)
	if err != nil {
		return nil, notFound(err, "volume", id)
	}
	if status == string(volume.Error) {
		size = 0
	}
	r.Created, r.Levels = fromTS(created), map[string]int64{metering.VolumeProvisioned: size}
	return &r, nil
}

// meterLevel records, in the transaction that commits a resource's new
// level, the end of the old level's interval and the start of the new
// one, so that usage changes when the level does, not at the next sample.
// from is when the resource began to hold old, for one no sample has seen
// yet. Before metering's first sample there is nothing to close: the first
// sample opens every level. On PostgreSQL the open level is locked, so a
// sample that read it before fails its own write of it (see ApplyMeterTick).
func (s *Store) meterLevel(ctx context.Context, tx *sql.Tx, ref metering.Ref, comp string, old, level int64, from, at time.Time) error {
	lock := ""
	if s.engine == Postgres {
		lock = " FOR UPDATE"
	}
	var epoch int64
	err := tx.QueryRowContext(ctx, `SELECT level FROM meter_levels WHERE resource_type = '' AND resource_id = '' AND component = $1`,
		meterClock).Scan(&epoch)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return mapErr(err)
	}
	// Twice at most: a sample may open the level between our read and our
	// insert; then it is there to close.
	start := from.UTC().Truncate(time.Second)
	if e := fromUnix(epoch); e.After(start) {
		start = e
	}
	for range 2 {
		o := metering.Open{Ref: ref, Component: comp, Level: old, At: start}
		var at0 int64
		err := tx.QueryRowContext(ctx, `SELECT level, at FROM meter_levels WHERE resource_type = $1 AND resource_id = $2 AND component = $3`+lock,
			ref.Type, ref.ID, comp).Scan(&o.Level, &at0)
		seen := err == nil
		if seen {
			o.At = fromUnix(at0)
		} else if err != sql.ErrNoRows {
			return mapErr(err)
		}
		end := at.UTC().Truncate(time.Second)
		if end.Before(o.At) {
			end = o.At
		}
		if seen {
			if _, err := tx.ExecContext(ctx, `UPDATE meter_levels SET level = $1, at = $2 WHERE resource_type = $3 AND resource_id = $4 AND component = $5`,
				level, unix(end), ref.Type, ref.ID, comp); err != nil {
				return mapErr(err)
			}
		} else {
			res, err := tx.ExecContext(ctx, `INSERT INTO meter_levels (resource_type, resource_id, component, project_id, parent_id, level, at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (resource_type, resource_id, component) DO NOTHING`,
				ref.Type, ref.ID, comp, ref.ProjectID, ref.ParentID, level, unix(end))
			if err != nil {
				return mapErr(err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return mapErr(err)
			} else if n == 0 {
				continue
			}
		}
		if !end.After(o.At) {
			return nil
		}
		rows, err := prepareLevelRows(ctx, tx)
		if err != nil {
			return mapErr(err)
		}
		defer rows.close()
		return mapErr(rows.add(ctx, metering.Row{Ref: ref, Component: comp, From: o.At, To: end, Level: o.Level}))
	}
	return fmt.Errorf("meter level of %s %s: opened and gone again", ref.Type, ref.ID)
}

// AddMeterCounts adds counter amounts to their hourly rows.
func (s *Store) AddMeterCounts(ctx context.Context, rows []metering.Row) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO usage_rows
			(resource_type, resource_id, component, from_ts, to_ts, project_id, parent_id, level, amount) VALUES ($1, $2, $3, $4, $5, $6, $7, -1, $8)
			ON CONFLICT (resource_type, resource_id, component, from_ts) DO UPDATE SET amount = usage_rows.amount + excluded.amount`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range rows {
			if _, err := st.ExecContext(ctx, r.Type, r.ID, r.Component, unix(r.From), unix(r.To), r.ProjectID, r.ParentID, r.Amount); err != nil {
				return err
			}
		}
		return nil
	})
}

// chunk bounds the placeholders of one IN list.
const chunk = 500

// MeterRefs resolves bucket names or volume IDs.
func (s *Store) MeterRefs(ctx context.Context, typ string, keys []string) (map[string]metering.Ref, error) {
	out := map[string]metering.Ref{}
	for len(keys) > 0 {
		n := min(len(keys), chunk)
		var q *query
		switch typ {
		case metering.TypeBucket:
			q = new(query).add("SELECT name, 'bucket', id, project_id, service_id FROM buckets WHERE deleted_at IS NULL AND ").in("name", keys[:n])
		case metering.TypeVolume: // the resource an export serves: a volume or a snapshot
			q = new(query).add("SELECT id, 'volume', id, project_id, '' FROM volumes WHERE ").in("id", keys[:n]).
				add(" UNION ALL SELECT id, 'snapshot', id, project_id, volume_id FROM snapshots WHERE ").in("id", keys[:n])
		default:
			return nil, fmt.Errorf("meter refs: unknown type %q", typ)
		}
		keys = keys[n:]
		rows, err := s.r.QueryContext(ctx, q.String(), q.args...)
		if err != nil {
			return nil, mapErr(err)
		}
		for rows.Next() {
			var key string
			var r metering.Ref
			if err := rows.Scan(&key, &r.Type, &r.ID, &r.ProjectID, &r.ParentID); err != nil {
				rows.Close()
				return nil, mapErr(err)
			}
			out[key] = r
		}
		if err := closeRows(rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const usageCols = "resource_type, resource_id, component, from_ts, to_ts, project_id, parent_id, level, amount"

func scanUsage(rows *sql.Rows) ([]metering.Row, error) {
	var out []metering.Row
	for rows.Next() {
		var r metering.Row
		var from, to int64
		if err := rows.Scan(&r.Type, &r.ID, &r.Component, &from, &to, &r.ProjectID, &r.ParentID, &r.Level, &r.Amount); err != nil {
			rows.Close()
			return nil, mapErr(err)
		}
		r.From, r.To = fromUnix(from), fromUnix(to)
		out = append(out, r)
	}
	return out, closeRows(rows)
}

// UsageRows returns the rows that overlap [f.From, f.To).
func (s *Store) UsageRows(ctx context.Context, f metering.Filter) ([]metering.Row, error) {
	projects := f.ProjectIDs
	var out []metering.Row
	for {
		q := new(query).add("SELECT "+usageCols+" FROM usage_rows WHERE from_ts < ? AND to_ts > ?", unix(f.To), unix(f.From)).
			eq("component", f.Component)
		if f.ResourceID != "" {
			q.add(" AND (resource_id = ? OR parent_id = ?)", f.ResourceID, f.ResourceID)
		}
		if f.ProjectIDs != nil {
			n := min(len(projects), chunk)
			q.add(" AND ").in("project_id", projects[:n])
			projects = projects[n:]
		}
		q.add(" ORDER BY resource_type, resource_id, component, from_ts")
		rows, err := s.r.QueryContext(ctx, q.String(), q.args...)
		if err != nil {
			return nil, mapErr(err)
		}
		part, err := scanUsage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
		if f.ProjectIDs == nil || len(projects) == 0 {
			return out, nil
		}
	}
}

// FoldUsage merges, per resource, component and period (an hour or a UTC
// day), the rows that start at or after from, lie within their period and
// ended by cutoff into one amount row, in one transaction. A group whose
// usage would overflow an int64 stays as it is.
func (s *Store) FoldUsage(ctx context.Context, from, cutoff time.Time, period time.Duration) (int, error) {
	removed := 0
	p := int64(period / time.Second)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		removed = 0
		rows, err := tx.QueryContext(ctx, `SELECT `+usageCols+` FROM usage_rows
			WHERE from_ts >= $1 AND to_ts <= $2 AND to_ts <= from_ts - (from_ts % $3) + $3
			AND (resource_type, resource_id, component, from_ts - (from_ts % $3)) IN (
				SELECT resource_type, resource_id, component, from_ts - (from_ts % $3) FROM usage_rows
				WHERE from_ts >= $1 AND to_ts <= $2 AND to_ts <= from_ts - (from_ts % $3) + $3
				GROUP BY resource_type, resource_id, component, from_ts - (from_ts % $3) HAVING COUNT(*) > 1)
			ORDER BY resource_type, resource_id, component, from_ts`, unix(from), unix(cutoff), p)
		if err != nil {
			return err
		}
		all, err := scanUsage(rows)
		if err != nil {
			return err
		}
		del, err := tx.PrepareContext(ctx, `DELETE FROM usage_rows WHERE resource_type = $1 AND resource_id = $2 AND component = $3 AND from_ts = $4`)
		if err != nil {
			return err
		}
		defer del.Close()
		for i := 0; i < len(all); {
			g := all[i]
			day := g.From.Truncate(period)
			j := i
			var sum int64
			ok := true
			to := g.To
			for ; j < len(all) && all[j].Type == g.Type && all[j].ID == g.ID && all[j].Component == g.Component &&
				all[j].From.Truncate(period).Equal(day); j++ {
				r := all[j]
				v := r.Amount
				if r.Level >= 0 {
					secs := int64(r.To.Sub(r.From) / time.Second)
					if r.Level > 0 && secs > math.MaxInt64/r.Level {
						ok = false
					}
					v = r.Level * secs
				}
				if sum > math.MaxInt64-v {
					ok = false
				}
				sum += v
				if r.To.After(to) {
					to = r.To
				}
			}
			group := all[i:j]
			i = j
			if !ok {
				continue
			}
			for _, r := range group {
				if _, err := del.ExecContext(ctx, r.Type, r.ID, r.Component, unix(r.From)); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO usage_rows (`+usageCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, -1, $8)`,
				g.Type, g.ID, g.Component, unix(g.From), unix(to), g.ProjectID, g.ParentID, sum); err != nil {
				return err
			}
			removed += len(group) - 1
		}
		return nil
	})
	return removed, err
}

// UsageRowCount counts the usage rows, for sizing the store.
func (s *Store) UsageRowCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM usage_rows").Scan(&n)
	return n, mapErr(err)
}

// meterEnd records, in the transaction that deletes a volume or snapshot
// row, what it held and when its deletion was asked for (its last update),
// for the sampler to close its usage at that time.
func meterEnd(ctx context.Context, tx *sql.Tx, typ, id string) error {
	q := `INSERT INTO meter_ends (resource_type, resource_id, component, project_id, parent_id, level, created_at, ended_at)
		SELECT $1, id, $2, project_id, '', CASE WHEN status = 'error' THEN 0 ELSE size_bytes END, created_at / 1000000, updated_at / 1000000
		FROM volumes WHERE id = $3 ON CONFLICT DO NOTHING`
	comp := metering.VolumeProvisioned
	if typ == metering.TypeSnapshot {
		q = `INSERT INTO meter_ends (resource_type, resource_id, component, project_id, parent_id, level, created_at, ended_at)
			SELECT $1, id, $2, project_id, volume_id, CASE WHEN status = 'error' THEN 0 ELSE exclusive_bytes END, created_at / 1000000, updated_at / 1000000
			FROM snapshots WHERE id = $3 ON CONFLICT DO NOTHING`
		comp = metering.SnapshotBytes
	}
	_, err := tx.ExecContext(ctx, q, typ, comp, id)
	return mapErr(err)
}

// UsageBytes is what the usage rows and their indexes take on disk, for
// sizing the store.
func (s *Store) UsageBytes(ctx context.Context) (int64, error) {
	q := `SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name = 'usage_rows')`
	if s.engine == Postgres {
		q = `SELECT pg_total_relation_size('usage_rows')`
	}
	var n int64
	err := s.r.QueryRowContext(ctx, q).Scan(&n)
	return n, mapErr(err)
}
