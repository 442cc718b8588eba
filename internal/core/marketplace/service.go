package marketplace

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// JobKind is the kind of the job that carries out an executing order.
const JobKind = "marketplace.fulfil"

// Service applies the marketplace's rules.
type Service struct {
	store        Store
	identity     *identity.Service
	provisioners map[Kind]Provisioner
	wake         func()
	now          func() time.Time
}

// NewService builds the service; wake is called after an order starts
// executing so the job runner picks it up at once.
func NewService(store Store, id *identity.Service, wake func()) *Service {
	if wake == nil {
		wake = func() {}
	}
	return &Service{store: store, identity: id, provisioners: map[Kind]Provisioner{}, wake: wake, now: time.Now}
}

// SetProvisioner registers who fulfils orders for offerings of kind k.
func (s *Service) SetProvisioner(k Kind, p Provisioner) { s.provisioners[k] = p }

// Registration is the job handler that fulfils executing orders.
func (s *Service) Registration() jobs.Registration {
	return jobs.Registration{Kind: JobKind, Handle: s.fulfil, OnFailure: s.fulfilFailed}
}

// EnsureDefaultCatalog creates, once, an object-storage offering and one
// block-volume offering per volume type, each with a monthly plan, so a
// fresh server takes orders at once.
func (s *Service) EnsureDefaultCatalog(ctx context.Context, volumeTypes []string) error {
	n, err := s.store.CountOfferings(ctx)
	if err != nil || n > 0 {
		return err
	}
	now := s.now().UTC()
	add := func(o Offering, price string) error {
		o.ID, o.State, o.Shared, o.Billable, o.Created, o.Modified = identity.NewID(), OfferingActive, true, true, now, now
		usage, prices := UsageComponents(o.Kind)
		o.Components = append(o.Components, usage...)
		if err := s.store.PutOffering(ctx, o); err != nil {
			return fmt.Errorf("default catalog: %w", err)
		}
		prices["storage"] = price
		p := Plan{ID: identity.NewID(), OfferingID: o.ID, Name: "Standard", Description: "Pay per GB of limit per month, and per use",
			Unit: "month", Prices: prices, InitPrice: "0", SwitchPrice: "0", Created: now}
		return s.store.PutPlan(ctx, p)
	}
	storage := func(max int64) []Component {
		return []Component{{Type: "storage", Name: "Storage", MeasuredUnit: "GB", BillingType: "limit", MinValue: 1, MaxValue: max}}
	}
	if err := add(Offering{Name: "Object Storage", Description: "S3-compatible buckets with a storage limit",
		Kind: KindObjectStorage, Type: "Marketplace.Basic", Category: "Storage", Components: storage(102400)}, "0.02"); err != nil {
		return err
	}
	for _, vt := range volumeTypes {
		if err := add(Offering{Name: "Block Volume (" + vt + ")", Description: "A " + vt + " block volume",
			Kind: KindVolume, Type: "OpenStack.Volume", VolumeType: vt, Category: "Storage", Components: storage(16384)}, "0.05"); err != nil {
			return err
		}
	}
	return nil
}

// Offerings lists the catalog (visible to every authenticated user).
func (s *Service) Offerings(ctx context.Context) ([]Offering, error) {
	return s.store.ListOfferings(ctx)
}

func (s *Service) Offering(ctx context.Context, id string) (Offering, error) {
	return s.store.GetOffering(ctx, id)
}

func (s *Service) Plans(ctx context.Context, offeringID string) ([]Plan, error) {
	return s.store.ListPlans(ctx, offeringID)
}

func (s *Service) Plan(ctx context.Context, id string) (Plan, error) { return s.store.GetPlan(ctx, id) }

