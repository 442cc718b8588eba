package native

import (
	"net/http"
	"strconv"

	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

type offeringJSON struct {
	ID               string                  `json:"id"`
	Name             string                  `json:"name"`
	Description      string                  `json:"description"`
	Kind             marketplace.Kind        `json:"kind"`
	Type             string                  `json:"type"`
	VolumeType       string                  `json:"volume_type,omitempty"`
	Category         string                  `json:"category"`
	State            string                  `json:"state"`
	ProviderApproval bool                    `json:"provider_approval"`
	Components       []marketplace.Component `json:"components"`
	CreatedAt        string                  `json:"created_at"`
}

func offeringOut(o marketplace.Offering) offeringJSON {
	if o.Components == nil {
		o.Components = []marketplace.Component{}
	}
	return offeringJSON{ID: o.ID, Name: o.Name, Description: o.Description, Kind: o.Kind, Type: o.Type, VolumeType: o.VolumeType,
		Category: o.Category, State: o.State, ProviderApproval: o.ProviderApproval, Components: o.Components, CreatedAt: stamp(o.Created)}
}

type planJSON struct {
	ID          string            `json:"id"`
	OfferingID  string            `json:"offering_id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Unit        string            `json:"unit"`
	Prices      map[string]string `json:"prices"`
	InitPrice   string            `json:"init_price"`
	SwitchPrice string            `json:"switch_price"`
	Archived    bool              `json:"archived"`
}

func planOut(p marketplace.Plan) planJSON {
	return planJSON{ID: p.ID, OfferingID: p.OfferingID, Name: p.Name, Description: p.Description, Unit: p.Unit,
		Prices: p.Prices, InitPrice: p.InitPrice, SwitchPrice: p.SwitchPrice, Archived: p.Archived}
}

type orderJSON struct {
	ID           string           `json:"id"`
	ProjectID    string           `json:"project_id"`
	OfferingID   string           `json:"offering_id"`
	PlanID       string           `json:"plan_id,omitempty"`
	ResourceID   string           `json:"resource_id"`
	Type         string           `json:"type"`
	State        string           `json:"state"`
	Attributes   map[string]any   `json:"attributes"`
	Limits       map[string]int64 `json:"limits"`
	Cost         string           `json:"cost,omitempty"`
	ErrorMessage string           `json:"error_message"`
	CreatedAt    string           `json:"created_at"`
	UpdatedAt    string           `json:"updated_at"`
	CompletedAt  *string          `json:"completed_at"`
}

func orderOut(o marketplace.Order) orderJSON {
	return orderJSON{ID: o.ID, ProjectID: o.ProjectID, OfferingID: o.OfferingID, PlanID: o.PlanID, ResourceID: o.ResourceID,
		Type: o.Type, State: o.State, Attributes: o.Attributes, Limits: o.Limits, Cost: o.Cost, ErrorMessage: o.ErrorMessage,
		CreatedAt: stamp(o.Created), UpdatedAt: stamp(o.Modified), CompletedAt: timePtr(o.CompletedAt)}
}

type resourceJSON struct {
	ID           string           `json:"id"`
	ProjectID    string           `json:"project_id"`
	OfferingID   string           `json:"offering_id"`
	PlanID       string           `json:"plan_id,omitempty"`
	Name         string           `json:"name"`
	State        string           `json:"state"`
	Limits       map[string]int64 `json:"limits"`
	ScopeType    string           `json:"scope_type,omitempty"`
	ScopeID      string           `json:"scope_id,omitempty"`
	ErrorMessage string           `json:"error_message"`
	CreatedAt    string           `json:"created_at"`
}

func resourceOut(r marketplace.Resource) resourceJSON {
	return resourceJSON{ID: r.ID, ProjectID: r.ProjectID, OfferingID: r.OfferingID, PlanID: r.PlanID, Name: r.Name, State: r.State,
		Limits: r.Limits, ScopeType: r.ScopeType, ScopeID: r.ScopeID, ErrorMessage: r.ErrorMessage, CreatedAt: stamp(r.Created)}
}

func (a *API) listOfferings(w http.ResponseWriter, r *http.Request) error {
	offs, err := a.market.Offerings(r.Context())
	if err != nil {
		return err
	}
	out := list[offeringJSON]{Items: []offeringJSON{}}
	for _, o := range offs {
		out.Items = append(out.Items, offeringOut(o))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) getOffering(w http.ResponseWriter, r *http.Request) error {
	o, err := a.market.Offering(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, offeringOut(o))
}

func (a *API) createOffering(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name             string                  `json:"name"`
		Description      string                  `json:"description"`
		Kind             marketplace.Kind        `json:"kind"`
		VolumeType       string                  `json:"volume_type"`
		Category         string                  `json:"category"`
		ProviderApproval bool                    `json:"provider_approval"`
		Components       []marketplace.Component `json:"components"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	o, err := a.market.CreateOffering(r.Context(), httpapi.Principal(r.Context()), marketplace.Offering{
		Name: in.Name, Description: in.Description, Kind: in.Kind, VolumeType: in.VolumeType, Category: in.Category,
		ProviderApproval: in.ProviderApproval, Components: in.Components, Shared: true, Billable: true})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, offeringOut(o))
}

