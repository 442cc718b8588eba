package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
)

type membersData struct {
	Project, Organisation []identity.Membership
	Roles                 []access.Role
	// Admin says whether the caller manages the project's people; the
	// core decides each change.
	Admin bool
}

func (c *Console) memberList(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	v, err := c.page(ctx, s, r.PathValue("id"), "members", "Members")
	if err != nil {
		return err
	}
	d := membersData{Roles: []access.Role{access.Viewer, access.Member, access.Admin, access.Owner},
		Admin: c.identity.RequireProjectRole(ctx, s.p, v.Project.ID, access.Admin) == nil}
	if d.Project, err = c.identity.ListMembers(ctx, s.p, identity.ScopeProject, v.Project.ID); err != nil {
		return err
	}
	// The organisation's members hold their roles on every project; a
	// caller who may not list them sees the project's own.
	if om, err := c.identity.ListMembers(ctx, s.p, identity.ScopeOrganisation, v.Project.OrganisationID); err == nil {
		d.Organisation = om
	}
	v.Data = d
	return c.render(w, http.StatusOK, "members", v)
}

func (c *Console) memberAdd(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	if _, err := c.identity.AddMember(r.Context(), s.p, identity.ScopeProject, id, strings.TrimSpace(r.PostFormValue("user_id")),
		access.Role(r.PostFormValue("role"))); err != nil {
		return err
	}
	http.Redirect(w, r, Base+"projects/"+url.PathEscape(id)+"/members", http.StatusSeeOther)
	return nil
}

func (c *Console) memberRemove(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	if err := c.identity.RemoveMember(r.Context(), s.p, identity.ScopeProject, id, r.PathValue("user_id")); err != nil {
		return err
	}
	http.Redirect(w, r, Base+"projects/"+url.PathEscape(id)+"/members", http.StatusSeeOther)
	return nil
}

type tokensData struct {
	Tokens []identity.Token
	// New is the token just made: its secret is shown this once.
	New    *identity.Token
	Secret string
}

func (c *Console) tokenList(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.showTokens(w, r, s, http.StatusOK, nil, "")
}

func (c *Console) showTokens(w http.ResponseWriter, r *http.Request, s *session, status int, made *identity.Token, secret string) error {
	ts, err := c.identity.ListTokens(r.Context(), s.p, page.Request{Limit: page.MaxLimit})
	if err != nil {
		return err
	}
	return c.render(w, status, "tokens", &view{Title: "API tokens", Nav: "tokens", S: s, CanWrite: s.p.BoundProject == "",
		Data: tokensData{Tokens: ts.Items, New: made, Secret: secret}})
}

func (c *Console) tokenCreate(w http.ResponseWriter, r *http.Request, s *session) error {
	t, secret, err := c.identity.CreateToken(r.Context(), s.p, identity.NewToken{Name: strings.TrimSpace(r.PostFormValue("name")),
		ProjectID: r.PostFormValue("project_id")})
	if err != nil {
		return err
	}
	return c.showTokens(w, r, s, http.StatusCreated, &t, secret)
}

func (c *Console) tokenRevoke(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := c.identity.RevokeToken(r.Context(), s.p, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, Base+"tokens", http.StatusSeeOther)
	return nil
}