// CreateOffering adds an offering to the catalog (staff).
func (s *Service) CreateOffering(ctx context.Context, p identity.Principal, o Offering) (Offering, error) {
	if !p.User.Staff {
		return Offering{}, errs.E(errs.Permission, "only staff manage the catalog")
	}
	if strings.TrimSpace(o.Name) == "" || len(o.Name) > 150 {
		return Offering{}, errs.Field("name", "name must be 1-150 characters")
	}
	switch o.Kind {
	case KindObjectStorage:
		if o.Type == "" {
			o.Type = "Marketplace.Basic"
		}
	case KindVolume:
		if o.Type == "" {
			o.Type = "OpenStack.Volume"
		}
		if o.VolumeType == "" {
			return Offering{}, errs.Field("volume_type", "a volume offering needs a volume type")
		}
	default:
		return Offering{}, errs.Field("kind", "kind must be object_storage or volume")
	}
	for _, c := range o.Components {
		if c.Type == "" || c.MinValue < 0 || (c.MaxValue > 0 && c.MaxValue < c.MinValue) {
			return Offering{}, errs.Field("components", "component %q has an empty type or a bad range", c.Type)
		}
		if c.BillingType == "" {
			return Offering{}, errs.Field("components", "component %q needs a billing type", c.Type)
		}
	}
	now := s.now().UTC()
	o.ID, o.Created, o.Modified = identity.NewID(), now, now
	if o.State == "" {
		o.State = OfferingActive
	}
	if o.Category == "" {
		o.Category = "Storage"
	}
	if err := s.store.PutOffering(ctx, o); err != nil {
		return Offering{}, fmt.Errorf("create offering: %w", err)
	}
	return o, nil
}

// SetOfferingState activates, pauses or archives an offering (staff).
func (s *Service) SetOfferingState(ctx context.Context, p identity.Principal, id, state string, providerApproval *bool) (Offering, error) {
	if !p.User.Staff {
		return Offering{}, errs.E(errs.Permission, "only staff manage the catalog")
	}
	o, err := s.store.GetOffering(ctx, id)
	if err != nil {
		return Offering{}, err
	}
	if state != "" {
		if state != OfferingActive && state != OfferingPaused && state != OfferingArchived {
			return Offering{}, errs.Field("state", "state must be Active, Paused or Archived")
		}
		o.State = state
	}
	if providerApproval != nil {
		o.ProviderApproval = *providerApproval
	}
	o.Modified = s.now().UTC()
	return o, s.store.PutOffering(ctx, o)
}

// CreatePlan adds a plan to an offering (staff).
func (s *Service) CreatePlan(ctx context.Context, p identity.Principal, pl Plan) (Plan, error) {
	if !p.User.Staff {
		return Plan{}, errs.E(errs.Permission, "only staff manage the catalog")
	}
	o, err := s.store.GetOffering(ctx, pl.OfferingID)
	if err != nil {
		return Plan{}, err
	}
	if strings.TrimSpace(pl.Name) == "" || len(pl.Name) > 150 {
		return Plan{}, errs.Field("name", "name must be 1-150 characters")
	}
	switch pl.Unit {
	case "":
		pl.Unit = "month"
	case "month", "quarter", "half_month", "day", "hour", "quantity":
	default:
		return Plan{}, errs.Field("unit", "unit must be month, quarter, half_month, day, hour or quantity")
	}
	for comp, price := range pl.Prices {
		if _, ok := o.Component(comp); !ok {
			return Plan{}, errs.Field("prices", "the offering has no component %q", comp)
		}
		if _, ok := parseDecimal(price); !ok {
			return Plan{}, errs.Field("prices", "price of %q is not a non-negative decimal", comp)
		}
	}
	for field, v := range map[string]*string{"init_price": &pl.InitPrice, "switch_price": &pl.SwitchPrice} {
		if *v == "" {
			*v = "0"
		}
		if _, ok := parseDecimal(*v); !ok {
			return Plan{}, errs.Field(field, "%s is not a non-negative decimal", field)
		}
	}
	pl.ID, pl.Created = identity.NewID(), s.now().UTC()
	if err := s.store.PutPlan(ctx, pl); err != nil {
		return Plan{}, fmt.Errorf("create plan: %w", err)
	}
	return pl, nil
}

func parseDecimal(s string) (*big.Rat, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 || strings.ContainsAny(s, "eE/") {
		return nil, false
	}
	return r, true
}

// Cost estimates an order: the plan's init price plus each limit times its
// component price, as a decimal string with 10 places, as Waldur shows it.
func Cost(pl Plan, limits map[string]int64) string {
	total, _ := parseDecimal(pl.InitPrice)
	if total == nil {
		total = new(big.Rat)
	}
	for comp, n := range limits {
		if price, ok := parseDecimal(pl.Prices[comp]); ok {
			total.Add(total, new(big.Rat).Mul(price, new(big.Rat).SetInt64(n)))
		}
	}
	return total.FloatString(10)
}

// OrderInput is what a client asks for.
type OrderInput struct {
	ProjectID  string
	OfferingID string
	PlanID     string
	Type       string
	ResourceID string // Update and Terminate
	Attributes map[string]any
	Limits     map[string]int64
}

