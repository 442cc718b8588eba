package waldur

import (
	"crypto/md5"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/errs"
)

// categoryID derives a stable uuid for a category name: categories are a
// label on offerings here, not rows of their own.
func categoryID(name string) string {
	sum := md5.Sum([]byte("category:" + name))
	return fmt.Sprintf("%x", sum)
}

// decimal renders a price with Waldur's fixed 10 places.
func decimal(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	return r.FloatString(10)
}

// number renders a decimal as a JSON number, as the schema types plan
// prices; it keeps the decimal's digits, so nothing passes through float.
func number(s string) json.Number {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "0"
	}
	return json.Number(strings.TrimSuffix(strings.TrimRight(r.FloatString(10), "0"), "."))
}

func offeringURL(r *http.Request, id string) string {
	return base(r) + "/api/marketplace-public-offerings/" + hex(id) + "/"
}

func planURL(r *http.Request, offeringID, planID string) string {
	return offeringURL(r, offeringID) + "plans/" + hex(planID) + "/"
}

// componentsJSON are the offering's components as Waldur shows them.
func componentsJSON(o marketplace.Offering) []map[string]any {
	comps := []map[string]any{}
	for _, c := range o.Components {
		comps = append(comps, map[string]any{"type": c.Type, "name": c.Name, "measured_unit": c.MeasuredUnit,
			"billing_type": c.BillingType, "min_value": c.MinValue, "max_value": c.MaxValue})
	}
	return comps
}

// fixedPrice is what a plan charges per period for its fixed components.
func fixedPrice(o marketplace.Offering, p marketplace.Plan) json.Number {
	sum := new(big.Rat)
	for _, c := range o.Components {
		if v, ok := new(big.Rat).SetString(p.Prices[c.Type]); ok && c.BillingType == "fixed" {
			sum.Add(sum, v)
		}
	}
	return number(sum.RatString())
}

func (a *API) planJSON(r *http.Request, p marketplace.Plan) map[string]any {
	prices := map[string]string{}
	for k, v := range p.Prices {
		prices[k] = decimal(v)
	}
	// Plan components carry each component's price, as Waldur lists them.
	o, _ := a.market.Offering(r.Context(), p.OfferingID)
	comps := []map[string]any{}
	for _, c := range o.Components {
		if v, ok := p.Prices[c.Type]; ok {
			comps = append(comps, map[string]any{"type": c.Type, "name": c.Name, "measured_unit": c.MeasuredUnit,
				"billing_type": c.BillingType, "amount": 1, "price": decimal(v)})
		}
	}
	return map[string]any{
		"url": planURL(r, p.OfferingID, p.ID), "uuid": hex(p.ID), "name": p.Name, "description": p.Description,
		"unit": p.Unit, "prices": prices, "components": comps, "init_price": number(p.InitPrice), "switch_price": number(p.SwitchPrice),
		"archived": p.Archived, "offering": offeringURL(r, p.OfferingID), "offering_uuid": hex(p.OfferingID),
		"is_active": !p.Archived, "created": stamp(p.Created),
	}
}

// provider reads the service provider's organisation: the operator's,
// since every offering here is the operator's. Without one the provider
// fields are left out.
func (a *API) provider(r *http.Request) (identity.Organisation, error) {
	org, err := a.identity.OperatorOrganisation(r.Context())
	if err != nil {
		return identity.Organisation{}, fmt.Errorf("provider: %w", err)
	}
	return org, nil
}

func (a *API) offeringJSON(r *http.Request, o marketplace.Offering, plans []marketplace.Plan, provider identity.Organisation) map[string]any {
	comps := componentsJSON(o)
	ps := []map[string]any{}
	for _, p := range plans {
		ps = append(ps, a.planJSON(r, p))
	}
	return map[string]any{
		"url": offeringURL(r, o.ID), "uuid": hex(o.ID), "name": o.Name, "description": o.Description, "type": o.Type,
		"state": o.State, "shared": o.Shared, "billable": o.Billable, "category": base(r) + "/api/marketplace-categories/" + categoryID(o.Category) + "/",
		"category_uuid": categoryID(o.Category), "category_title": o.Category, "components": comps, "plans": ps,
		"customer": base(r) + "/api/customers/" + hex(provider.ID) + "/", "customer_name": provider.Name, "customer_uuid": hex(provider.ID),
		"plugin_options": map[string]any{}, "options": map[string]any{}, "terms_of_service": "", "created": stamp(o.Created),
		"modified": stamp(o.Modified),
	}
}

