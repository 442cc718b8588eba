package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/errs"
)

// WithMarket adds the catalog and orders.
func (c *Console) WithMarket(m *marketplace.Service) *Console {
	c.market = m
	return c
}

type offeringView struct {
	marketplace.Offering
	Plans []marketplace.Plan
}

type catalogData struct {
	Offerings []offeringView
	Orders    []marketplace.Order
	Names     map[string]string // offering names by id
}

func (c *Console) catalog(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	v, err := c.page(ctx, s, r.PathValue("id"), "catalog", "Catalog and orders")
	if err != nil {
		return err
	}
	offs, err := c.market.Offerings(ctx)
	if err != nil {
		return err
	}
	d := catalogData{Names: map[string]string{}}
	for _, o := range offs {
		d.Names[o.ID] = o.Name
		if o.State != marketplace.OfferingActive {
			continue
		}
		ps, err := c.market.Plans(ctx, o.ID)
		if err != nil {
			return err
		}
		ps = slices.DeleteFunc(ps, func(p marketplace.Plan) bool { return p.Archived })
		d.Offerings = append(d.Offerings, offeringView{Offering: o, Plans: ps})
	}
	if d.Orders, _, err = c.market.Orders(ctx, s.p, marketplace.OrderFilter{ProjectID: v.Project.ID}, 0, 20); err != nil {
		return err
	}
	v.Data = d
	return c.render(w, http.StatusOK, "catalog", v)
}

// order places a Create order for an offering: a name and a size in GiB,
// as Waldur's clients order by limits.
func (c *Console) order(w http.ResponseWriter, r *http.Request, s *session) error {
	gb, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("storage_gib")), 10, 64)
	if err != nil || gb < 1 {
		return errs.Field("storage_gib", "the size is a whole number of GiB, from 1")
	}
	o, err := c.market.CreateOrder(r.Context(), s.p, marketplace.OrderInput{ProjectID: r.PathValue("id"),
		OfferingID: r.PostFormValue("offering_id"), PlanID: r.PostFormValue("plan_id"),
		Attributes: map[string]any{"name": strings.TrimSpace(r.PostFormValue("name"))}, Limits: map[string]int64{"storage": gb}})
	if err != nil {
		return err
	}
	http.Redirect(w, r, Base+"orders/"+url.PathEscape(o.ID), http.StatusSeeOther)
	return nil
}

type orderData struct {
	Order    marketplace.Order
	Offering string
	// Settled says the order will change no more, so the page stops
	// refreshing itself.
	Settled bool
}

func (c *Console) orderPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	o, err := c.market.Order(ctx, s.p, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := c.page(ctx, s, o.ProjectID, "catalog", "Order")
	if err != nil {
		return err
	}
	d := orderData{Order: o, Settled: slices.Contains([]string{marketplace.Done, marketplace.Erred, marketplace.Canceled,
		marketplace.Rejected}, o.State)}
	if off, err := c.market.Offering(ctx, o.OfferingID); err == nil {
		d.Offering = off.Name
	}
	v.Data = d
	return c.render(w, http.StatusOK, "order", v)
}

func (c *Console) orderAction(w http.ResponseWriter, r *http.Request, s *session) error {
	a := marketplace.Action(r.PathValue("action"))
	if !slices.Contains([]marketplace.Action{marketplace.ApproveByConsumer, marketplace.RejectByConsumer, marketplace.Cancel,
		marketplace.ApproveByProvider, marketplace.RejectByProvider}, a) {
		return errs.E(errs.NotExist, "no such action")
	}
	o, err := c.market.Transition(r.Context(), s.p, r.PathValue("id"), a, "")
	if err != nil {
		return err
	}
	http.Redirect(w, r, Base+"orders/"+url.PathEscape(o.ID), http.StatusSeeOther)
	return nil
}
