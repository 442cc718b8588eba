package native

import (
	"net/http"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

var errNoRoute = errs.E(errs.NotExist, "no such endpoint")

func errBucketNotFound(name string) error { return errs.E(errs.NotExist, "bucket %s not found", name) }

type organisationJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	CreatedAt   string `json:"created_at"`
}

func organisationOut(o identity.Organisation) organisationJSON {
	return organisationJSON{ID: o.ID, Name: o.Name, Description: o.Description, CreatedAt: stamp(o.Created)}
}

type projectJSON struct {
	ID             string `json:"id"`
	OrganisationID string `json:"organisation_id"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	CreatedAt      string `json:"created_at"`
}

func projectOut(p identity.Project) projectJSON {
	return projectJSON{ID: p.ID, OrganisationID: p.OrganisationID, Name: p.Name, Description: p.Description, CreatedAt: stamp(p.Created)}
}

type memberJSON struct {
	UserID    string `json:"user_id"`
	Username  string `json:"username"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
}

func memberOut(m identity.Membership) memberJSON {
	return memberJSON{UserID: m.UserID, Username: m.Username, Role: string(m.Role), CreatedAt: stamp(m.Created)}
}

type userJSON struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	FullName  string `json:"full_name"`
	Staff     bool   `json:"staff"`
	CreatedAt string `json:"created_at"`
}

func userOut(u identity.User) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, Email: u.Email, FullName: u.FullName, Staff: u.Staff, CreatedAt: stamp(u.Created)}
}

type tokenJSON struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	ProjectID  string  `json:"project_id,omitempty"`
	Prefix     string  `json:"prefix"`
	ExpiresAt  *string `json:"expires_at"`
	LastUsedAt *string `json:"last_used_at"`
	CreatedAt  string  `json:"created_at"`
	// Token is the secret, present only in the create response.
	Token string `json:"token,omitempty"`
}

func tokenOut(t identity.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, ProjectID: t.ProjectID, Prefix: t.Prefix,
		ExpiresAt: timePtr(t.ExpiresAt), LastUsedAt: timePtr(t.LastUsed), CreatedAt: stamp(t.Created)}
}

func (a *API) createSession(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	p, err := a.identity.AuthenticatePassword(r.Context(), in.Username, in.Password, httpapi.ClientIP(r))
	if err != nil {
		return err
	}
	tok, exp := a.identity.IssueSession(p, a.sessionTTL, identity.AudienceNative)
	return httpapi.WriteJSON(w, http.StatusCreated, map[string]string{"token": tok, "expires_at": stamp(exp)})
}

func (a *API) listOrganisations(w http.ResponseWriter, r *http.Request) error {
	pr, err := httpapi.ParsePage(r)
	if err != nil {
		return err
	}
	res, err := a.identity.ListOrganisations(r.Context(), httpapi.Principal(r.Context()), pr)
	if err != nil {
		return err
	}
	return writeList(w, res, organisationOut)
}

func (a *API) createOrganisation(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	o, err := a.identity.CreateOrganisation(r.Context(), httpapi.Principal(r.Context()), in.Name, in.Description)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, organisationOut(o))
}

func (a *API) getOrganisation(w http.ResponseWriter, r *http.Request) error {
	o, err := a.identity.GetOrganisation(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, organisationOut(o))
}

func (a *API) listProjects(w http.ResponseWriter, r *http.Request) error {
	pr, err := httpapi.ParsePage(r)
	if err != nil {
		return err
	}
	f := identity.ProjectFilter{OrganisationID: r.URL.Query().Get("organisation_id"), Name: r.URL.Query().Get("name")}
	res, err := a.identity.ListProjects(r.Context(), httpapi.Principal(r.Context()), f, pr)
	if err != nil {
		return err
	}
	return writeList(w, res, projectOut)
}

