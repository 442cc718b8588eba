package marketplace

import (
	"context"
	"fmt"
	"sort"

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
			if r.ScopeID != "" {
				book.ByScope[r.ScopeID] = p.Prices
			}
			if r.State == ResCreating || r.State == ResErred && r.ScopeID == "" {
				continue // nothing was provisioned
			}
			book.Charges = append(book.Charges, limitCharges(r, offering[r.OfferingID], p)...)
		}
		if len(rs) < batch {
			return book, nil
		}
	}
}

// limitCharges are what a resource's plan bills for its limits and fixed
// components, from its creation to its termination.
func limitCharges(r Resource, o Offering, p Plan) []metering.Charge {
	var out []metering.Charge
	for _, c := range o.Components {
		price, ok := p.Prices[c.Type]
		if !ok {
			continue
		}
		var n int64
		switch c.BillingType {
		case "limit":
			n = r.Limits[c.Type]
		case "fixed":
			n = 1
		default:
			continue
		}
		ch := metering.Charge{ProjectID: r.ProjectID, ResourceID: r.ID, Component: c.Type, Unit: c.MeasuredUnit, PlanUnit: p.Unit,
			Limit: n, Price: price, From: r.Created}
		if r.State == ResTerminated {
			ch.To = r.Modified
		}
		out = append(out, ch)
	}
	return out
}