// CreateOrder validates and records an order, then routes it: straight to
// executing when the caller may approve for the project and the offering
// needs no provider approval; otherwise it waits for approval.
func (s *Service) CreateOrder(ctx context.Context, p identity.Principal, in OrderInput) (Order, error) {
	if in.Type == "" {
		in.Type = TypeCreate
	}
	if in.Type != TypeCreate && in.Type != TypeUpdate && in.Type != TypeTerminate {
		return Order{}, errs.Field("type", "%q is not a valid choice.", in.Type)
	}
	var res Resource
	if in.Type != TypeCreate {
		var err error
		if res, err = s.store.GetResource(ctx, p.Scope(), in.ResourceID); err != nil {
			return Order{}, err
		}
		if res.State == ResTerminated {
			return Order{}, errs.E(errs.Conflict, "resource %s is terminated", res.ID)
		}
		in.ProjectID, in.OfferingID = res.ProjectID, res.OfferingID
		if in.PlanID == "" {
			in.PlanID = res.PlanID
		}
	}
	if in.ProjectID == "" {
		return Order{}, errs.Field("project", "This field is required.")
	}
	if _, err := s.identity.GetProject(ctx, p, in.ProjectID); err != nil {
		if errs.Is(err, errs.NotExist) {
			return Order{}, errs.Field("project", "Invalid hyperlink - Object does not exist.")
		}
		return Order{}, err
	}
	if err := s.identity.RequireProjectRole(ctx, p, in.ProjectID, access.Member); err != nil {
		return Order{}, err
	}
	if in.OfferingID == "" {
		return Order{}, errs.Field("offering", "This field is required.")
	}
	off, err := s.store.GetOffering(ctx, in.OfferingID)
	if errs.Is(err, errs.NotExist) {
		return Order{}, errs.Field("offering", "Invalid hyperlink - Object does not exist.")
	}
	if err != nil {
		return Order{}, err
	}
	if in.Type == TypeCreate && off.State != OfferingActive {
		return Order{}, errs.Field("offering", "Offering is not available.")
	}
	var plan Plan
	if in.PlanID != "" {
		if plan, err = s.store.GetPlan(ctx, in.PlanID); err != nil || plan.OfferingID != off.ID {
			return Order{}, errs.Field("plan", "This plan is not available for selected offering.")
		}
		if plan.Archived && in.Type != TypeTerminate {
			return Order{}, errs.Field("plan", "Plan is archived.")
		}
	}
	if in.Type == TypeTerminate {
		in.Limits = nil
	} else if err := checkLimits(off, in.Limits); err != nil {
		return Order{}, err
	}
	if in.Attributes == nil {
		in.Attributes = map[string]any{}
	}
	now := s.now().UTC()
	o := Order{ID: identity.NewID(), ProjectID: in.ProjectID, OfferingID: off.ID, PlanID: in.PlanID, Type: in.Type,
		Attributes: in.Attributes, Limits: in.Limits, CreatedBy: p.User.ID, Created: now, Modified: now}
	if o.Limits == nil {
		o.Limits = map[string]int64{}
	}
	if in.PlanID != "" {
		o.Cost = Cost(plan, o.Limits)
	}
	var newRes *Resource
	switch in.Type {
	case TypeCreate:
		name, _ := in.Attributes["name"].(string)
		if strings.TrimSpace(name) == "" {
			return Order{}, errs.Field("attributes", "attributes.name is required.")
		}
		if c, ok := s.provisioners[off.Kind].(OrderChecker); ok {
			if err := c.Check(ctx, off, in.Attributes, o.Limits); err != nil {
				return Order{}, err
			}
		}
		desc, _ := in.Attributes["description"].(string)
		newRes = &Resource{ID: identity.NewID(), ProjectID: in.ProjectID, OfferingID: off.ID, PlanID: in.PlanID, Name: name,
			Description: desc, State: ResCreating, Attributes: in.Attributes, Limits: o.Limits, Created: now, Modified: now}
		o.ResourceID = newRes.ID
	default:
		o.ResourceID = res.ID
		if in.Type == TypeUpdate && in.PlanID != res.PlanID {
			o.OldPlanID = res.PlanID
		}
	}
	canApprove, err := s.canApprove(ctx, p, in.ProjectID)
	if err != nil {
		return Order{}, err
	}
	o.State = PendingConsumer
	var job *jobs.Job
	if canApprove {
		if job, err = s.route(&o, off, p, now); err != nil {
			return Order{}, err
		}
	}
	if err := s.store.CreateOrder(ctx, o, newRes, job); err != nil {
		return Order{}, fmt.Errorf("create order: %w", err)
	}
	if job != nil {
		s.wake()
	}
	return o, nil
}

