package metering

import (
	"cmp"
	"context"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

// Projects is what reporting needs from identity: which projects and
// organisations a caller may see.
type Projects interface {
	GetProject(ctx context.Context, p identity.Principal, id string) (identity.Project, error)
	ListProjects(ctx context.Context, p identity.Principal, f identity.ProjectFilter, r page.Request) (page.Result[identity.Project], error)
	GetOrganisation(ctx context.Context, p identity.Principal, id string) (identity.Organisation, error)
}

// Prices is what costing needs from the catalog.
type Prices interface {
	UsagePrices(ctx context.Context) (PriceBook, error)
}

// PriceBook holds unit prices (decimal strings per unit of a component,
// as plans hold them).
type PriceBook struct {
	// ByScope are the plan prices of marketplace resources, by the ID of
	// what they provisioned (a volume, an object-storage service).
	ByScope map[string]map[string]string
	// Default prices every resource no marketplace resource points at.
	Default map[string]string
	// Charges are what plans bill for the limits (and fixed components)
	// of marketplace resources, whatever is used.
	Charges []Charge
}

// TypeMarketplace is the resource type of a limit charge's lines.
const TypeMarketplace = "marketplace_resource"

// Charge is a plan's price for a limit of a marketplace resource, billed
// per plan unit for [From, To): a period the limit held that value (a
// limit changed during a month makes one charge per value).
type Charge struct {
	ProjectID  string
	ResourceID string
	Component  string
	Unit       string // the component's measured unit, e.g. GB
	PlanUnit   string // month, half_month, quarter, day, hour or quantity
	Limit      int64
	Price      string
	From       time.Time
	To         time.Time // zero while the resource exists
}

// quantity is the limit times the plan units the charge covers in the
// month [from, to).
func (c Charge) quantity(from, to time.Time) *big.Rat {
	if c.PlanUnit == "quantity" { // once, in the month the resource began
		if c.From.Before(from) || !c.From.Before(to) {
			return new(big.Rat)
		}
		return new(big.Rat).SetInt64(c.Limit)
	}
	a, b := later(c.From, from), to
	if !c.To.IsZero() && c.To.Before(b) {
		b = c.To
	}
	if !a.Before(b) {
		return new(big.Rat)
	}
	secs := big.NewRat(int64(b.Sub(a)/time.Second), 1)
	month := int64(to.Sub(from) / time.Second)
	per := map[string]int64{"hour": 3600, "day": 86400, "half_month": month / 2, "quarter": 3 * month}[c.PlanUnit]
	if per == 0 {
		per = month
	}
	return secs.Mul(secs, big.NewRat(c.Limit, per))
}

// Price is the unit price of a component of a resource: its plan's if a
// marketplace resource points at it or at its parent (a component the
// plan does not price is free), the default otherwise.
func (b PriceBook) Price(ref Ref, component string) *big.Rat {
	prices, ok := b.ByScope[ref.ID]
	if !ok && ref.ParentID != "" {
		prices, ok = b.ByScope[ref.ParentID]
	}
	if !ok {
		prices = b.Default
	}
	r, ok := new(big.Rat).SetString(prices[component])
	if !ok || r.Sign() < 0 {
		return new(big.Rat)
	}
	return r
}

// Granularities of usage reports.
const (
	Hour  = "hour"
	Day   = "day"
	Month = "month"
)

// Query asks for usage. Without a resource, usage is summed per project.
type Query struct {
	ProjectID   string
	ResourceID  string
	Component   string
	From, To    time.Time
	Granularity string
}

// Point is the usage of one component in one period.
type Point struct {
	Start        time.Time `json:"start"`
	ProjectID    string    `json:"project_id"`
	ResourceType string    `json:"resource_type,omitempty"`
	ResourceID   string    `json:"resource_id,omitempty"`
	Component    string    `json:"component"`
	Quantity     string    `json:"quantity"`
	Unit         string    `json:"unit"`
}

// maxBuckets bounds the periods one report spans.
const maxBuckets = 5000

func bucketStart(t time.Time, g string) time.Time {
	t = t.UTC()
	switch g {
	case Hour:
		return t.Truncate(time.Hour)
	case Day:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func nextBucket(t time.Time, g string) time.Time {
	switch g {
	case Hour:
		return t.Add(time.Hour)
	case Day:
		return t.AddDate(0, 0, 1)
	}
	return t.AddDate(0, 1, 0)
}

// MonthBounds returns [first of month, first of next month) in UTC.
func MonthBounds(t time.Time) (time.Time, time.Time) {
	m := bucketStart(t, Month)
	return m, m.AddDate(0, 1, 0)
}

// projectsOf resolves which projects a report covers: the one named, if
// the caller may see it, or every project the caller sees.
func (s *Service) projectsOf(ctx context.Context, p identity.Principal, projectID, orgID string) ([]identity.Project, error) {
	if projectID != "" {
		pr, err := s.projects.GetProject(ctx, p, projectID)
		if err != nil {
			return nil, err
		}
		return []identity.Project{pr}, nil
	}
	var out []identity.Project
	r := page.Request{Limit: page.MaxLimit}
	for {
		res, err := s.projects.ListProjects(ctx, p, identity.ProjectFilter{OrganisationID: orgID}, r)
		if err != nil {
			return nil, err
		}
		out = append(out, res.Items...)
		if res.Next == "" {
			return out, nil
		}
		if r.After, err = page.DecodeCursor(res.Next); err != nil {
			return nil, err
		}
	}
}

func (s *Service) rows(ctx context.Context, projects []identity.Project, q Query) ([]Row, error) {
	if len(projects) == 0 {
		return nil, nil
	}
	ids := make([]string, len(projects))
	for i, pr := range projects {
		ids[i] = pr.ID
	}
	rows, err := s.store.UsageRows(ctx, Filter{ProjectIDs: ids, ResourceID: q.ResourceID, Component: q.Component, From: q.From, To: q.To})
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	return rows, nil
}

func (s *Service) checkQuery(q *Query) error {
	if q.Granularity == "" {
		q.Granularity = Hour
	}
	if q.Granularity != Hour && q.Granularity != Day && q.Granularity != Month {
		return errs.Field("granularity", "granularity must be hour, day or month")
	}
	if q.From.IsZero() && q.To.IsZero() {
		q.From, q.To = MonthBounds(s.o.Now())
	}
	if q.To.IsZero() {
		q.To = s.o.Now().UTC()
	}
	q.From, q.To = bucketStart(q.From, q.Granularity), q.To.UTC()
	if !q.From.Before(q.To) {
		return errs.Field("from", "from must be before to")
	}
	if q.Component != "" {
		if _, ok := Lookup(q.Component); !ok {
			return errs.Field("component", "unknown component %q", q.Component)
		}
	}
	n := 0
	for t := q.From; t.Before(q.To); t = nextBucket(t, q.Granularity) {
		if n++; n > maxBuckets {
			return errs.Field("from", "a report spans at most %d periods; use a coarser granularity", maxBuckets)
		}
	}
	return nil
}

// Usage reports usage per period for the projects the caller may see.
func (s *Service) Usage(ctx context.Context, p identity.Principal, q Query) ([]Point, error) {
	if err := s.checkQuery(&q); err != nil {
		return nil, err
	}
	projects, err := s.projectsOf(ctx, p, q.ProjectID, "")
	if err != nil {
		return nil, err
	}
	rows, err := s.rows(ctx, projects, q)
	if err != nil {
		return nil, err
	}
	type key struct {
		start                       time.Time
		project, typ, id, component string
	}
	sums := map[key]*big.Int{}
	add := func(k key, raw *big.Int) {
		if sums[k] == nil {
			sums[k] = new(big.Int)
		}
		sums[k].Add(sums[k], raw)
	}
	for _, r := range rows {
		k := key{project: r.ProjectID, component: r.Component}
		if q.ResourceID != "" {
			k.typ, k.id = r.Type, r.ID
		}
		// An amount row (a counter's hour, a folded day) counts in the
		// period it starts in.
		if r.Level < 0 {
			if !r.From.Before(q.From) && r.From.Before(q.To) {
				k.start = bucketStart(r.From, q.Granularity)
				add(k, big.NewInt(r.Amount))
			}
			continue
		}
		for b := bucketStart(later(r.From, q.From), q.Granularity); b.Before(q.To) && b.Before(r.To); b = nextBucket(b, q.Granularity) {
			end := nextBucket(b, q.Granularity)
			if end.After(q.To) {
				end = q.To
			}
			k.start = b
			add(k, r.Raw(b, end))
		}
	}
	out := make([]Point, 0, len(sums))
	for k, raw := range sums {
		info, _ := Lookup(k.component)
		out = append(out, Point{Start: k.start, ProjectID: k.project, ResourceType: k.typ, ResourceID: k.id, Component: k.component,
			Quantity: info.Quantity(raw).FloatString(6), Unit: info.Unit})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if a.ProjectID != b.ProjectID {
			return a.ProjectID < b.ProjectID
		}
		if a.ResourceID != b.ResourceID {
			return a.ResourceID < b.ResourceID
		}
		return componentOrder(a.Component) < componentOrder(b.Component)
	})
	return out, nil
}

func componentOrder(c string) int {
	for i, info := range Components() {
		if info.Component == c {
			return i
		}
	}
	return len(Components())
}

// line is the exact usage of one component of one resource in a period.
type line struct {
	ref       Ref
	component string
	raw       *big.Int
}

// lines sums rows per resource and component over [from, to).
func lines(rows []Row, from, to time.Time) []line {
	type key struct{ typ, id, component string }
	idx := map[key]int{}
	var out []line
	for _, r := range rows {
		raw := r.Raw(from, to)
		if raw.Sign() == 0 {
			continue
		}
		k := key{r.Type, r.ID, r.Component}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, line{ref: r.Ref, component: r.Component, raw: new(big.Int)})
		}
		out[i].raw.Add(out[i].raw, raw)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ref.ProjectID != b.ref.ProjectID {
			return a.ref.ProjectID < b.ref.ProjectID
		}
		if a.ref.Type != b.ref.Type {
			return a.ref.Type < b.ref.Type
		}
		if a.ref.ID != b.ref.ID {
			return a.ref.ID < b.ref.ID
		}
		return componentOrder(a.component) < componentOrder(b.component)
	})
	return out
}

