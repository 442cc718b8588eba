package waldur

import (
	"net/http"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// stamp formats times as Python's isoformat with Z, leaving out a zero
// fraction as Django does.
func stamp(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.000000Z")
}

func stampPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return stamp(*t)
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	missing := fieldErrors{}
	if in.Username == nil || *in.Username == "" {
		missing["username"] = []string{"This field is required."}
	}
	if in.Password == nil || *in.Password == "" {
		missing["password"] = []string{"This field is required."}
	}
	if len(missing) > 0 {
		return missing
	}
	p, err := a.identity.AuthenticatePassword(r.Context(), *in.Username, *in.Password, httpapi.ClientIP(r))
	switch {
	case errs.Is(err, errs.RateLimited):
		return detail{http.StatusUnauthorized, "Username is locked out. Try in 10 minutes."}
	case errs.Is(err, errs.Unauthorized):
		return detail{http.StatusUnauthorized, "Invalid username/password."}
	case err != nil:
		return err
	}
	// Waldur's login is get-or-create: the same 40-hex token until it is
	// revoked or expires.
	raw, err := a.identity.LoginToken(r.Context(), p, "waldur login")
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"token": raw})
}

func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	u := httpapi.Principal(r.Context()).User
	return writeOne(w, r, http.StatusOK, map[string]any{
		"url": base(r) + "/api/users/" + hex(u.ID) + "/", "uuid": hex(u.ID), "username": u.Username, "email": u.Email,
		"full_name": u.FullName, "is_staff": u.Staff, "is_support": false, "is_active": u.Active, "date_joined": stamp(u.Created),
	})
}

func (a *API) customerJSON(r *http.Request, o identity.Organisation) map[string]any {
	return map[string]any{
		"url": base(r) + "/api/customers/" + hex(o.ID) + "/", "uuid": hex(o.ID), "name": o.Name, "native_name": "",
		"abbreviation": "", "description": o.Description, "created": stamp(o.Created), "email": "", "archived": false,
	}
}

func (a *API) projectJSON(r *http.Request, p identity.Project, orgName string) map[string]any {
	return map[string]any{
		"url": base(r) + "/api/projects/" + hex(p.ID) + "/", "uuid": hex(p.ID), "name": p.Name, "description": p.Description,
		"created": stamp(p.Created), "customer": base(r) + "/api/customers/" + hex(p.OrganisationID) + "/",
		"customer_uuid": hex(p.OrganisationID), "customer_name": orgName, "end_date": nil, "start_date": nil, "is_removed": false,
	}
}

// allOf reads every page of a keyset list; used for a caller's
// organisations and projects, which are few.
func allOf[T any](list func(page.Request) (page.Result[T], error)) ([]T, error) {
	var out []T
	req := page.Request{Limit: page.MaxLimit}
	for {
		res, err := list(req)
		if err != nil {
			return nil, err
		}
		out = append(out, res.Items...)
		if res.Next == "" {
			return out, nil
		}
		if req.After, err = page.DecodeCursor(res.Next); err != nil {
			return nil, err
		}
	}
}

func (a *API) listCustomers(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	p := httpapi.Principal(r.Context())
	orgs, err := allOf(func(req page.Request) (page.Result[identity.Organisation], error) {
		return a.identity.ListOrganisations(r.Context(), p, req)
	})
	if err != nil {
		return err
	}
	var items []map[string]any
	for _, o := range slice(orgs, pg, size) {
		items = append(items, a.customerJSON(r, o))
	}
	return writePage(w, r, items, len(orgs), pg, size)
}

func (a *API) getCustomer(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	o, err := a.identity.GetOrganisation(r.Context(), httpapi.Principal(r.Context()), id)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, a.customerJSON(r, o))
}

func (a *API) orgName(r *http.Request, id string) string {
	o, err := a.identity.GetOrganisation(r.Context(), httpapi.Principal(r.Context()), id)
	if err != nil {
		return ""
	}
	return o.Name
}

func (a *API) listProjects(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	p := httpapi.Principal(r.Context())
	f := identity.ProjectFilter{Name: r.URL.Query().Get("name")}
	if c := r.URL.Query().Get("customer_uuid"); c != "" {
		id, ok := parseID(c)
		if !ok {
			return fieldErrors{"customer_uuid": []string{"Enter a valid UUID."}}
		}
		f.OrganisationID = id
	}
	ps, err := allOf(func(req page.Request) (page.Result[identity.Project], error) {
		return a.identity.ListProjects(r.Context(), p, f, req)
	})
	if err != nil {
		return err
	}
	var items []map[string]any
	for _, pr := range slice(ps, pg, size) {
		items = append(items, a.projectJSON(r, pr, a.orgName(r, pr.OrganisationID)))
	}
	return writePage(w, r, items, len(ps), pg, size)
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	pr, err := a.identity.GetProject(r.Context(), httpapi.Principal(r.Context()), id)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, a.projectJSON(r, pr, a.orgName(r, pr.OrganisationID)))
}