func checkLimits(off Offering, limits map[string]int64) error {
	var bad []string
	for k := range limits {
		if c, ok := off.Component(k); !ok || c.BillingType != "limit" {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return errs.Field("limits", "Invalid types: %s", strings.Join(bad, ", "))
	}
	for k, v := range limits {
		c, _ := off.Component(k)
		if c.MaxValue > 0 && v > c.MaxValue {
			return errs.Field("limits", "The limit %s value cannot be more than %d.", k, c.MaxValue)
		}
		if v < c.MinValue {
			return errs.Field("limits", "The limit %s value cannot be less than %d.", k, c.MinValue)
		}
	}
	return nil
}

// canApprove: staff, or admin and above on the project (which includes the
// owners and admins of its organisation).
func (s *Service) canApprove(ctx context.Context, p identity.Principal, projectID string) (bool, error) {
	err := s.identity.RequireProjectRole(ctx, p, projectID, access.Admin)
	if errs.Is(err, errs.Permission) {
		return false, nil
	}
	return err == nil, err
}

// route records the consumer review and moves the order on: to
// pending-provider, or to executing with the job that fulfils it.
func (s *Service) route(o *Order, off Offering, p identity.Principal, now time.Time) (*jobs.Job, error) {
	o.ConsumerBy, o.ConsumerAt = p.User.ID, &now
	if off.ProviderApproval && !p.User.Staff {
		o.State = PendingProvider
		return nil, nil
	}
	if off.ProviderApproval {
		o.ProviderBy, o.ProviderAt = p.User.ID, &now
	}
	return s.execute(o, now)
}

func (s *Service) execute(o *Order, now time.Time) (*jobs.Job, error) {
	o.State, o.Modified = Executing, now
	j, err := jobs.New(JobKind, o.ProjectID, "order", o.ID, map[string]string{"order_id": o.ID}, now)
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// Order returns an order visible to p.
func (s *Service) Order(ctx context.Context, p identity.Principal, id string) (Order, error) {
	return s.store.GetOrder(ctx, p.Scope(), id)
}

// Orders lists orders visible to p; total counts all matches.
func (s *Service) Orders(ctx context.Context, p identity.Principal, f OrderFilter, offset, limit int) ([]Order, int, error) {
	return s.store.ListOrders(ctx, p.Scope(), f, offset, limit)
}

// Resource returns a marketplace resource visible to p.
func (s *Service) Resource(ctx context.Context, p identity.Principal, id string) (Resource, error) {
	return s.store.GetResource(ctx, p.Scope(), id)
}

func (s *Service) Resources(ctx context.Context, p identity.Principal, f ResourceFilter, offset, limit int) ([]Resource, int, error) {
	return s.store.ListResources(ctx, p.Scope(), f, offset, limit)
}

// validStates builds the 409 Waldur clients expect.
func validStates(states ...string) error {
	return errs.E(errs.Conflict, "Valid states for operation: %s.", strings.Join(states, ", "))
}

func in(s string, set []string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// Action is a transition a client asks for.
type Action string

const (
	ApproveByConsumer Action = "approve_by_consumer"
	ApproveByProvider Action = "approve_by_provider"
	RejectByConsumer  Action = "reject_by_consumer"
	RejectByProvider  Action = "reject_by_provider"
	Cancel            Action = "cancel"
	SetExecuting      Action = "set_state_executing"
	SetDone           Action = "set_state_done"
	SetErred          Action = "set_state_erred"
)

// Transition applies an action to an order, checking the state first (409
// naming the valid states) and then the caller's right to do it.
func (s *Service) Transition(ctx context.Context, p identity.Principal, id string, a Action, message string) (Order, error) {
	o, err := s.store.GetOrder(ctx, p.Scope(), id)
	if err != nil {
		return Order{}, err
	}
	off, err := s.store.GetOffering(ctx, o.OfferingID)
	if err != nil {
		return Order{}, err
	}
	now := s.now().UTC()
	var from []string
	var job *jobs.Job
	staffOnly := func() error {
		if !p.User.Staff {
			return errs.E(errs.Permission, "You do not have permission to perform this action.")
		}
		return nil
	}
	switch a {
	case ApproveByConsumer:
		from = []string{PendingConsumer}
		if !in(o.State, from) {
			return Order{}, validStates(from...)
		}
		ok, err := s.canApprove(ctx, p, o.ProjectID)
		if err != nil {
			return Order{}, err
		}
		if !ok {
			return Order{}, errs.E(errs.Permission, "You do not have permission to perform this action.")
		}
		if job, err = s.route(&o, off, p, now); err != nil {
			return Order{}, err
		}
	case ApproveByProvider:
		from = []string{PendingProvider}
		if !in(o.State, from) {
			return Order{}, validStates(from...)
		}
		if err := staffOnly(); err != nil {
			return Order{}, err
		}
		o.ProviderBy, o.ProviderAt = p.User.ID, &now
		if job, err = s.execute(&o, now); err != nil {
			return Order{}, err
		}
	case RejectByConsumer:
		from = []string{PendingConsumer}
		if !in(o.State, from) {
			return Order{}, validStates(from...)
		}
		if o.CreatedBy != p.User.ID {
			if ok, err := s.canApprove(ctx, p, o.ProjectID); err != nil || !ok {
				return Order{}, errs.E(errs.Permission, "You do not have permission to perform this action.")
			}
		}
		o.State, o.ConsumerBy, o.ConsumerAt, o.ErrorMessage = Rejected, p.User.ID, &now, message
	case RejectByProvider:
		from = []string{PendingProvider}
		if !in(o.State, from) {
			return Order{}, validStates(from...)
		}
		if err := staffOnly(); err != nil {
			return Order{}, err
		}
		o.State, o.ProviderBy, o.ProviderAt, o.ErrorMessage = Rejected, p.User.ID, &now, message
	case Cancel:
		// An executing order is already in the hands of a job, which cannot
		// be stopped half-way without leaving the resource in between.
		from = []string{PendingConsumer, PendingProvider}
		if !in(o.State, from) {
			return Order{}, validStates(from...)
		}
		if o.CreatedBy != p.User.ID {
			if ok, err := s.canApprove(ctx, p, o.ProjectID); err != nil || !ok {
				return Order{}, errs.E(errs.Permission, "You do not have permission to perform this action.")
			}
		}
		o.State = Canceled
	case SetExecuting:
		from = []string{PendingConsumer, PendingProvider, Erred}
		if !in(o.State, from) {
			return Order{}, validStates(from...)
		}
		if err := staffOnly(); err != nil {
			return Order{}, err
		}
		o.ErrorMessage = ""
		if job, err = s.execute(&o, now); err != nil {
			return Order{}, err
		}
	case SetDone, SetErred:
		from = []string{Executing}
		if a == SetErred {
			from = []string{PendingConsumer, PendingProvider, Executing}
		}
		if !in(o.State, from) {
			return Order{}, validStates(from...)
		}
		if err := staffOnly(); err != nil {
			return Order{}, err
		}
		return s.finishManually(ctx, o, a == SetDone, message, now)
	default:
		return Order{}, errs.E(errs.NotExist, "no such action")
	}
	o.Modified = now
	if err := s.store.TransitionOrder(ctx, o, from, job); err != nil {
		return Order{}, err
	}
	if o.State == Rejected || o.State == Canceled {
		if err := s.closeUnstartedResource(ctx, o, now); err != nil {
			return Order{}, err
		}
	}
	if job != nil {
		s.wake()
	}
	return o, nil
}

// closeUnstartedResource ends the resource of a Create order that never ran.
func (s *Service) closeUnstartedResource(ctx context.Context, o Order, now time.Time) error {
	if o.Type != TypeCreate {
		return nil
	}
	r, err := s.store.GetResource(ctx, access.System, o.ResourceID)
	if err != nil {
		return err
	}
	r.State, r.Modified = ResTerminated, now
	return s.store.FinishOrder(ctx, o, r)
}

func (s *Service) finishManually(ctx context.Context, o Order, done bool, msg string, now time.Time) (Order, error) {
	r, err := s.store.GetResource(ctx, access.System, o.ResourceID)
	if err != nil {
		return Order{}, err
	}
	o.Modified, o.CompletedAt = now, &now
	if done {
		o.State = Done
		r.State = resourceStateAfter(o.Type)
		if o.Type != TypeTerminate {
			r.Limits = o.Limits
		}
	} else {
		o.State, o.ErrorMessage = Erred, msg
		r.State, r.ErrorMessage = ResErred, msg
	}
	r.Modified = now
	return o, s.store.FinishOrder(ctx, o, r)
}

func resourceStateAfter(orderType string) string {
	if orderType == TypeTerminate {
		return ResTerminated
	}
	return ResOK
}

// DeleteOrder removes an order that has not started.
func (s *Service) DeleteOrder(ctx context.Context, p identity.Principal, id string) error {
	o, err := s.store.GetOrder(ctx, p.Scope(), id)
	if err != nil {
		return err
	}
	from := []string{PendingConsumer, PendingProvider}
	if !in(o.State, from) {
		return validStates(from...)
	}
	if o.CreatedBy != p.User.ID {
		if ok, err := s.canApprove(ctx, p, o.ProjectID); err != nil || !ok {
			return errs.E(errs.Permission, "You do not have permission to perform this action.")
		}
	}
	if err := s.closeUnstartedResource(ctx, o, s.now().UTC()); err != nil {
		return err
	}
	return s.store.DeleteOrder(ctx, id, from)
}

// UnlinkOrder removes an order's record in any state, for staff cleaning
// up after the backend was fixed by hand. It touches no resource.
func (s *Service) UnlinkOrder(ctx context.Context, p identity.Principal, id string) error {
	o, err := s.store.GetOrder(ctx, p.Scope(), id)
	if err != nil {
		return err
	}
	if !p.User.Staff {
		return errs.E(errs.Permission, "You do not have permission to perform this action.")
	}
	return s.store.DeleteOrder(ctx, o.ID, []string{o.State})
}

// fulfil carries out an executing order through the offering's provisioner.
func (s *Service) fulfil(ctx context.Context, j jobs.Job) (any, error) {
	var payload struct {
		OrderID string `json:"order_id"`
	}
	if err := json.Unmarshal(j.Payload, &payload); err != nil {
		return nil, errs.Wrap(errs.Invalid, "bad job payload", err)
	}
	o, err := s.store.GetOrder(ctx, access.System, payload.OrderID)
	if err != nil {
		return nil, err
	}
	if o.State != Executing {
		return nil, nil // already finished by an earlier attempt or by staff
	}
	off, err := s.store.GetOffering(ctx, o.OfferingID)
	if err != nil {
		return nil, err
	}
	r, err := s.store.GetResource(ctx, access.System, o.ResourceID)
	if err != nil {
		return nil, err
	}
	prov, ok := s.provisioners[off.Kind]
	if !ok {
		return nil, errs.E(errs.Invalid, "no provisioner for offering kind %s", off.Kind)
	}
	now := s.now().UTC()
	switch o.Type {
	case TypeCreate:
		sc, err := prov.Create(ctx, r, off)
		if err != nil {
			return nil, err
		}
		r.ScopeType, r.ScopeID, r.BackendID = sc.Type, sc.ID, sc.ID
		r.Limits = o.Limits
	case TypeUpdate:
		if err := prov.Update(ctx, r, off, o.Limits); err != nil {
			return nil, err
		}
		r.Limits = o.Limits
		if o.PlanID != "" {
			r.PlanID = o.PlanID
		}
	case TypeTerminate:
		if err := prov.Terminate(ctx, r, off); err != nil {
			return nil, err
		}
	}
	o.State, o.Modified, o.CompletedAt = Done, now, &now
	r.State, r.Modified, r.ErrorMessage = resourceStateAfter(o.Type), now, ""
	if err := s.store.FinishOrder(ctx, o, r); err != nil {
		return nil, err
	}
	return map[string]string{"resource_id": r.ID, "scope_id": r.ScopeID}, nil
}

// fulfilFailed marks the order erred; a failed Create leaves its resource
// Erred, a failed Update or Terminate leaves the resource as it was, OK.
func (s *Service) fulfilFailed(ctx context.Context, j jobs.Job, cause error) error {
	var payload struct {
		OrderID string `json:"order_id"`
	}
	if err := json.Unmarshal(j.Payload, &payload); err != nil {
		return err
	}
	o, err := s.store.GetOrder(ctx, access.System, payload.OrderID)
	if err != nil {
		return err
	}
	r, err := s.store.GetResource(ctx, access.System, o.ResourceID)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	msg := errs.Message(cause)
	o.State, o.ErrorMessage, o.Modified, o.CompletedAt = Erred, msg, now, &now
	r.ErrorMessage, r.Modified = msg, now
	if o.Type == TypeCreate {
		r.State = ResErred
	} else {
		r.State = ResOK
	}
	return s.store.FinishOrder(ctx, o, r)
}
