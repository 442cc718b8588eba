package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

var _ marketplace.Store = (*Store)(nil)

// jsonText encodes the maps and slices of plain values stored as JSON
// columns, which cannot fail to encode.
func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *Store) PutOffering(ctx context.Context, o marketplace.Offering) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO offerings (id, name, description, kind, type, volume_type, category, state, shared,
			billable, provider_approval, components, created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, state = excluded.state,
			shared = excluded.shared, billable = excluded.billable, provider_approval = excluded.provider_approval,
			components = excluded.components, modified_at = excluded.modified_at`,
			o.ID, o.Name, o.Description, string(o.Kind), o.Type, o.VolumeType, o.Category, o.State, o.Shared, o.Billable,
			o.ProviderApproval, jsonText(o.Components), ts(o.Created), ts(o.Modified))
		return mapErr(err)
	})
}

const offeringCols = `id, name, description, kind, type, volume_type, category, state, shared, billable, provider_approval,
	components, created_at, modified_at`

func scanOffering(row interface{ Scan(...any) error }) (marketplace.Offering, error) {
	var o marketplace.Offering
	var kind, comps string
	var created, modified int64
	err := row.Scan(&o.ID, &o.Name, &o.Description, &kind, &o.Type, &o.VolumeType, &o.Category, &o.State, &o.Shared,
		&o.Billable, &o.ProviderApproval, &comps, &created, &modified)
	if err != nil {
		return o, err
	}
	o.Kind, o.Created, o.Modified = marketplace.Kind(kind), fromTS(created), fromTS(modified)
	return o, json.Unmarshal([]byte(comps), &o.Components)
}

func (s *Store) GetOffering(ctx context.Context, id string) (marketplace.Offering, error) {
	o, err := scanOffering(s.r.QueryRowContext(ctx, "SELECT "+offeringCols+" FROM offerings WHERE id = $1", id))
	if err != nil {
		return o, notFound(err, "offering", id)
	}
	return o, nil
}

func (s *Store) ListOfferings(ctx context.Context) ([]marketplace.Offering, error) {
	return collect(ctx, s.r, new(query).add("SELECT "+offeringCols+" FROM offerings ORDER BY id"), scanOffering)
}

func (s *Store) CountOfferings(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM offerings").Scan(&n)
	return n, mapErr(err)
}

func (s *Store) PutPlan(ctx context.Context, p marketplace.Plan) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO plans (id, offering_id, name, description, unit, prices, init_price, switch_price,
			archived, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, archived = excluded.archived`,
			p.ID, p.OfferingID, p.Name, p.Description, p.Unit, jsonText(p.Prices), p.InitPrice, p.SwitchPrice, p.Archived, ts(p.Created))
		return mapErr(err)
	})
}

const planCols = "id, offering_id, name, description, unit, prices, init_price, switch_price, archived, created_at"

func scanPlan(row interface{ Scan(...any) error }) (marketplace.Plan, error) {
	var p marketplace.Plan
	var prices string
	var created int64
	if err := row.Scan(&p.ID, &p.OfferingID, &p.Name, &p.Description, &p.Unit, &prices, &p.InitPrice, &p.SwitchPrice, &p.Archived, &created); err != nil {
		return p, err
	}
	p.Created = fromTS(created)
	return p, json.Unmarshal([]byte(prices), &p.Prices)
}

func (s *Store) GetPlan(ctx context.Context, id string) (marketplace.Plan, error) {
	p, err := scanPlan(s.r.QueryRowContext(ctx, "SELECT "+planCols+" FROM plans WHERE id = $1", id))
	if err != nil {
		return p, notFound(err, "plan", id)
	}
	return p, nil
}

func (s *Store) ListPlans(ctx context.Context, offeringID string) ([]marketplace.Plan, error) {
	q := new(query).add("SELECT " + planCols + " FROM plans")
	if offeringID != "" {
		q.add(" WHERE offering_id = ?", offeringID)
	}
	return collect(ctx, s.r, q.add(" ORDER BY id"), scanPlan)
}

