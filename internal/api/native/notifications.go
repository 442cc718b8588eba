package native

import (
	"net/http"

	"github.com/stowage/stowage/internal/core/notification"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// WithNotifications adds the webhook targets of S3 event notifications.
func (a *API) WithNotifications(n *notification.Service) *API {
	a.notify = n
	return a
}

type targetJSON struct {
	Name      string `json:"name"`
	ProjectID string `json:"project_id"`
	URL       string `json:"url"`
	// ARN is what a bucket's notification configuration names the target
	// by (TopicConfiguration; sqs or lambda in place of sns for the
	// other kinds).
	ARN string `json:"arn"`
	// Secret signs deliveries; it is shown once, at creation.
	Secret    string `json:"secret,omitempty"`
	CreatedAt string `json:"created_at"`
}

func (a *API) targetOut(t notification.Target, secret string) targetJSON {
	return targetJSON{Name: t.Name, ProjectID: t.ProjectID, URL: t.URL, ARN: notification.ARN(a.notify.Region(), t.ProjectID, t.Name),
		Secret: secret, CreatedAt: stamp(t.Created)}
}

func (a *API) notifications() (*notification.Service, error) {
	if a.notify == nil {
		return nil, errs.E(errs.NotExist, "event notifications are not available on this server")
	}
	return a.notify, nil
}

func (a *API) listTargets(w http.ResponseWriter, r *http.Request) error {
	n, err := a.notifications()
	if err != nil {
		return err
	}
	ts, err := n.List(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := list[targetJSON]{Items: []targetJSON{}}
	for _, t := range ts {
		out.Items = append(out.Items, a.targetOut(t, ""))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) createTarget(w http.ResponseWriter, r *http.Request) error {
	n, err := a.notifications()
	if err != nil {
		return err
	}
	var in struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	t, secret, err := n.Create(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), in.Name, in.URL)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, a.targetOut(t, secret))
}

func (a *API) deleteTarget(w http.ResponseWriter, r *http.Request) error {
	n, err := a.notifications()
	if err != nil {
		return err
	}
	if err := n.Delete(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
