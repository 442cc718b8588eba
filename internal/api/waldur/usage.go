package waldur

import (
	"crypto/sha256"
	"encoding/binary"
	hexenc "encoding/hex"
	"math/big"
	"net/http"
	"sort"
	"time"

	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/httpapi"
)

// WithMetering serves component usages and current_usages from the
// usage meter.
func (a *API) WithMetering(m *metering.Service) *API {
	a.metering = m
	return a
}

// maxUsageResources bounds the resources one component-usage list reads;
// maxUsageMonths the billing periods.
const (
	maxUsageResources = 1000
	maxUsageMonths    = 12
)

// usageComponents are the offering's usage-billed components.
func usageComponents(o marketplace.Offering) []marketplace.Component {
	var out []marketplace.Component
	for _, c := range o.Components {
		if c.BillingType == "usage" {
			if _, ok := metering.Lookup(c.Type); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// usageID is a stable uuid for the usage of one component of one
// resource in one billing period: a hash of the resource and component,
// then the period (months since year 0), so that the detail route reads
// the period back and matches only resources and components.
func usageID(resourceID, component string, month time.Time) string {
	var id [16]byte
	sum := sha256.Sum256([]byte(resourceID + "\x00" + component))
	copy(id[:12], sum[:12])
	binary.BigEndian.PutUint32(id[12:], uint32(month.Year()*12+int(month.Month())-1))
	return hexenc.EncodeToString(id[:])
}

// parseUsageID splits a usage uuid into its hash part and its period.
func parseUsageID(s string) (string, time.Time, bool) {
	id, ok := parseID(s)
	if !ok {
		return "", time.Time{}, false
	}
	id = hex(id)
	b, err := hexenc.DecodeString(id)
	if err != nil {
		return "", time.Time{}, false
	}
	m := int(binary.BigEndian.Uint32(b[12:]))
	if m/12 < 1970 || m/12 > 9999 {
		return "", time.Time{}, false
	}
	return id[:24], time.Date(m/12, time.Month(m%12+1), 1, 0, 0, 0, 0, time.UTC), true
}

// roundInt rounds to the nearest integer, halves up: Waldur's usage is an
// integer in the component's unit; the exact quantity is in description.
func roundInt(q *big.Rat) int64 {
	half := new(big.Rat).Add(q, big.NewRat(1, 2))
	return new(big.Int).Quo(half.Num(), half.Denom()).Int64()
}

// currentUsages is a resource's usage of each usage component this month.
func (l *lookups) currentUsages(res marketplace.Resource) map[string]any {
	out := map[string]any{}
	o := l.offering(res.OfferingID)
	comps := usageComponents(o)
	if l.a.metering == nil || res.ScopeID == "" || len(comps) == 0 {
		return out
	}
	now := time.Now().UTC()
	from, _ := metering.MonthBounds(now)
	got, err := l.a.metering.ResourceUsage(l.r.Context(), res.ScopeID, from, now)
	if err != nil {
		return out
	}
	for _, c := range comps {
		q := got[c.Type]
		if q == nil {
			q = new(big.Rat)
		}
		f, _ := q.Float64()
		out[c.Type] = f
	}
	return out
}

// listComponentUsages answers GET /api/marketplace-component-usages/: the
// usage of each usage-billed component of each visible resource with a
// backend object, per billing period (this month unless billing_period,
// date_after or date_before say otherwise).
func (a *API) listComponentUsages(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := marketplace.ResourceFilter{}
	bad := fieldErrors{}
	var resourceID string
	for name, dst := range map[string]*string{"project_uuid": &f.ProjectID, "customer_uuid": &f.OrgID, "offering_uuid": &f.OfferingID,
		"resource_uuid": &resourceID} {
		v, err := uuidFilter(r, name)
		collect(bad, err)
		*dst = v
	}
	now := time.Now().UTC()
	first, _ := metering.MonthBounds(now)
	last := first
	dates := map[string]*time.Time{"billing_period": nil, "date_after": &first, "date_before": &last}
	for _, name := range []string{"billing_period", "date_after", "date_before"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, v); err != nil {
				bad[name] = []string{"Date has wrong format. Use one of these formats instead: YYYY-MM-DD."}
				continue
			}
		}
		m, _ := metering.MonthBounds(t)
		if dst := dates[name]; dst != nil {
			*dst = m
		} else {
			first, last = m, m
		}
	}
	if len(bad) > 0 {
		return bad
	}
	if last.Before(first) || last.Sub(first) > maxUsageMonths*31*24*time.Hour {
		return fieldErrors{"date_before": []string{"At most 12 billing periods are listed at once."}}
	}
	p := httpapi.Principal(r.Context())
	var rs []marketplace.Resource
	if resourceID != "" {
		res, err := a.market.Resource(r.Context(), p, resourceID)
		if err == nil {
			rs = append(rs, res)
		}
	} else if rs, _, err = a.market.Resources(r.Context(), p, f, 0, maxUsageResources); err != nil {
		return err
	}
	l := a.lookups(r)
	typ := q.Get("type")
	var items []map[string]any
	for _, res := range rs {
		o := l.offering(res.OfferingID)
		comps := usageComponents(o)
		if res.ScopeID == "" || len(comps) == 0 || a.metering == nil {
			continue
		}
		for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
			end := m.AddDate(0, 1, 0)
			if end.After(now) {
				end = now
			}
			if !m.Before(end) {
				continue
			}
			got, err := a.metering.ResourceUsage(r.Context(), res.ScopeID, m, end)
			if err != nil {
				return err
			}
			for _, c := range comps {
				if typ == "" || c.Type == typ {
					items = append(items, l.componentUsage(res, o, c, m, end, got[c.Type]))
				}
			}
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i]["billing_period"].(string) > items[j]["billing_period"].(string) })
	return writePage(w, r, slice(items, pg, size), len(items), pg, size)
}

