package waldur

import (
	"context"
	"net/http"
	"strings"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// lookups caches the names an order or resource representation shows, for
// one request.
type lookups struct {
	a        *API
	r        *http.Request
	offers   map[string]marketplace.Offering
	plans    map[string]marketplace.Plan
	projects map[string]identity.Project
	orgs     map[string]identity.Organisation
	provider *identity.Organisation
}

func (a *API) lookups(r *http.Request) *lookups {
	return &lookups{a: a, r: r, offers: map[string]marketplace.Offering{}, plans: map[string]marketplace.Plan{},
		projects: map[string]identity.Project{}, orgs: map[string]identity.Organisation{}}
}

func (l *lookups) offering(id string) marketplace.Offering {
	if o, ok := l.offers[id]; ok {
		return o
	}
	o, _ := l.a.market.Offering(l.r.Context(), id)
	l.offers[id] = o
	return o
}

func (l *lookups) plan(id string) (marketplace.Plan, bool) {
	if id == "" {
		return marketplace.Plan{}, false
	}
	if p, ok := l.plans[id]; ok {
		return p, true
	}
	p, err := l.a.market.Plan(l.r.Context(), id)
	l.plans[id] = p
	return p, err == nil
}

// providerOrg is the service provider's organisation, read once per request.
func (l *lookups) providerOrg() (identity.Organisation, bool) {
	if l.provider == nil {
		o, _ := l.a.provider(l.r)
		l.provider = &o
	}
	return *l.provider, l.provider.ID != ""
}

func (l *lookups) project(id string) (identity.Project, identity.Organisation) {
	p, ok := l.projects[id]
	if !ok {
		p, _ = l.a.identity.GetProject(l.r.Context(), httpapi.Principal(l.r.Context()), id)
		l.projects[id] = p
	}
	o, ok := l.orgs[p.OrganisationID]
	if !ok {
		o, _ = l.a.identity.GetOrganisation(l.r.Context(), httpapi.Principal(l.r.Context()), p.OrganisationID)
		l.orgs[p.OrganisationID] = o
	}
	return p, o
}

// offeringFields are the offering_*, provider_* and category_* fields that
// orders and resources share.
func (l *lookups) offeringFields(m map[string]any, offeringID, planID string) {
	r := l.r
	o := l.offering(offeringID)
	m["offering"], m["offering_name"], m["offering_uuid"] = offeringURL(r, o.ID), o.Name, hex(o.ID)
	m["offering_description"], m["offering_type"], m["offering_shared"] = o.Description, o.Type, o.Shared
	m["offering_billable"], m["offering_plugin_options"] = o.Billable, map[string]any{}
	if org, ok := l.providerOrg(); ok {
		m["provider_name"], m["provider_uuid"] = org.Name, hex(org.ID)
	}
	m["category_title"], m["category_uuid"] = o.Category, categoryID(o.Category)
	m["plan"], m["plan_unit"], m["plan_name"], m["plan_uuid"], m["plan_description"] = nil, nil, "", nil, ""
	if p, ok := l.plan(planID); ok {
		m["plan"], m["plan_unit"], m["plan_name"], m["plan_uuid"], m["plan_description"] = planURL(r, o.ID, p.ID), p.Unit, p.Name, hex(p.ID), p.Description
	}
}

func (l *lookups) projectFields(m map[string]any, projectID string) {
	p, o := l.project(projectID)
	m["project"], m["project_uuid"], m["project_name"], m["project_description"] = base(l.r)+"/api/projects/"+hex(p.ID)+"/", hex(p.ID), p.Name, p.Description
	m["customer_uuid"], m["customer_name"] = hex(o.ID), o.Name
}

func (a *API) userName(ctx context.Context, id string) (any, string) {
	if id == "" {
		return nil, ""
	}
	p := httpapi.Principal(ctx)
	if p.User.ID == id {
		return p.User.Username, p.User.FullName
	}
	u, err := a.identity.PublicUser(ctx, id)
	if err != nil {
		return nil, ""
	}
	return u.Username, u.FullName
}

func scopeType(kind string) any {
	switch kind {
	case "volume":
		return "OpenStack.Volume"
	case "object_storage":
		return "Marketplace.Resource"
	}
	return nil
}

func (l *lookups) orderJSON(o marketplace.Order) map[string]any {
	r := l.r
	m := map[string]any{
		"url": base(r) + "/api/marketplace-orders/" + hex(o.ID) + "/", "uuid": hex(o.ID), "created": stamp(o.Created),
		"modified": stamp(o.Modified), "type": o.Type, "state": o.State, "attributes": o.Attributes, "limits": o.Limits,
		"cost": nil, "marketplace_resource_uuid": hex(o.ResourceID), "output": "", "error_message": o.ErrorMessage,
		"error_traceback": "", "callback_url": nil, "consumer_reviewed_at": stampPtr(o.ConsumerAt),
		"provider_reviewed_at": stampPtr(o.ProviderAt), "completed_at": stampPtr(o.CompletedAt),
		"old_plan_name": "", "new_plan_name": "", "old_plan_uuid": nil, "new_plan_uuid": nil,
		"old_cost_estimate": 0, "new_cost_estimate": nil, "can_terminate": false, "fixed_price": 0, "activation_price": 0,
		"termination_comment": "", "backend_id": "", "start_date": nil, "request_comment": "", "slug": hex(o.ID),
		"auto_approved": o.ConsumerBy == o.CreatedBy && o.ConsumerBy != "",
	}
	if o.Cost != "" {
		m["cost"], m["new_cost_estimate"] = decimal(o.Cost), decimal(o.Cost)
	}
	l.offeringFields(m, o.OfferingID, o.PlanID)
	l.projectFields(m, o.ProjectID)
	if pl, ok := l.plan(o.PlanID); ok {
		m["activation_price"], m["fixed_price"] = number(pl.InitPrice), fixedPrice(l.offering(o.OfferingID), pl)
	}
	m["created_by_username"], m["created_by_full_name"] = l.a.userName(r.Context(), o.CreatedBy)
	m["consumer_reviewed_by"], m["consumer_reviewed_by_full_name"] = l.a.userName(r.Context(), o.ConsumerBy)
	m["provider_reviewed_by"], m["provider_reviewed_by_full_name"] = l.a.userName(r.Context(), o.ProviderBy)
	if old, ok := l.plan(o.OldPlanID); ok {
		m["old_plan_name"], m["old_plan_uuid"] = old.Name, hex(old.ID)
		if np, ok := l.plan(o.PlanID); ok {
			m["new_plan_name"], m["new_plan_uuid"] = np.Name, hex(np.ID)
		}
	}
	m["resource_uuid"], m["resource_type"], m["resource_name"] = nil, nil, ""
	if res, err := l.a.market.Resource(r.Context(), httpapi.Principal(r.Context()), o.ResourceID); err == nil {
		m["resource_name"] = res.Name
		if res.ScopeID != "" {
			m["resource_uuid"], m["resource_type"] = hex(res.ScopeID), scopeType(res.ScopeType)
		}
	}
	return m
}

func (a *API) createOrder(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Project    any            `json:"project"`
		Offering   any            `json:"offering"`
		Plan       any            `json:"plan"`
		Attributes map[string]any `json:"attributes"`
		Limits     map[string]any `json:"limits"`
		Type       *string        `json:"type"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	bad := fieldErrors{}
	project, err := ref(in.Project, "project", "/api/projects/")
	collect(bad, err)
	offering, err := ref(in.Offering, "offering", "/api/marketplace-public-offerings/")
	collect(bad, err)
	plan, err := planRef(in.Plan)
	collect(bad, err)
	if in.Project == nil {
		bad["project"] = []string{"This field is required."}
	}
	if in.Offering == nil {
		bad["offering"] = []string{"This field is required."}
	}
	limits := map[string]int64{}
	limitErrs := map[string]any{}
	for k, v := range in.Limits {
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			limitErrs[k] = []string{"A valid integer is required."}
			continue
		}
		limits[k] = int64(f)
	}
	if len(limitErrs) > 0 {
		bad["limits"] = limitErrs
	}
	typ := marketplace.TypeCreate
	if in.Type != nil {
		typ = *in.Type
	}
	if len(bad) > 0 {
		return bad
	}
	if err := a.volumeAttributes(r, offering, in.Attributes); err != nil {
		return err
	}
	o, err := a.market.CreateOrder(r.Context(), httpapi.Principal(r.Context()), marketplace.OrderInput{
		ProjectID: project, OfferingID: offering, PlanID: plan, Type: typ, Attributes: in.Attributes, Limits: limits})
	if err != nil {
		return orderError(err)
	}
	return writeOne(w, r, http.StatusCreated, a.lookups(r).orderJSON(o))
}

// volumeAttributes turns the hyperlinks in a volume order's attributes
// (type, availability_zone: §6.4) into the names the core reads; names
// pass as they are. The core then checks the order as a whole.
func (a *API) volumeAttributes(r *http.Request, offeringID string, attrs map[string]any) error {
	if a.vols == nil || attrs == nil {
		return nil
	}
	if off, err := a.market.Offering(r.Context(), offeringID); err != nil || off.Kind != marketplace.KindVolume {
		return nil
	}
	refs := []struct {
		field, prefix string
		name          func(id string) (string, bool)
	}{
		{"type", "/api/openstack-volume-types/", func(id string) (string, bool) { t, ok := a.typeByID(id); return t.Name, ok }},
		{"availability_zone", "/api/openstack-volume-availability-zones/", a.zoneByID},
	}
	for _, f := range refs {
		s, isStr := attrs[f.field].(string)
		if _, isID := parseID(s); !isStr || (!isID && !strings.Contains(s, "/")) {
			continue
		}
		id, err := ref(s, f.field, f.prefix)
		if fe, ok := err.(fieldErrors); ok {
			return fieldErrors{"attributes": map[string]any(fe)}
		}
		name, ok := f.name(id)
		if !ok {
			return fieldErrors{"attributes": map[string]any{f.field: []string{"Invalid hyperlink - Object does not exist."}}}
		}
		attrs[f.field] = name
	}
	return nil
}

// planRef accepts the public plan URL (the only form Waldur accepts) or a
// bare uuid; the provider form /api/marketplace-plans/ is refused as Waldur
// refuses it.
func planRef(v any) (string, error) {
	s, _ := v.(string)
	if s != "" {
		if _, ok := parseID(s); !ok {
			i := strings.Index(s, "/plans/")
			if i < 0 || !strings.Contains(s, "/api/marketplace-public-offerings/") {
				return "", fieldErrors{"plan": []string{"Invalid hyperlink - Incorrect URL match."}}
			}
			return ref(s[i:], "plan", "/plans/")
		}
	}
	return ref(v, "plan", "/plans/")
}

func collect(into fieldErrors, err error) {
	if fe, ok := err.(fieldErrors); ok {
		for k, v := range fe {
			into[k] = v
		}
	}
}

// orderError renders "pending order exists" as the list Waldur raises at
// save time.
func orderError(err error) error {
	if errs.Is(err, errs.Conflict) && strings.HasPrefix(errs.Message(err), "Pending order") {
		return errs.E(errs.Invalid, "%s", errs.Message(err))
	}
	return err
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	o, err := a.market.Order(r.Context(), httpapi.Principal(r.Context()), id)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, a.lookups(r).orderJSON(o))
}

// uuidFilter reads an optional uuid query parameter, answering 400 as
// django-filter does when it is malformed.
func uuidFilter(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", nil
	}
	id, ok := parseID(v)
	if !ok {
		return "", fieldErrors{name: []string{"Enter a valid UUID."}}
	}
	return id, nil
}

func (a *API) listOrders(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := marketplace.OrderFilter{States: q["state"], Types: q["type"]}
	bad := fieldErrors{}
	for name, dst := range map[string]*string{"project_uuid": &f.ProjectID, "customer_uuid": &f.OrgID, "offering_uuid": &f.OfferingID, "resource_uuid": &f.ResourceID} {
		v, err := uuidFilter(r, name)
		collect(bad, err)
		*dst = v
	}
	if v := q.Get("offering"); v != "" {
		id, err := ref(v, "offering", "/api/marketplace-public-offerings/")
		collect(bad, err)
		f.OfferingID = id
	}
	if v := q.Get("resource"); v != "" {
		id, err := ref(v, "resource", "/api/marketplace-resources/")
		collect(bad, err)
		f.ResourceID = id
	}
	if len(bad) > 0 {
		return bad
	}
	orders, total, err := a.market.Orders(r.Context(), httpapi.Principal(r.Context()), f, (pg-1)*size, size)
	if err != nil {
		return err
	}
	l := a.lookups(r)
	var items []map[string]any
	for _, o := range orders {
		items = append(items, l.orderJSON(o))
	}
	return writePage(w, r, items, total, pg, size)
}

func (a *API) deleteOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	if err := a.market.DeleteOrder(r.Context(), httpapi.Principal(r.Context()), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) orderAction(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	action := marketplace.Action(r.PathValue("action"))
	var in struct {
		ErrorMessage             string `json:"error_message"`
		ConsumerRejectionComment string `json:"consumer_rejection_comment"`
		ProviderRejectionComment string `json:"provider_rejection_comment"`
	}
	if r.ContentLength != 0 {
		if err := a.decode(r, &in); err != nil {
			return err
		}
	}
	msg := in.ErrorMessage + in.ConsumerRejectionComment + in.ProviderRejectionComment
	p := httpapi.Principal(r.Context())
	if action == "unlink" {
		if err := a.market.UnlinkOrder(r.Context(), p, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	switch action {
	case marketplace.ApproveByConsumer, marketplace.ApproveByProvider, marketplace.RejectByConsumer, marketplace.RejectByProvider,
		marketplace.Cancel, marketplace.SetExecuting, marketplace.SetDone, marketplace.SetErred:
	default:
		return errNotFound
	}
	if _, err := a.market.Transition(r.Context(), p, id, action, msg); err != nil {
		return err
	}
	switch action {
	case marketplace.Cancel:
		w.WriteHeader(http.StatusAccepted)
		return nil
	case marketplace.ApproveByConsumer, marketplace.ApproveByProvider:
		return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"detail": "Order has been approved."})
	case marketplace.RejectByConsumer, marketplace.RejectByProvider:
		return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"detail": "Order has been rejected."})
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"detail": "Order state has been updated."})
}

func (l *lookups) resourceJSON(res marketplace.Resource) map[string]any {
	r := l.r
	m := map[string]any{
		"url": base(r) + "/api/marketplace-resources/" + hex(res.ID) + "/", "uuid": hex(res.ID), "name": res.Name,
		"slug": hex(res.ID), "description": res.Description, "state": res.State, "attributes": res.Attributes,
		"limits": res.Limits, "current_usages": l.currentUsages(res), "limit_usage": map[string]any{}, "scope": nil,
		"resource_uuid": nil, "resource_type": nil, "backend_id": res.BackendID, "effective_id": "",
		"parent_uuid": nil, "parent_name": "", "backend_metadata": map[string]any{},
		"is_usage_based": len(usageComponents(l.offering(res.OfferingID))) > 0, "offering_components": componentsJSON(l.offering(res.OfferingID)),
		"is_limit_based": true, "created": stamp(res.Created), "modified": stamp(res.Modified), "end_date": nil,
		"username": nil, "can_terminate": res.State == marketplace.ResOK || res.State == marketplace.ResErred,
		"downscaled": false, "restrict_member_access": false, "paused": false, "endpoints": []any{},
		"error_message": res.ErrorMessage, "error_traceback": "", "options": map[string]any{},
		"available_actions": []string{"terminate", "update_limits", "switch_plan"},
	}
	if res.ScopeID != "" {
		m["resource_uuid"], m["resource_type"] = hex(res.ScopeID), scopeType(res.ScopeType)
	}
	l.offeringFields(m, res.OfferingID, res.PlanID)
	l.projectFields(m, res.ProjectID)
	return m
}

func (a *API) getResource(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	res, err := a.market.Resource(r.Context(), httpapi.Principal(r.Context()), id)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, a.lookups(r).resourceJSON(res))
}

func (a *API) listResources(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := marketplace.ResourceFilter{States: q["state"], Name: q.Get("name")}
	bad := fieldErrors{}
	for name, dst := range map[string]*string{"project_uuid": &f.ProjectID, "customer_uuid": &f.OrgID, "offering_uuid": &f.OfferingID} {
		v, err := uuidFilter(r, name)
		collect(bad, err)
		*dst = v
	}
	if len(bad) > 0 {
		return bad
	}
	rs, total, err := a.market.Resources(r.Context(), httpapi.Principal(r.Context()), f, (pg-1)*size, size)
	if err != nil {
		return err
	}
	l := a.lookups(r)
	var items []map[string]any
	for _, res := range rs {
		items = append(items, l.resourceJSON(res))
	}
	return writePage(w, r, items, total, pg, size)
}

// resourceAction creates the Update or Terminate order a resource action
// stands for and answers with its uuid.
func (a *API) resourceAction(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	p := httpapi.Principal(r.Context())
	res, err := a.market.Resource(r.Context(), p, id)
	if err != nil {
		return err
	}
	var in struct {
		Limits     map[string]any `json:"limits"`
		Plan       any            `json:"plan"`
		Attributes map[string]any `json:"attributes"`
	}
	if r.ContentLength != 0 {
		if err := a.decode(r, &in); err != nil {
			return err
		}
	}
	oi := marketplace.OrderInput{ResourceID: res.ID, Attributes: in.Attributes}
	switch r.PathValue("action") {
	case "terminate":
		oi.Type = marketplace.TypeTerminate
	case "update_limits":
		oi.Type, oi.Limits = marketplace.TypeUpdate, map[string]int64{}
		if in.Limits == nil {
			return fieldErrors{"limits": []string{"This field is required."}}
		}
		for k, v := range in.Limits {
			f, ok := v.(float64)
			if !ok || f != float64(int64(f)) {
				return fieldErrors{"limits": map[string]any{k: []string{"A valid integer is required."}}}
			}
			oi.Limits[k] = int64(f)
		}
	case "switch_plan":
		oi.Type, oi.Limits = marketplace.TypeUpdate, res.Limits
		plan, err := planRef(in.Plan)
		if err != nil {
			return err
		}
		if plan == "" {
			return fieldErrors{"plan": []string{"This field is required."}}
		}
		oi.PlanID = plan
	default:
		return errNotFound
	}
	o, err := a.market.CreateOrder(r.Context(), p, oi)
	if err != nil {
		return orderError(err)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"order_uuid": hex(o.ID)})
}