// ComponentCost is what one component cost in one month.
type ComponentCost struct {
	Component string `json:"component"`
	Name      string `json:"name"`
	Unit      string `json:"unit"`
	Quantity  string `json:"quantity"`
	Amount    string `json:"amount"`
}

// MonthCost is one month of a project's costs.
type MonthCost struct {
	Month      string          `json:"month"` // YYYY-MM
	Currency   string          `json:"currency"`
	Components []ComponentCost `json:"components"`
	Total      string          `json:"total"`
}

// maxMonths bounds a costs report.
const maxMonths = 120

// Costs prices a project's usage per month and component, from the month
// of from to the month of to (both default to the current month).
func (s *Service) Costs(ctx context.Context, p identity.Principal, projectID string, from, to time.Time) ([]MonthCost, error) {
	if from.IsZero() {
		from = s.o.Now()
	}
	if to.IsZero() {
		to = from
	}
	first, _ := MonthBounds(from)
	_, end := MonthBounds(to)
	if end.Before(first) || end.Sub(first) > maxMonths*31*24*time.Hour {
		return nil, errs.Field("from", "from must not be after to, and a report spans at most %d months", maxMonths)
	}
	projects, err := s.projectsOf(ctx, p, projectID, "")
	if err != nil {
		return nil, err
	}
	rows, err := s.rows(ctx, projects, Query{From: first, To: end})
	if err != nil {
		return nil, err
	}
	book, err := s.prices.UsagePrices(ctx)
	if err != nil {
		return nil, fmt.Errorf("costs: %w", err)
	}
	var out []MonthCost
	for m := first; m.Before(end); m = m.AddDate(0, 1, 0) {
		next := m.AddDate(0, 1, 0)
		byComp := map[string]*ComponentCost{}
		var order []string
		qty, amt := map[string]*big.Rat{}, map[string]*big.Rat{}
		total := new(big.Rat)
		for _, l := range bill(rows, book, projects, m, next) {
			key := l.component + "\x00" + l.unit
			if byComp[key] == nil {
				byComp[key] = &ComponentCost{Component: l.component, Name: l.name, Unit: l.unit}
				qty[key], amt[key] = new(big.Rat), new(big.Rat)
				order = append(order, key)
			}
			qty[key].Add(qty[key], l.quantity)
			amt[key].Add(amt[key], l.amount)
			total.Add(total, l.amount)
		}
		mc := MonthCost{Month: m.Format("2006-01"), Currency: s.o.Currency, Components: []ComponentCost{}, Total: total.FloatString(2)}
		sort.SliceStable(order, func(i, j int) bool {
			return componentOrder(byComp[order[i]].Component) < componentOrder(byComp[order[j]].Component)
		})
		for _, key := range order {
			c := byComp[key]
			c.Quantity, c.Amount = qty[key].FloatString(6), amt[key].FloatString(6)
			mc.Components = append(mc.Components, *c)
		}
		out = append(out, mc)
	}
	return out, nil
}