// componentUsage is the ComponentUsage of one component of a resource in
// the billing period that starts at month, measured until end.
func (l *lookups) componentUsage(res marketplace.Resource, o marketplace.Offering, c marketplace.Component, month, end time.Time,
	qty *big.Rat) map[string]any {
	if qty == nil {
		qty = new(big.Rat)
	}
	proj, org := l.project(res.ProjectID)
	return map[string]any{
		"uuid": usageID(res.ID, c.Type, month), "created": stamp(end), "date": stamp(end),
		"description": qty.FloatString(6) + " " + c.MeasuredUnit, "type": c.Type, "name": c.Name,
		"measured_unit": c.MeasuredUnit, "usage": roundInt(qty), "recurring": false,
		"resource_name": res.Name, "resource_uuid": hex(res.ID), "offering_name": o.Name, "offering_uuid": hex(o.ID),
		"project_name": proj.Name, "project_uuid": hex(proj.ID), "customer_name": org.Name, "customer_uuid": hex(org.ID),
		"billing_period": month.Format(time.DateOnly), "modified_by": nil,
	}
}

// getComponentUsage answers GET /api/marketplace-component-usages/{uuid}/:
// one usage the list shows. The uuid names its period; its resource and
// component are found among the resources the caller sees, a page at a
// time. Another tenant's usage, a period to come or a malformed uuid is
// not found.
func (a *API) getComponentUsage(w http.ResponseWriter, r *http.Request) error {
	key, month, ok := parseUsageID(r.PathValue("uuid"))
	now := time.Now().UTC()
	if !ok || a.metering == nil || !month.Before(now) {
		return errNotFound
	}
	end := month.AddDate(0, 1, 0)
	if end.After(now) {
		end = now
	}
	p := httpapi.Principal(r.Context())
	l := a.lookups(r)
	for off := 0; ; off += maxUsageResources {
		rs, _, err := a.market.Resources(r.Context(), p, marketplace.ResourceFilter{}, off, maxUsageResources)
		if err != nil {
			return err
		}
		for _, res := range rs {
			if res.ScopeID == "" {
				continue
			}
			o := l.offering(res.OfferingID)
			for _, c := range usageComponents(o) {
				if usageID(res.ID, c.Type, month)[:24] != key {
					continue
				}
				got, err := a.metering.ResourceUsage(r.Context(), res.ScopeID, month, end)
				if err != nil {
					return err
				}
				return writeOne(w, r, http.StatusOK, l.componentUsage(res, o, c, month, end, got[c.Type]))
			}
		}
		if len(rs) < maxUsageResources {
			return errNotFound
		}
	}
}
