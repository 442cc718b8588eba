package marketplace

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/metering"
)

// UsageComponents are the usage-billed components of the default catalog,
// per offering kind: each is a metered component, measured in its unit,
// with the default plan's price per unit.
func UsageComponents(k Kind) ([]Component, map[string]string) {
	comp := func(c string) Component {
		info, _ := metering.Lookup(c)
		return Component{Type: c, Name: info.Name, MeasuredUnit: info.Unit, BillingType: "usage"}
	}
	switch k {
	case KindObjectStorage:
		return []Component{comp(metering.S3Get), comp(metering.S3Put), comp(metering.S3List), comp(metering.S3Delete), comp(metering.S3BytesOut)},
			map[string]string{metering.S3Get: "0.0000004", metering.S3Put: "0.000005", metering.S3List: "0.000005",
				metering.S3Delete: "0", metering.S3BytesOut: "0.01"}
	case KindVolume:
		return []Component{comp(metering.SnapshotBytes)}, map[string]string{metering.SnapshotBytes: "0.00004"}
	}
	return nil, nil
}

// UsagePrices is the price book usage is costed with: the prices of the
// plan of every marketplace resource, by what it provisioned, and as the
// default for everything else, the first plan (oldest offering first) of
// an active offering that prices each usage component.
func (s *Service) UsagePrices(ctx context.Context) (metering.PriceBook, error) {
	book := metering.PriceBook{ByScope: map[string]map[string]string{}, Default: map[string]string{}}
	offerings, err := s.store.ListOfferings(ctx)
	if err != nil {
		return book, fmt.Errorf("usage prices: %w", err)
	}
	sort.SliceStable(offerings, func(i, j int) bool {
		if !offerings[i].Created.Equal(offerings[j].Created) {
			return offerings[i].Created.Before(offerings[j].Created)
		}
		return offerings[i].ID < offerings[j].ID
	})
	plans := map[string]Plan{}
	offering := map[string]Offering{}
	for _, o := range offerings {
		offering[o.ID] = o
		ps, err := s.store.ListPlans(ctx, o.ID)
		if err != nil {
			return book, fmt.Errorf("usage prices: %w", err)
		}
		for _, p := range ps {
			plans[p.ID] = p
		}
		if o.State != OfferingActive {
			continue
		}
		for _, p := range ps {
			if p.Archived {
				continue
			}
			for _, c := range o.Components {
				if price, ok := p.Prices[c.Type]; ok && c.BillingType == "usage" {
					if _, set := book.Default[c.Type]; !set {
						book.Default[c.Type] = price
					}
				}
			}
		}
	}
	const batch = 500
	// The orders that set each resource's limits (and plan), oldest first.
	setBy := map[string][]Order{}
	for off := 0; ; off += batch {
		done, _, err := s.store.ListOrders(ctx, access.System, OrderFilter{States: []string{Done}, Types: []string{TypeCreate, TypeUpdate}}, off, batch)
		if err != nil {
			return book, fmt.Errorf("usage prices: %w", err)
		}
		for _, o := range done {
			setBy[o.ResourceID] = append(setBy[o.ResourceID], o)
		}
		if len(done) < batch {
			break
		}
	}
	for _, ords := range setBy {
		sort.SliceStable(ords, func(i, j int) bool { return completed(ords[i]).Before(completed(ords[j])) })
	}
	for off := 0; ; off += batch {
		rs, _, err := s.store.ListResources(ctx, access.System, ResourceFilter{}, off, batch)
		if err != nil {
			return book, fmt.Errorf("usage prices: %w", err)
		}
		for _, r := range rs {
			p, ok := plans[r.PlanID]
			if !ok {
				continue
			}
			if r.ScopeID != "" { // usage is priced at the current plan
				book.ByScope[r.ScopeID] = p.Prices
			}
			if r.State == ResCreating || r.State == ResErred && r.ScopeID == "" {
				continue // nothing was provisioned
			}
			book.Charges = append(book.Charges, limitCharges(r, offering[r.OfferingID], plans, setBy[r.ID])...)
		}
		if len(rs) < batch {
			return book, nil
		}
	}
}

// completed is when an order took effect.
func completed(o Order) time.Time {
	if o.CompletedAt != nil {
		return *o.CompletedAt
	}
	return o.Modified
}

// limitCharges are what a resource's plans bill for its limits and fixed
// components, from its creation to its termination: per period between
// the orders done that set them (its Create, each Update), at the limits
// and the plan each set, so that a limit changed mid-month is billed at
// each value for its part of the month. A resource without such orders is
// billed at its current limits and plan. A one-off (quantity) plan bills
// the limits it was created with, once.
func limitCharges(r Resource, o Offering, plans map[string]Plan, setBy []Order) []metering.Charge {
	type period struct {
		from   time.Time
		plan   string
		limits map[string]int64
	}
	ps := []period{{r.Created, r.PlanID, r.Limits}}
	for i, ord := range setBy {
		p := period{completed(ord), ps[len(ps)-1].plan, ord.Limits}
		if ord.PlanID != "" {
			p.plan = ord.PlanID
		}
		if i == 0 || p.from.Before(r.Created) {
			p.from = r.Created
		}
		if i == 0 {
			ps = ps[:0]
		}
		ps = append(ps, p)
	}
	var to time.Time
	if r.State == ResTerminated {
		to = r.Modified
	}
	var out []metering.Charge
	for i, per := range ps {
		end := to
		if i+1 < len(ps) {
			end = ps[i+1].from
		}
		p, ok := plans[per.plan]
		if !ok || !end.IsZero() && !end.After(per.from) || i > 0 && p.Unit == "quantity" {
			continue
		}
		for _, c := range o.Components {
			price, ok := p.Prices[c.Type]
			if !ok {
				continue
			}
			var n int64
			switch c.BillingType {
			case "limit":
				n = per.limits[c.Type]
			case "fixed":
				n = 1
			default:
				continue
			}
			out = append(out, metering.Charge{ProjectID: r.ProjectID, ResourceID: r.ID, Component: c.Type, Unit: c.MeasuredUnit,
				PlanUnit: p.Unit, Limit: n, Price: price, From: per.from, To: end})
		}
	}
	return out
}
