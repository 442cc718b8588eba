package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/stowage/stowage/internal/errs"
)

// Problem is an RFC 9457 problem detail with Stowage's extensions.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance,omitempty"`
	Code      string `json:"code"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id"`
}

// ProblemRenderer renders errors as application/problem+json, logging the
// internal cause under the request id that the body also carries.
func ProblemRenderer(log *slog.Logger) Renderer {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		status := Status(err)
		LogError(log, r, status, err)
		kind := errs.KindOf(err)
		p := Problem{
			Type:      "https://stowage.dev/problems/" + kind.String(),
			Title:     http.StatusText(status),
			Status:    status,
			Detail:    errs.Message(err),
			Instance:  r.URL.Path,
			Code:      kind.String(),
			Field:     errs.FieldOf(err),
			RequestID: RequestID(r.Context()),
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stowage"`)
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_ = writeJSONBody(w, p)
	}
}