func insertResource(ctx context.Context, tx *sql.Tx, r marketplace.Resource) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO marketplace_resources (id, project_id, offering_id, plan_id, name, description, state,
		attributes, limits, scope_type, scope_id, backend_id, error_message, created_at, modified_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		r.ID, r.ProjectID, r.OfferingID, r.PlanID, r.Name, r.Description, r.State, jsonText(r.Attributes), jsonText(r.Limits),
		r.ScopeType, r.ScopeID, r.BackendID, r.ErrorMessage, ts(r.Created), ts(r.Modified))
	return mapErr(err)
}

// startResource moves the resource of an order that starts executing into
// the matching transitional state.
func startResource(ctx context.Context, tx *sql.Tx, o marketplace.Order) error {
	state := ""
	switch o.Type {
	case marketplace.TypeUpdate:
		state = marketplace.ResUpdating
	case marketplace.TypeTerminate:
		state = marketplace.ResTerminating
	}
	if state == "" || o.State != marketplace.Executing {
		return nil
	}
	_, err := tx.ExecContext(ctx, "UPDATE marketplace_resources SET state = $1, modified_at = $2 WHERE id = $3", state, ts(o.Modified), o.ResourceID)
	return mapErr(err)
}

func (s *Store) CreateOrder(ctx context.Context, o marketplace.Order, r *marketplace.Resource, j *jobs.Job) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if r != nil {
			if err := insertResource(ctx, tx, *r); err != nil {
				return err
			}
		} else {
			var pending int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders WHERE resource_id = $1 AND state IN ($2, $3, $4)`,
				o.ResourceID, marketplace.PendingConsumer, marketplace.PendingProvider, marketplace.Executing).Scan(&pending)
			if err != nil {
				return mapErr(err)
			}
			if pending > 0 {
				return errs.E(errs.Conflict, "Pending order for resource already exists.")
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO orders (id, project_id, offering_id, plan_id, resource_id, type, state, attributes,
			limits, cost, created_by, consumer_by, consumer_at, provider_by, provider_at, error_message, old_plan_id, created_at, modified_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
			o.ID, o.ProjectID, o.OfferingID, o.PlanID, o.ResourceID, o.Type, o.State, jsonText(o.Attributes), jsonText(o.Limits),
			o.Cost, o.CreatedBy, o.ConsumerBy, tsPtr(o.ConsumerAt), o.ProviderBy, tsPtr(o.ProviderAt), o.ErrorMessage, o.OldPlanID,
			ts(o.Created), ts(o.Modified))
		if err != nil {
			return mapErr(err)
		}
		if err := startResource(ctx, tx, o); err != nil {
			return err
		}
		if j != nil {
			return insertJob(ctx, tx, *j)
		}
		return nil
	})
}

func (s *Store) TransitionOrder(ctx context.Context, o marketplace.Order, from []string, j *jobs.Job) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		q := new(query).add(`UPDATE orders SET state = ?, consumer_by = ?, consumer_at = ?, provider_by = ?, provider_at = ?,
			error_message = ?, modified_at = ? WHERE id = ? AND state IN (`, o.State, o.ConsumerBy, tsPtr(o.ConsumerAt), o.ProviderBy,
			tsPtr(o.ProviderAt), o.ErrorMessage, ts(o.Modified), o.ID)
		q.list(from).add(")")
		res, err := tx.ExecContext(ctx, q.String(), q.args...)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.Conflict, "the order changed state meanwhile; reload it")
		}
		if err := startResource(ctx, tx, o); err != nil {
			return err
		}
		if j != nil {
			return insertJob(ctx, tx, *j)
		}
		return nil
	})
}

// list appends "?, ?, …" for the values.
func (q *query) list(vals []string) *query {
	for i, v := range vals {
		if i > 0 {
			q.add(", ")
		}
		q.add("?", v)
	}
	return q
}

func (s *Store) DeleteOrder(ctx context.Context, id string, from []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		q := new(query).add("DELETE FROM orders WHERE id = ? AND state IN (", id).list(from).add(")")
		res, err := tx.ExecContext(ctx, q.String(), q.args...)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.Conflict, "the order changed state meanwhile; reload it")
		}
		return nil
	})
}

func (s *Store) FinishOrder(ctx context.Context, o marketplace.Order, r marketplace.Resource) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE orders SET state = $1, error_message = $2, modified_at = $3, completed_at = $4,
			provider_by = $5, provider_at = $6 WHERE id = $7`,
			o.State, o.ErrorMessage, ts(o.Modified), tsPtr(o.CompletedAt), o.ProviderBy, tsPtr(o.ProviderAt), o.ID)
		if err != nil {
			return mapErr(err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE marketplace_resources SET state = $1, limits = $2, plan_id = $3, scope_type = $4,
			scope_id = $5, backend_id = $6, error_message = $7, modified_at = $8 WHERE id = $9`,
			r.State, jsonText(r.Limits), r.PlanID, r.ScopeType, r.ScopeID, r.BackendID, r.ErrorMessage, ts(r.Modified), r.ID)
		return mapErr(err)
	})
}

const orderCols = `o.id, o.project_id, o.offering_id, o.plan_id, o.resource_id, o.type, o.state, o.attributes, o.limits, o.cost,
	o.created_by, o.consumer_by, o.consumer_at, o.provider_by, o.provider_at, o.error_message, o.old_plan_id, o.created_at,
	o.modified_at, o.completed_at`

func scanOrder(row interface{ Scan(...any) error }) (marketplace.Order, error) {
	var o marketplace.Order
	var attrs, limits string
	var cAt, pAt, done sql.NullInt64
	var created, modified int64
	err := row.Scan(&o.ID, &o.ProjectID, &o.OfferingID, &o.PlanID, &o.ResourceID, &o.Type, &o.State, &attrs, &limits, &o.Cost,
		&o.CreatedBy, &o.ConsumerBy, &cAt, &o.ProviderBy, &pAt, &o.ErrorMessage, &o.OldPlanID, &created, &modified, &done)
	if err != nil {
		return o, err
	}
	o.ConsumerAt, o.ProviderAt, o.CompletedAt = fromTSPtr(cAt), fromTSPtr(pAt), fromTSPtr(done)
	o.Created, o.Modified = fromTS(created), fromTS(modified)
	if err := json.Unmarshal([]byte(attrs), &o.Attributes); err != nil {
		return o, err
	}
	return o, json.Unmarshal([]byte(limits), &o.Limits)
}

func (s *Store) GetOrder(ctx context.Context, sc access.Scope, id string) (marketplace.Order, error) {
	q := new(query).add("SELECT "+orderCols+" FROM orders o WHERE o.id = ? AND ", id).visibleProjects("o.project_id", sc)
	o, err := scanOrder(s.r.QueryRowContext(ctx, q.String(), q.args...))
	if err != nil {
		return o, notFound(err, "order", id)
	}
	return o, nil
}

// offsetPage runs a filtered list twice: once counted, once for the rows.
func offsetPage[T any](ctx context.Context, db *sql.DB, cols, from string, where *query, order string, offset, limit int,
	scan func(interface{ Scan(...any) error }) (T, error)) ([]T, int, error) {
	count := new(query)
	count.b.WriteString("SELECT COUNT(*) FROM " + from + " WHERE " + where.String())
	count.args = where.args
	var total int
	if err := db.QueryRowContext(ctx, count.String(), count.args...).Scan(&total); err != nil {
		return nil, 0, mapErr(err)
	}
	q := new(query)
	q.b.WriteString("SELECT " + cols + " FROM " + from + " WHERE " + where.String() + " ORDER BY " + order)
	q.args = append([]any(nil), where.args...)
	q.add(" LIMIT ? OFFSET ?", limit, offset)
	rows, err := collect(ctx, db, q, scan)
	return rows, total, err
}

func (s *Store) ListOrders(ctx context.Context, sc access.Scope, f marketplace.OrderFilter, offset, limit int) ([]marketplace.Order, int, error) {
	w := new(query).visibleProjects("o.project_id", sc)
	if len(f.States) > 0 {
		w.add(" AND o.state IN (").list(f.States).add(")")
	}
	if len(f.Types) > 0 {
		w.add(" AND o.type IN (").list(f.Types).add(")")
	}
	if f.ProjectID != "" {
		w.add(" AND o.project_id = ?", f.ProjectID)
	}
	if f.OrgID != "" {
		w.add(" AND o.project_id IN (SELECT id FROM projects WHERE organisation_id = ?)", f.OrgID)
	}
	if f.OfferingID != "" {
		w.add(" AND o.offering_id = ?", f.OfferingID)
	}
	if f.ResourceID != "" {
		w.add(" AND o.resource_id = ?", f.ResourceID)
	}
	if f.OfferingKind != "" {
		w.add(" AND o.offering_id IN (SELECT id FROM offerings WHERE kind = ?)", string(f.OfferingKind))
	}
	return offsetPage(ctx, s.r, orderCols, "orders o", w, "o.id", offset, limit, scanOrder)
}

const resourceCols = `r.id, r.project_id, r.offering_id, r.plan_id, r.name, r.description, r.state, r.attributes, r.limits,
	r.scope_type, r.scope_id, r.backend_id, r.error_message, r.created_at, r.modified_at`

func scanResource(row interface{ Scan(...any) error }) (marketplace.Resource, error) {
	var r marketplace.Resource
	var attrs, limits string
	var created, modified int64
	err := row.Scan(&r.ID, &r.ProjectID, &r.OfferingID, &r.PlanID, &r.Name, &r.Description, &r.State, &attrs, &limits,
		&r.ScopeType, &r.ScopeID, &r.BackendID, &r.ErrorMessage, &created, &modified)
	if err != nil {
		return r, err
	}
	r.Created, r.Modified = fromTS(created), fromTS(modified)
	if err := json.Unmarshal([]byte(attrs), &r.Attributes); err != nil {
		return r, err
	}
	return r, json.Unmarshal([]byte(limits), &r.Limits)
}

func (s *Store) GetResource(ctx context.Context, sc access.Scope, id string) (marketplace.Resource, error) {
	q := new(query).add("SELECT "+resourceCols+" FROM marketplace_resources r WHERE r.id = ? AND ", id).visibleProjects("r.project_id", sc)
	r, err := scanResource(s.r.QueryRowContext(ctx, q.String(), q.args...))
	if err != nil {
		return r, notFound(err, "resource", id)
	}
	return r, nil
}

func (s *Store) ListResources(ctx context.Context, sc access.Scope, f marketplace.ResourceFilter, offset, limit int) ([]marketplace.Resource, int, error) {
	w := new(query).visibleProjects("r.project_id", sc)
	if len(f.States) > 0 {
		w.add(" AND r.state IN (").list(f.States).add(")")
	}
	if f.ProjectID != "" {
		w.add(" AND r.project_id = ?", f.ProjectID)
	}
	if f.OrgID != "" {
		w.add(" AND r.project_id IN (SELECT id FROM projects WHERE organisation_id = ?)", f.OrgID)
	}
	if f.OfferingID != "" {
		w.add(" AND r.offering_id = ?", f.OfferingID)
	}
	if f.Name != "" {
		w.add(" AND r.name = ?", f.Name)
	}
	return offsetPage(ctx, s.r, resourceCols, "marketplace_resources r", w, "r.id", offset, limit, scanResource)
}
