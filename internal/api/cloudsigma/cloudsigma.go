// Package cloudsigma owns the CloudSigma API 2.0 dialect mounted at
// /api/2.0/: drives (list, detail, create one or many, edit, resize, clone,
// delete one or many), their schema, drive upload (initupload with chunks,
// and the one-request upload), library drives (the operator's public
// images: list, clone; publish and unpublish for staff), snapshots (and
// clones of them), jobs, capabilities, RDS drive users, the tags drives
// carry, the profile (read, edit, schema; its clone naming names unnamed
// clones), and servers as far as mounting drives needs (create, edit
// drives, start, stop), with HTTP Basic credentials or a session cookie
// (with a CSRF token on writes) and Tastypie's error body, a JSON array of
// {error_point, error_type, error_message}. The CloudSigma account is the
// project of the caller's credentials (the project a token is bound to, or
// else the caller's first project). It translates names, units, shapes and
// errors; the volume and identity services decide what is allowed.
package cloudsigma

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/jobs"
)

// Base is where the dialect is mounted.
const Base = "/api/2.0/"

// API serves the dialect.
type API struct {
	identity *identity.Service
	volumes  *volume.Service
	jobs     *jobs.Service
	log      *slog.Logger
	now      func() time.Time
	maxBody  int64
	surface  httpapi.Surface
}

// New builds the dialect over the identity, volume and job services.
func New(id *identity.Service, volumes *volume.Service, js *jobs.Service, log *slog.Logger, maxBody int64) *API {
	a := &API{identity: id, volumes: volumes, jobs: js, log: log, now: time.Now, maxBody: maxBody}
	a.surface = httpapi.Surface{Auth: id, Schemes: httpapi.Basic | httpapi.Bearer | httpapi.Cookie, Cookie: sessionCookie,
		Audience: identity.AudienceCloudSigma, Render: a.render}
	return a
}

