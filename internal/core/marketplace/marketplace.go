// Package marketplace owns the catalog and the order lifecycle: offerings
// with their components and plans, orders (Create, Update, Terminate) and the
// Waldur-style state machine with consumer and provider approval, the
// marketplace resources orders create, and cost estimates. It fulfils orders
// through provisioners registered per offering kind (object storage, block
// volume), which the server wires to the services that own those resources.
package marketplace

import (
	"context"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/jobs"
)

// Kind says what an offering provisions.
type Kind string

const (
	KindObjectStorage Kind = "object_storage"
	KindVolume        Kind = "volume"
)

// Offering states.
const (
	OfferingActive   = "Active"
	OfferingPaused   = "Paused"
	OfferingArchived = "Archived"
)

// Component is a measurable part of an offering, such as storage in GB.
type Component struct {
	Type         string `json:"type"`
	Name         string `json:"name"`
	MeasuredUnit string `json:"measured_unit"`
	BillingType  string `json:"billing_type"` // fixed, usage, limit, one
	MinValue     int64  `json:"min_value"`
	MaxValue     int64  `json:"max_value"`
}

// Offering is a product in the catalog.
type Offering struct {
	ID          string
	Name        string
	Description string
	Kind        Kind
	// Type is the Waldur plugin type shown to Waldur clients.
	Type string
	// VolumeType is the volume type a volume offering provisions.
	VolumeType string
	Category   string
	State      string
	Shared     bool
	Billable   bool
	// ProviderApproval makes every order wait in pending-provider until
	// staff approve it.
	ProviderApproval bool
	Components       []Component
	Created          time.Time
	Modified         time.Time
}

// Component returns the component of the given type.
func (o Offering) Component(typ string) (Component, bool) {
	for _, c := range o.Components {
		if c.Type == typ {
			return c, true
		}
	}
	return Component{}, false
}

// Plan is a price list for an offering. Prices are decimal strings per unit
// of each component, so money never passes through floating point.
type Plan struct {
	ID          string
	OfferingID  string
	Name        string
	Description string
	Unit        string // month, quarter, half_month, day, hour, quantity
	Prices      map[string]string
	InitPrice   string
	SwitchPrice string
	Archived    bool
	Created     time.Time
}

// Order types.
const (
	TypeCreate    = "Create"
	TypeUpdate    = "Update"
	TypeTerminate = "Terminate"
)

// Order states.
const (
	PendingConsumer = "pending-consumer"
	PendingProvider = "pending-provider"
	Executing       = "executing"
	Done            = "done"
	Erred           = "erred"
	Canceled        = "canceled"
	Rejected        = "rejected"
)

// Resource states, as Waldur spells them.
const (
	ResCreating    = "Creating"
	ResOK          = "OK"
	ResErred       = "Erred"
	ResUpdating    = "Updating"
	ResTerminating = "Terminating"
	ResTerminated  = "Terminated"
)

// Order is a request to create, change or remove one resource.
type Order struct {
	ID           string
	ProjectID    string
	OfferingID   string
	PlanID       string
	ResourceID   string
	Type         string
	State        string
	Attributes   map[string]any
	Limits       map[string]int64
	Cost         string
	CreatedBy    string
	ConsumerBy   string // user id that approved for the consumer
	ConsumerAt   *time.Time
	ProviderBy   string
	ProviderAt   *time.Time
	ErrorMessage string
	OldPlanID    string
	Created      time.Time
	Modified     time.Time
	CompletedAt  *time.Time
}

// Resource is what orders create and manage.
type Resource struct {
	ID           string
	ProjectID    string
	OfferingID   string
	PlanID       string
	Name         string
	Description  string
	State        string
	Attributes   map[string]any
	Limits       map[string]int64
	ScopeType    string // e.g. "object_storage", "volume"
	ScopeID      string
	BackendID    string
	ErrorMessage string
	Created      time.Time
	Modified     time.Time
}

// Scope is the backend object a provisioner made for a resource.
type Scope struct {
	Type string
	ID   string
}

// Provisioner fulfils orders for one offering kind. Every method must be
// idempotent: a job may run it again after a crash.
type Provisioner interface {
	Create(ctx context.Context, r Resource, o Offering) (Scope, error)
	Update(ctx context.Context, r Resource, o Offering, limits map[string]int64) error
	Terminate(ctx context.Context, r Resource, o Offering) error
}

// OrderChecker is a Provisioner that can tell, when a Create order is
// placed, whether it could fulfil it: a bad order is then refused at once
// instead of being recorded and erring later.
type OrderChecker interface {
	Check(ctx context.Context, o Offering, attributes map[string]any, limits map[string]int64) error
}

// OrderFilter narrows order lists.
type OrderFilter struct {
	States       []string
	Types        []string
	ProjectID    string
	OrgID        string
	OfferingID   string
	ResourceID   string
	OfferingKind Kind
}

// ResourceFilter narrows resource lists.
type ResourceFilter struct {
	States     []string
	ProjectID  string
	OrgID      string
	OfferingID string
	Name       string
}

// Store is what marketplace needs from persistence.
type Store interface {
	PutOffering(ctx context.Context, o Offering) error
	GetOffering(ctx context.Context, id string) (Offering, error)
	ListOfferings(ctx context.Context) ([]Offering, error)
	PutPlan(ctx context.Context, p Plan) error
	GetPlan(ctx context.Context, id string) (Plan, error)
	ListPlans(ctx context.Context, offeringID string) ([]Plan, error)
	CountOfferings(ctx context.Context) (int, error)

	// CreateOrder records an order, its resource (for Create) and, when
	// the order starts executing, its job, in one transaction. For Update
	// and Terminate it fails with errs.Conflict when another order of the
	// resource is not yet terminal.
	CreateOrder(ctx context.Context, o Order, r *Resource, j *jobs.Job) error
	// TransitionOrder moves an order from one of from to o.State, saving
	// o's review fields, and inserts j when given; errs.Conflict when the
	// order is no longer in one of from.
	TransitionOrder(ctx context.Context, o Order, from []string, j *jobs.Job) error
	GetOrder(ctx context.Context, s access.Scope, id string) (Order, error)
	ListOrders(ctx context.Context, s access.Scope, f OrderFilter, offset, limit int) ([]Order, int, error)
	DeleteOrder(ctx context.Context, id string, from []string) error

	GetResource(ctx context.Context, s access.Scope, id string) (Resource, error)
	ListResources(ctx context.Context, s access.Scope, f ResourceFilter, offset, limit int) ([]Resource, int, error)
	// FinishOrder records the outcome of an executing order and the state
	// of its resource together.
	FinishOrder(ctx context.Context, o Order, r Resource) error
}