// billLine is one line of a bill: a metered component of a resource, or
// a plan's charge for a limit of a marketplace resource.
type billLine struct {
	ref                     Ref
	component, name, unit   string
	quantity, price, amount *big.Rat
}

// bill prices the usage rows of [from, to) and the limit charges of the
// given projects in it, in a stable order.
func bill(rows []Row, book PriceBook, projects []identity.Project, from, to time.Time) []billLine {
	var out []billLine
	for _, l := range lines(rows, from, to) {
		info, _ := Lookup(l.component)
		q, p := info.Quantity(l.raw), book.Price(l.ref, l.component)
		out = append(out, billLine{ref: l.ref, component: l.component, name: info.Name, unit: info.Unit, quantity: q, price: p,
			amount: new(big.Rat).Mul(q, p)})
	}
	in := map[string]bool{}
	for _, pr := range projects {
		in[pr.ID] = true
	}
	charges := slices.Clone(book.Charges)
	slices.SortFunc(charges, func(a, b Charge) int {
		return cmp.Or(strings.Compare(a.ProjectID, b.ProjectID), strings.Compare(a.ResourceID, b.ResourceID), strings.Compare(a.Component, b.Component),
			a.From.Compare(b.From))
	})
	for _, c := range charges {
		q := c.quantity(from, to)
		p, ok := new(big.Rat).SetString(c.Price)
		if !in[c.ProjectID] || q.Sign() == 0 || !ok {
			continue
		}
		out = append(out, billLine{ref: Ref{Type: TypeMarketplace, ID: c.ResourceID, ProjectID: c.ProjectID}, component: c.Component,
			name: c.Component + " (limit)", unit: c.Unit + "-" + c.PlanUnit, quantity: q, price: p, amount: new(big.Rat).Mul(q, p)})
	}
	return out
}

// ResourceUsage is the usage of the components of one resource (or of
// everything whose parent it is) in [from, to), in each component's unit.
func (s *Service) ResourceUsage(ctx context.Context, scopeID string, from, to time.Time) (map[string]*big.Rat, error) {
	rows, err := s.store.UsageRows(ctx, Filter{ResourceID: scopeID, From: from, To: to})
	if err != nil {
		return nil, fmt.Errorf("resource usage: %w", err)
	}
	out := map[string]*big.Rat{}
	for _, l := range lines(rows, from, to) {
		info, _ := Lookup(l.component)
		if out[l.component] == nil {
			out[l.component] = new(big.Rat)
		}
		out[l.component].Add(out[l.component], info.Quantity(l.raw))
	}
	return out, nil
}