// Register mounts the dialect on mux. Every path is also served without its
// trailing slash: clients send it, but answering both is simpler than
// Tastypie's redirect.
func (a *API) Register(mux httpapi.Mux) {
	p := func(h httpapi.HandlerFunc) http.Handler { return a.surface.Private(checkCSRF(h)) }
	route := func(method, path string, h httpapi.HandlerFunc) {
		mux.Handle(method+" "+Base+path+"{$}", p(h))
		mux.Handle(method+" "+Base+strings.TrimSuffix(path, "/"), p(h))
	}
	for _, path := range []string{"accounts/action/{$}", "accounts/action"} {
		mux.Handle("POST "+Base+path, a.surface.Public(a.accountAction))
	}
	route("GET", "drives/", a.listDrives(false))
	route("GET", "drives/detail/", a.listDrives(true))
	route("POST", "drives/", a.createDrives)
	route("DELETE", "drives/", a.deleteDrives)
	route("GET", "drives/schema/", a.driveSchema)
	route("GET", "drives/availability_groups/", a.availabilityGroups)
	route("GET", "drives/{uuid}/", a.getDrive)
	route("PUT", "drives/{uuid}/", a.editDrive)
	route("DELETE", "drives/{uuid}/", a.deleteDrive)
	route("POST", "drives/{uuid}/action/", a.driveAction)
	route("POST", "initupload/", a.initUpload)
	route("POST", "drives/upload/", a.uploadWhole)
	route("POST", "drives/{uuid}/upload/{range}/", a.uploadChunk)
	route("GET", "drives/{uuid}/upload/", a.resumableTest)
	route("POST", "drives/{uuid}/upload/", a.resumableUpload)
	route("GET", "jobs/", a.listJobs)
	route("GET", "jobs/{uuid}/", a.getJob)
	route("GET", "capabilities/", a.capabilities)
	route("GET", "capabilities/schema/", a.capabilitiesSchema)
	route("GET", "snapshots/schema/", a.snapshotSchema)
	route("GET", "snapshots/", a.listSnapshots(false))
	route("GET", "snapshots/detail/", a.listSnapshots(true))
	route("POST", "snapshots/", a.createSnapshots)
	route("DELETE", "snapshots/", a.deleteSnapshots)
	route("GET", "snapshots/{uuid}/", a.getSnapshot)
	route("PUT", "snapshots/{uuid}/", a.editSnapshot)
	route("DELETE", "snapshots/{uuid}/", a.deleteSnapshot)
	route("POST", "snapshots/{uuid}/action/", a.snapshotAction)
	route("GET", "libdrives/", a.listLibdrives)
	route("GET", "libdrives/detail/", a.listLibdrives)
	route("GET", "libdrives/schema/", a.libdriveSchema)
	route("POST", "libdrives/", a.publishLibdrive)
	route("GET", "libdrives/{uuid}/", a.getLibdrive)
	route("DELETE", "libdrives/{uuid}/", a.unpublishLibdrive)
	route("POST", "libdrives/{uuid}/action/", a.libdriveAction)
	route("GET", "driveusers/", a.listDriveUsers)
	route("POST", "driveusers/", a.createDriveUsers)
	route("GET", "driveusers/{uuid}/", a.getDriveUsers)
	route("PUT", "driveusers/{uuid}/", a.editDriveUsers)
	route("DELETE", "driveusers/{uuid}/", a.deleteDriveUsers)
	route("GET", "tags/", a.listTags)
	route("GET", "tags/{uuid}/", a.getTag)
	route("GET", "tags/{uuid}/drives/", a.tagDrives)
	route("GET", "profile/", a.profile)
	route("PUT", "profile/", a.editProfile)
	route("GET", "profile/schema/", a.profileSchema)
	route("GET", "servers/", a.listServers(false))
	route("GET", "servers/detail/", a.listServers(true))
	route("POST", "servers/", a.createServers)
	route("GET", "servers/{uuid}/", a.getServer)
	route("PUT", "servers/{uuid}/", a.editServer)
	route("DELETE", "servers/{uuid}/", a.deleteServer)
	route("POST", "servers/{uuid}/action/", a.serverAction)

	// Anything else under the base is Tastypie's 404, or 405 when the path
	// exists for another method.
	mux.Handle(Base, a.surface.Public(func(w http.ResponseWriter, r *http.Request) error {
		allowed := httpapi.Allowed(mux, r, Base)
		if len(allowed) == 0 {
			return newError(http.StatusNotFound, "notexist", "", "Resource %s does not exist", r.URL.Path)
		}
		w.Header().Set("Allow", strings.Join(allowed, ","))
		if r.Method == http.MethodOptions {
			// OPTIONS answers with the methods the URL takes.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, err := io.WriteString(w, strings.Join(allowed, ","))
			return err
		}
		return newError(http.StatusMethodNotAllowed, "validation", "", "Method %s is not allowed here", r.Method)
	}))
}

// tpError is one element of Tastypie's error array.
type tpError struct {
	Point   *string `json:"error_point"`
	Type    string  `json:"error_type"`
	Message string  `json:"error_message"`
}

// apiError is a response the dialect decided itself: a status and one or
// more Tastypie errors.
type apiError struct {
	status int
	errs   []tpError
}

// newError is apiError for one error; point may be empty for null.
func newError(status int, typ, point, format string, args ...any) apiError {
	e := tpError{Type: typ, Message: fmt.Sprintf(format, args...)}
	if point != "" {
		e.Point = &point
	}
	return apiError{status: status, errs: []tpError{e}}
}

func (e apiError) Error() string {
	parts := make([]string, len(e.errs))
	for i, x := range e.errs {
		parts[i] = x.Type + ": " + x.Message
	}
	return strings.Join(parts, "; ")
}

func notExist(id string) apiError {
	return newError(http.StatusNotFound, "notexist", "", "Object with uuid %s does not exist", id)
}

func required(field string) apiError {
	return newError(http.StatusBadRequest, "validation", field, "This field is required")
}

// stateError is the wording CloudSigma uses for servers, applied to drives.
func stateError(op, have string, allowed ...string) apiError {
	want := "'" + strings.Join(allowed, "', '") + "'"
	if len(allowed) == 1 {
		want = allowed[0]
	} else {
		want = "[" + want + "]"
	}
	return newError(http.StatusForbidden, "permission", "", "Cannot %s drive in state \"%s\". Drive should be in state \"%s\"", op, have, want)
}