func (a *API) createProject(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		OrganisationID string `json:"organisation_id"`
		Name           string `json:"name"`
		Description    string `json:"description"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	if in.OrganisationID == "" {
		return errs.Field("organisation_id", "organisation_id is required")
	}
	p, err := a.identity.CreateProject(r.Context(), httpapi.Principal(r.Context()), in.OrganisationID, in.Name, in.Description)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, projectOut(p))
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := a.identity.GetProject(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, projectOut(p))
}

func (a *API) updateProject(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	p, err := a.identity.UpdateProject(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"),
		identity.ProjectUpdate{Name: in.Name, Description: in.Description})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, projectOut(p))
}

func (a *API) listMembers(scope string) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ms, err := a.identity.ListMembers(r.Context(), httpapi.Principal(r.Context()), scope, r.PathValue("id"))
		if err != nil {
			return err
		}
		out := list[memberJSON]{Items: []memberJSON{}}
		for _, m := range ms {
			out.Items = append(out.Items, memberOut(m))
		}
		return httpapi.WriteJSON(w, http.StatusOK, out)
	}
}

func (a *API) addMember(scope string) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			UserID string `json:"user_id"`
			Role   string `json:"role"`
		}
		if err := a.decode(r, &in); err != nil {
			return err
		}
		m, err := a.identity.AddMember(r.Context(), httpapi.Principal(r.Context()), scope, r.PathValue("id"), in.UserID, access.Role(in.Role))
		if err != nil {
			return err
		}
		return httpapi.WriteJSON(w, http.StatusCreated, memberOut(m))
	}
}

func (a *API) removeMember(scope string) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := a.identity.RemoveMember(r.Context(), httpapi.Principal(r.Context()), scope, r.PathValue("id"), r.PathValue("user_id"))
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Username string `json:"username"`
		Email    string `json:"email"`
		FullName string `json:"full_name"`
		Password string `json:"password"`
		Staff    bool   `json:"staff"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	u, err := a.identity.CreateUser(r.Context(), httpapi.Principal(r.Context()), identity.NewUser{
		Username: in.Username, Email: in.Email, FullName: in.FullName, Password: in.Password, Staff: in.Staff})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, userOut(u))
}

func (a *API) getSelf(w http.ResponseWriter, r *http.Request) error {
	return httpapi.WriteJSON(w, http.StatusOK, userOut(httpapi.Principal(r.Context()).User))
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	if err := a.identity.ChangePassword(r.Context(), httpapi.Principal(r.Context()), in.CurrentPassword, in.NewPassword, httpapi.ClientIP(r)); err != nil {
		return err
	}
	// Every session of the user, the caller's own included, has ended; a
	// client holding one must log in again.
	return httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"sessions_ended": true})
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	pr, err := httpapi.ParsePage(r)
	if err != nil {
		return err
	}
	res, err := a.identity.ListTokens(r.Context(), httpapi.Principal(r.Context()), pr)
	if err != nil {
		return err
	}
	return writeList(w, res, tokenOut)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name      string     `json:"name"`
		ProjectID string     `json:"project_id"`
		ExpiresAt *time.Time `json:"expires_at"`
		// TTLSeconds is a convenience alternative to expires_at.
		TTLSeconds int64 `json:"ttl_seconds"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	if in.TTLSeconds < 0 {
		return errs.Field("ttl_seconds", "ttl_seconds must be positive")
	}
	if in.TTLSeconds > 0 {
		if in.ExpiresAt != nil {
			return errs.Field("ttl_seconds", "give expires_at or ttl_seconds, not both")
		}
		t := time.Now().Add(time.Duration(in.TTLSeconds) * time.Second)
		in.ExpiresAt = &t
	}
	t, raw, err := a.identity.CreateToken(r.Context(), httpapi.Principal(r.Context()),
		identity.NewToken{Name: in.Name, ProjectID: in.ProjectID, ExpiresAt: in.ExpiresAt})
	if err != nil {
		return err
	}
	out := tokenOut(t)
	out.Token = raw
	return httpapi.WriteJSON(w, http.StatusCreated, out)
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := a.identity.RevokeToken(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
