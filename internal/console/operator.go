package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/bytesize"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/pool"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
)

// WithPools adds the operator's view of the node's storage pools.
func (c *Console) WithPools(p *pool.Service) *Console {
	c.pools = p
	return c
}

type orgView struct {
	identity.Organisation
	Projects []identity.Project
}

type operatorData struct {
	Pools  []meter
	Stats  pool.Stats
	Orgs   []orgView
	Quotas map[string]volume.Limits
}

// operator is staff's page: the pools' use and free space, organisations
// and their projects with quotas; the core refuses it to anyone else.
func (c *Console) operator(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	st, err := c.pools.Stats(ctx, s.p)
	if err != nil {
		return err
	}
	used := func(sp pool.Space) int64 { return sp.CapacityBytes - sp.FreeBytes }
	d := operatorData{Stats: st, Quotas: map[string]volume.Limits{}, Pools: []meter{
		newMeter("Block pool disk", used(st.Block.Space), &st.Block.CapacityBytes, bytesize.Format),
		newMeter("Object store disk", used(st.Object.Space), &st.Object.CapacityBytes, bytesize.Format),
	}}
	orgs, err := c.identity.ListOrganisations(ctx, s.p, page.Request{Limit: page.MaxLimit})
	if err != nil {
		return err
	}
	for _, o := range orgs.Items {
		ps, err := c.identity.ListProjects(ctx, s.p, identity.ProjectFilter{OrganisationID: o.ID}, page.Request{Limit: page.MaxLimit})
		if err != nil {
			return err
		}
		for _, p := range ps.Items {
			l, _, err := c.volumes.Quota(ctx, s.p, p.ID)
			if err != nil {
				return err
			}
			d.Quotas[p.ID] = l
		}
		d.Orgs = append(d.Orgs, orgView{Organisation: o, Projects: ps.Items})
	}
	return c.render(w, http.StatusOK, "operator", &view{Title: "Operator", Nav: "operator", S: s, CanWrite: true, Data: d})
}

func (c *Console) operatorAction(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	var err error
	switch r.PathValue("action") {
	case "organisation":
		_, err = c.identity.CreateOrganisation(ctx, s.p, strings.TrimSpace(r.PostFormValue("name")), "")
	case "project":
		_, err = c.identity.CreateProject(ctx, s.p, r.PostFormValue("organisation_id"), strings.TrimSpace(r.PostFormValue("name")), "")
	case "user":
		_, err = c.identity.CreateUser(ctx, s.p, identity.NewUser{Username: strings.TrimSpace(r.PostFormValue("username")),
			Email: strings.TrimSpace(r.PostFormValue("email")), Password: r.PostFormValue("password"), Staff: r.PostFormValue("staff") == "on"})
	case "quota":
		var l volume.Limits
		if l, err = limitsForm(r); err == nil {
			_, _, err = c.volumes.SetQuota(ctx, s.p, r.PostFormValue("project_id"), l)
		}
	default:
		return errs.E(errs.NotExist, "no such action")
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, Base+"admin", http.StatusSeeOther)
	return nil
}

// limitsForm reads a quota; an empty field is no limit.
func limitsForm(r *http.Request) (volume.Limits, error) {
	field := func(name string, unit int64) (*int64, error) {
		v := strings.TrimSpace(r.PostFormValue(name))
		if v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return nil, errs.Field(name, "%s must be a whole number from 0, or empty for no limit", name)
		}
		n *= unit
		return &n, nil
	}
	var l volume.Limits
	var err error
	if l.StorageBytes, err = field("storage_gib", gib); err != nil {
		return l, err
	}
	if l.Volumes, err = field("volumes", 1); err != nil {
		return l, err
	}
	l.Snapshots, err = field("snapshots", 1)
	return l, err
}

// gibOf shows a quota in GiB, empty for none.
func gibOf(n *int64) string {
	if n == nil {
		return ""
	}
	return strconv.FormatInt(*n/gib, 10)
}

func countOf(n *int64) string {
	if n == nil {
		return ""
	}
	return strconv.FormatInt(*n, 10)
}

// projectLink is where an operator opens a tenant's project.
func projectLink(id string) string { return Base + "projects/" + url.PathEscape(id) }