func (a *API) render(w http.ResponseWriter, r *http.Request, err error) {
	var e apiError
	if !errors.As(err, &e) {
		e = translate(err)
	}
	httpapi.LogError(a.log, r, e.status, err)
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="cloudsigma"`)
	}
	writeJSON(w, e.status, e.errs)
}

// translate maps the core's error kinds to CloudSigma's statuses and types.
func translate(err error) apiError {
	msg := errs.Message(err)
	switch errs.KindOf(err) {
	case errs.Unauthorized, errs.RateLimited:
		return newError(http.StatusUnauthorized, "permission", "", "Authentication failed: %s", msg)
	case errs.Invalid:
		return newError(http.StatusBadRequest, "validation", corePoint(errs.FieldOf(err)), "%s", msg)
	case errs.TooLarge:
		return newError(http.StatusRequestEntityTooLarge, "validation", "", "%s", msg)
	case errs.NotExist:
		return newError(http.StatusNotFound, "notexist", "", "%s", msg)
	case errs.Permission, errs.Conflict, errs.Exist, errs.Quota:
		return newError(http.StatusForbidden, "permission", "", "%s", msg)
	case errs.NoSpace:
		return newError(http.StatusServiceUnavailable, "backend", "", "We currently cannot provide enough resources: %s", msg)
	case errs.Unavailable:
		return newError(http.StatusServiceUnavailable, "concurrency", "", "%s", msg)
	}
	return newError(http.StatusInternalServerError, "backend", "", "Internal error")
}

// corePoint names a core field as a CloudSigma drive field.
func corePoint(f string) string {
	switch f {
	case "type":
		return "storage_type"
	case "metadata":
		return "meta"
	case "multiattach":
		return "allow_multimount"
	}
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// noContent is the 204 of deletes; the recorded traffic has text/html.
func noContent(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNoContent)
}

// account is the project the caller acts for.
func (a *API) account(ctx context.Context) (string, error) {
	p := httpapi.Principal(ctx)
	if p.BoundProject != "" {
		return p.BoundProject, nil
	}
	res, err := a.identity.ListProjects(ctx, p, identity.ProjectFilter{}, page.Request{Limit: 1})
	if err != nil {
		return "", fmt.Errorf("account of %s: %w", p.User.ID, err)
	}
	if len(res.Items) == 0 {
		return "", newError(http.StatusForbidden, "permission", "", "This account has no project to hold drives")
	}
	return res.Items[0].ID, nil
}

// readBody returns the request body, limited, with an empty body as nil.
// Trailing commas before a closing bracket are dropped: the documentation's
// own bulk-delete example has them, and clients copy it.
func (a *API) readBody(r *http.Request) (json.RawMessage, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, a.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newError(http.StatusRequestEntityTooLarge, "validation", "", "Request body is larger than %d bytes", a.maxBody)
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	b = dropTrailingCommas(b)
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, nil
	}
	if !json.Valid(b) {
		return nil, newError(http.StatusBadRequest, "validation", "", "Request body is not valid JSON")
	}
	return b, nil
}

// dropTrailingCommas removes a comma that only whitespace separates from
// a closing } or ], outside strings.
func dropTrailingCommas(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
		}
		if c == ',' {
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
				j++
			}
			if j < len(b) && (b[j] == '}' || b[j] == ']') {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// readObjects reads a create request's body as objects (see objects); an
// empty body is refused as missing its first required field.
func (a *API) readObjects(r *http.Request, field string) ([]json.RawMessage, error) {
	body, err := a.readBody(r)
	if err != nil {
		return nil, err
	}
	if body == nil {
		return nil, required(field)
	}
	return objects(body)
}

// objects splits a body into elements: {"objects": [...]}, a bare list, or
// one object.
func objects(body json.RawMessage) ([]json.RawMessage, error) {
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "[") {
		var list []json.RawMessage
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, newError(http.StatusBadRequest, "validation", "", "Request body must be a list of objects")
		}
		return list, nil
	}
	var wrapped map[string]json.RawMessage
	if err := json.Unmarshal(body, &wrapped); err != nil {
		return nil, newError(http.StatusBadRequest, "validation", "", "Request body must be a JSON object or list")
	}
	if raw, ok := wrapped["objects"]; ok {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, newError(http.StatusBadRequest, "validation", "objects", "objects must be a list")
		}
		return list, nil
	}
	return []json.RawMessage{body}, nil
}

// ref is the {resource_uri, uuid} of a related resource.
func ref(kind, id string) map[string]any {
	return map[string]any{"resource_uri": "/api/2.0/" + kind + "/" + id + "/", "uuid": id}
}
