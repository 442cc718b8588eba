package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/stowage/stowage/internal/core/bucket"
)

type credentialsData struct {
	Keys []bucket.Credential
	// New is the key just made: its secret is shown this once.
	New      *bucket.Credential
	Secret   string
	Endpoint string
	Region   string
}

func (c *Console) credentialList(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.showCredentials(w, r, s, http.StatusOK, nil, "")
}

func (c *Console) showCredentials(w http.ResponseWriter, r *http.Request, s *session, status int, made *bucket.Credential, secret string) error {
	ctx := r.Context()
	v, err := c.page(ctx, s, r.PathValue("id"), "credentials", "S3 credentials")
	if err != nil {
		return err
	}
	keys, err := c.objects.Credentials(ctx, s.p, v.Project.ID)
	if err != nil {
		return err
	}
	v.Data = credentialsData{Keys: keys, New: made, Secret: secret, Endpoint: c.s3Endpoint(), Region: c.objects.Region()}
	return c.render(w, status, "credentials", v)
}

func (c *Console) credentialCreate(w http.ResponseWriter, r *http.Request, s *session) error {
	cred, secret, err := c.objects.CreateCredential(r.Context(), s.p, r.PathValue("id"), strings.TrimSpace(r.PostFormValue("description")))
	if err != nil {
		return err
	}
	return c.showCredentials(w, r, s, http.StatusCreated, &cred, secret)
}

func (c *Console) credentialRevoke(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := c.objects.RevokeCredential(r.Context(), s.p, r.PathValue("id"), r.PathValue("key")); err != nil {
		return err
	}
	http.Redirect(w, r, Base+"projects/"+url.PathEscape(r.PathValue("id"))+"/credentials", http.StatusSeeOther)
	return nil
}