func (a *API) updateOffering(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		State            string `json:"state"`
		ProviderApproval *bool  `json:"provider_approval"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	o, err := a.market.SetOfferingState(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), in.State, in.ProviderApproval)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, offeringOut(o))
}

func (a *API) listPlans(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.market.Offering(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	ps, err := a.market.Plans(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := list[planJSON]{Items: []planJSON{}}
	for _, p := range ps {
		out.Items = append(out.Items, planOut(p))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) createPlan(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name        string            `json:"name"`
		Description string            `json:"description"`
		Unit        string            `json:"unit"`
		Prices      map[string]string `json:"prices"`
		InitPrice   string            `json:"init_price"`
		SwitchPrice string            `json:"switch_price"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	p, err := a.market.CreatePlan(r.Context(), httpapi.Principal(r.Context()), marketplace.Plan{OfferingID: r.PathValue("id"),
		Name: in.Name, Description: in.Description, Unit: in.Unit, Prices: in.Prices, InitPrice: in.InitPrice, SwitchPrice: in.SwitchPrice})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, planOut(p))
}

// offset reads the offset pagination that marketplace lists share with
// the Waldur dialect: limit plus an opaque cursor holding the offset.
func offset(r *http.Request) (off, limit int, err error) {
	pr, err := httpapi.ParsePage(r)
	if err != nil {
		return 0, 0, err
	}
	pr = pr.Normalize()
	if pr.After != "" {
		if off, err = strconv.Atoi(pr.After); err != nil || off < 0 {
			return 0, 0, errs.Field("cursor", "cursor is not one this server issued")
		}
	}
	return off, pr.Limit, nil
}

func nextCursor(off, n, total int) string {
	if off+n >= total {
		return ""
	}
	return page.EncodeCursor(strconv.Itoa(off + n))
}

func (a *API) listOrders(w http.ResponseWriter, r *http.Request) error {
	off, limit, err := offset(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := marketplace.OrderFilter{States: q["state"], Types: q["type"], ProjectID: q.Get("project_id"), ResourceID: q.Get("resource_id")}
	os, total, err := a.market.Orders(r.Context(), httpapi.Principal(r.Context()), f, off, limit)
	if err != nil {
		return err
	}
	out := list[orderJSON]{Items: []orderJSON{}, NextCursor: nextCursor(off, len(os), total)}
	for _, o := range os {
		out.Items = append(out.Items, orderOut(o))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) createOrder(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ProjectID  string           `json:"project_id"`
		OfferingID string           `json:"offering_id"`
		PlanID     string           `json:"plan_id"`
		Type       string           `json:"type"`
		ResourceID string           `json:"resource_id"`
		Attributes map[string]any   `json:"attributes"`
		Limits     map[string]int64 `json:"limits"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	o, err := a.market.CreateOrder(r.Context(), httpapi.Principal(r.Context()), marketplace.OrderInput{
		ProjectID: in.ProjectID, OfferingID: in.OfferingID, PlanID: in.PlanID, Type: in.Type, ResourceID: in.ResourceID,
		Attributes: in.Attributes, Limits: in.Limits})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, orderOut(o))
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request) error {
	o, err := a.market.Order(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, orderOut(o))
}

func (a *API) orderAction(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Message string `json:"message"`
	}
	if r.ContentLength != 0 {
		if err := a.decode(r, &in); err != nil {
			return err
		}
	}
	action := marketplace.Action(r.PathValue("action"))
	switch action {
	case marketplace.ApproveByConsumer, marketplace.ApproveByProvider, marketplace.RejectByConsumer, marketplace.RejectByProvider,
		marketplace.Cancel, marketplace.SetExecuting, marketplace.SetDone, marketplace.SetErred:
	default:
		return errs.E(errs.NotExist, "no order action %q", action)
	}
	o, err := a.market.Transition(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), action, in.Message)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, orderOut(o))
}

func (a *API) listResources(w http.ResponseWriter, r *http.Request) error {
	off, limit, err := offset(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := marketplace.ResourceFilter{States: q["state"], ProjectID: q.Get("project_id"), Name: q.Get("name")}
	rs, total, err := a.market.Resources(r.Context(), httpapi.Principal(r.Context()), f, off, limit)
	if err != nil {
		return err
	}
	out := list[resourceJSON]{Items: []resourceJSON{}, NextCursor: nextCursor(off, len(rs), total)}
	for _, res := range rs {
		out.Items = append(out.Items, resourceOut(res))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) getResource(w http.ResponseWriter, r *http.Request) error {
	res, err := a.market.Resource(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, resourceOut(res))
}