func (a *API) categories(r *http.Request) ([]map[string]any, error) {
	offs, err := a.market.Offerings(r.Context())
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	var order []string
	for _, o := range offs {
		if counts[o.Category] == 0 {
			order = append(order, o.Category)
		}
		counts[o.Category]++
	}
	var out []map[string]any
	for _, c := range order {
		out = append(out, map[string]any{"url": base(r) + "/api/marketplace-categories/" + categoryID(c) + "/",
			"uuid": categoryID(c), "title": c, "description": "", "offering_count": counts[c]})
	}
	return out, nil
}

func (a *API) listCategories(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	cs, err := a.categories(r)
	if err != nil {
		return err
	}
	return writePage(w, r, slice(cs, pg, size), len(cs), pg, size)
}

func (a *API) getCategory(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.categories(r)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c["uuid"] == r.PathValue("uuid") {
			return writeOne(w, r, http.StatusOK, c)
		}
	}
	return errNotFound
}

// offering finds an offering by the {uuid} path value.
func (a *API) offering(r *http.Request) (marketplace.Offering, error) {
	id, err := pathID(r, "uuid")
	if err != nil {
		return marketplace.Offering{}, err
	}
	return a.market.Offering(r.Context(), id)
}

func (a *API) listOfferings(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	offs, err := a.market.Offerings(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var keep []marketplace.Offering
	for _, o := range offs {
		if (q.Get("type") == "" || q.Get("type") == o.Type) && (q.Get("state") == "" || q.Get("state") == o.State) &&
			(q.Get("name") == "" || q.Get("name") == o.Name) && (q.Get("category_uuid") == "" || q.Get("category_uuid") == categoryID(o.Category)) {
			keep = append(keep, o)
		}
	}
	provider, err := a.provider(r)
	if err != nil {
		return err
	}
	var items []map[string]any
	for _, o := range slice(keep, pg, size) {
		plans, err := a.market.Plans(r.Context(), o.ID)
		if err != nil {
			return err
		}
		items = append(items, a.offeringJSON(r, o, plans, provider))
	}
	return writePage(w, r, items, len(keep), pg, size)
}

func (a *API) getOffering(w http.ResponseWriter, r *http.Request) error {
	o, err := a.offering(r)
	if err != nil {
		return err
	}
	plans, err := a.market.Plans(r.Context(), o.ID)
	if err != nil {
		return err
	}
	provider, err := a.provider(r)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, a.offeringJSON(r, o, plans, provider))
}

func (a *API) listOfferingPlans(w http.ResponseWriter, r *http.Request) error {
	o, err := a.offering(r)
	if err != nil {
		return err
	}
	return a.writePlans(w, r, o.ID)
}

func (a *API) writePlans(w http.ResponseWriter, r *http.Request, offeringID string) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	plans, err := a.market.Plans(r.Context(), offeringID)
	if err != nil {
		return err
	}
	var items []map[string]any
	for _, p := range slice(plans, pg, size) {
		items = append(items, a.planJSON(r, p))
	}
	return writePage(w, r, items, len(plans), pg, size)
}

func (a *API) getOfferingPlan(w http.ResponseWriter, r *http.Request) error {
	o, err := a.offering(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "plan")
	if err != nil {
		return err
	}
	p, err := a.market.Plan(r.Context(), id)
	if err != nil || p.OfferingID != o.ID {
		return errNotFound
	}
	return writeOne(w, r, http.StatusOK, a.planJSON(r, p))
}

func (a *API) listPlans(w http.ResponseWriter, r *http.Request) error {
	off := ""
	if v := r.URL.Query().Get("offering_uuid"); v != "" {
		id, ok := parseID(v)
		if !ok {
			return fieldErrors{"offering_uuid": []string{"Enter a valid UUID."}}
		}
		off = id
	}
	return a.writePlans(w, r, off)
}

func (a *API) getPlan(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	p, err := a.market.Plan(r.Context(), id)
	if errs.Is(err, errs.NotExist) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, a.planJSON(r, p))
}
