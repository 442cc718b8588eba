// Package hpcai owns the HPC-AI dialect: every call a POST with a JSON body
// under /api, a login that hands out a one-day JWT used as the AccessToken
// cookie (or Bearer), volumes sized in GB with HPC-AI's field names and
// statuses, region ids as uuids, and {"message": …} errors. A user's
// volumes live in their default project. It translates; the volume core
// decides.
package hpcai

import (
	"crypto/md5"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

const (
	gib       = 1 << 30
	cookie    = "AccessToken"
	tokenLife = 24 * time.Hour
)

// API serves the dialect.
type API struct {
	identity *identity.Service
	volumes  *volume.Service
	log      *slog.Logger
	maxBody  int64
	surface  httpapi.Surface
	// region is the id clients address this node's region by.
	region string
}

func New(id *identity.Service, volumes *volume.Service, log *slog.Logger, maxBody int64) *API {
	a := &API{identity: id, volumes: volumes, log: log, maxBody: maxBody, region: regionID(volumes.Catalog().Region)}
	a.surface = httpapi.Surface{Auth: id, Schemes: httpapi.Cookie | httpapi.Bearer, Cookie: cookie, Audience: identity.AudienceHPCAI, Render: a.render}
	return a
}

// WithRegionID sets the id clients address this node's region by ("" keeps
// the id derived from the region's name).
func (a *API) WithRegionID(id string) *API {
	if id != "" {
		a.region = id
	}
	return a
}

// routes are the dialect's calls; every one is a POST.
var routes = []string{"/api/user/login", "/api/region/list", "/api/storage/volume/create", "/api/storage/volume/list",
	"/api/storage/volume/detail", "/api/storage/volume/resize", "/api/storage/volume/delete"}

// Register mounts the dialect on mux. The dialect's path prefixes are
// mounted too, so that an unknown path or another method under them is
// answered in HPC-AI's body rather than by whichever face owns /api/.
func (a *API) Register(mux httpapi.Mux) {
	mux.Handle("POST /api/user/login", a.surface.Public(a.login))
	p := a.surface.Private
	mux.Handle("POST /api/region/list", p(a.regions))
	mux.Handle("POST /api/storage/volume/create", p(a.create))
	mux.Handle("POST /api/storage/volume/list", p(a.list))
	mux.Handle("POST /api/storage/volume/detail", p(a.detail))
	mux.Handle("POST /api/storage/volume/resize", p(a.resize))
	mux.Handle("POST /api/storage/volume/delete", p(a.delete))
	for _, prefix := range []string{"/api/user/", "/api/region/", "/api/storage/", "/api/instance/"} {
		mux.Handle(prefix, a.surface.Public(a.unknown))
	}
}

// unknown answers a path under the dialect's prefixes that no route serves:
// 405 with Allow for a known path asked with another method, else 404.
func (a *API) unknown(w http.ResponseWriter, r *http.Request) error {
	if slices.Contains(routes, strings.TrimSuffix(r.URL.Path, "/")) {
		w.Header().Set("Allow", http.MethodPost)
		return message{http.StatusMethodNotAllowed, "Method Not Allowed"}
	}
	return message{http.StatusNotFound, "Not Found"}
}

// message is an error with HPC-AI's body and a status.
type message struct {
	status int
	text   string
}

func (m message) Error() string { return m.text }

var (
	errUnauthorized = message{http.StatusUnauthorized, "Unauthorized"}
	errNotFound     = message{http.StatusNotFound, "Volume not found"}
)

func (a *API) render(w http.ResponseWriter, r *http.Request, err error) {
	var m message
	if !errors.As(err, &m) {
		m = message{httpapi.Status(err), errs.Message(err)}
		switch errs.KindOf(err) {
		case errs.Unauthorized, errs.RateLimited:
			m = errUnauthorized
		case errs.NotExist:
			m = errNotFound
		case errs.Exist:
			m.status = http.StatusConflict
		case errs.Internal, errs.Other:
			m.text = "internal error; request id " + httpapi.RequestID(r.Context())
		}
	}
	httpapi.LogError(a.log, r, m.status, err)
	_ = httpapi.WriteJSON(w, m.status, map[string]string{"message": m.text})
}

func (a *API) decode(r *http.Request, dst any) error {
	if err := httpapi.DecodeJSON(r, a.maxBody, dst, false); err != nil {
		return message{httpapi.Status(err), errs.Message(err)}
	}
	return nil
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	p, err := a.identity.AuthenticatePassword(r.Context(), in.Username, in.Password, httpapi.ClientIP(r))
	if errs.Is(err, errs.Unauthorized) || errs.Is(err, errs.RateLimited) {
		return message{http.StatusUnauthorized, "Invalid username or password"}
	}
	if err != nil {
		return err
	}
	tok, _ := a.identity.IssueSession(p, tokenLife, identity.AudienceHPCAI, look())
	http.SetCookie(w, &http.Cookie{Name: cookie, Value: tok, Path: "/", HttpOnly: true, MaxAge: int(tokenLife.Seconds()), SameSite: http.SameSiteStrictMode})
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"accessToken": tok, "accessExpire": int(tokenLife.Seconds())})
}

// look is the seed's token: clients that decode it read iss, aud and group.
func look() identity.SessionLook {
	return identity.SessionLook{Issuer: "hpcaitech.com", Audience: []string{"platform.colossalai.com"}}
}

// regionID is a stable uuid for the region name: HPC-AI clients address
// regions by uuid.
func regionID(name string) string {
	b := md5.Sum([]byte("region:" + name))
	b[6] = b[6]&0x0f | 0x30 // version 3, name-based
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (a *API) regions(w http.ResponseWriter, r *http.Request) error {
	name := a.volumes.Catalog().Region
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"regionList": []map[string]string{{"id": a.region, "name": name}}})
}

// status maps the core's volume status to HPC-AI's.
func status(v volume.Volume) string {
	switch v.Status {
	case volume.Creating, volume.Cloning, volume.Uploading:
		return "Pending"
	case volume.InUse, volume.Detaching:
		return "InUse"
	case volume.Resizing:
		return "Resizing"
	case volume.Deleting:
		return "Deleting"
	case volume.Error:
		return "Failed"
	}
	return "Available"
}

func (a *API) volumeJSON(r *http.Request, v volume.Volume) map[string]any {
	used := int64(0)
	if v.BackendID != "" {
		// Whole GB as the seed shows, rounded up: any data shows.
		alloc, _ := a.volumes.Allocation(r.Context(), v)
		used = (alloc + gib - 1) / gib
	}
	return map[string]any{"id": v.ID, "volumeName": v.Name, "region": a.region, "volumeType": v.Type,
		"sizeGB": v.Size / gib, "usageGB": used, "status": status(v), "username": httpapi.Principal(r.Context()).User.Username,
		"createdAt": v.Created.UTC().Format("2006-01-02T15:04:05Z")}
}

// project is the caller's default project.
func (a *API) project(r *http.Request) (string, error) {
	pr, err := a.identity.DefaultProject(r.Context(), httpapi.Principal(r.Context()))
	return pr.ID, err
}

func (a *API) create(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name       string `json:"name"`
		SizeGB     any    `json:"sizeGB"`
		Region     string `json:"region"`
		VolumeType string `json:"volumeType"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	size, ok := in.SizeGB.(float64)
	switch {
	case in.Name == "":
		return message{http.StatusBadRequest, "name is required"}
	case !ok || size < 1 || size != float64(int64(size)):
		return message{http.StatusBadRequest, "sizeGB must be a positive integer"}
	case in.Region != a.region:
		return message{http.StatusBadRequest, "region not found"}
	case in.VolumeType != "filesystem" && in.VolumeType != "highspeedstorage":
		return message{http.StatusBadRequest, "invalid volumeType"}
	}
	project, err := a.project(r)
	if err != nil {
		return err
	}
	p := httpapi.Principal(r.Context())
	same, err := a.volumes.ListVolumes(r.Context(), p, volume.Filter{ProjectID: project, Name: in.Name}, page.Request{Limit: 1})
	if err != nil {
		return err
	}
	if len(same.Items) > 0 {
		return message{http.StatusConflict, "Volume already exists"}
	}
	v, _, err := a.volumes.CreateVolume(r.Context(), p, volume.Create{ProjectID: project, Name: in.Name, Size: int64(size) * gib, Type: in.VolumeType})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"volume": a.volumeJSON(r, v)})
}

func (a *API) list(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Pager struct {
			CurrentPage *int `json:"currentPage"`
			PageSize    *int `json:"pageSize"`
		} `json:"pager"`
	}
	if r.ContentLength != 0 {
		if err := a.decode(r, &in); err != nil {
			return err
		}
	}
	cur, size := 1, 10
	if in.Pager.CurrentPage != nil {
		cur = *in.Pager.CurrentPage
	}
	if in.Pager.PageSize != nil {
		size = *in.Pager.PageSize
	}
	if cur < 1 || size < 1 {
		return message{http.StatusBadRequest, "currentPage and pageSize must be at least 1"}
	}
	size = min(size, 100)
	project, err := a.project(r)
	if err != nil {
		return err
	}
	// A user's volumes are few; read them all to answer newest first with
	// a total, which keyset pages cannot give.
	var all []volume.Volume
	req := page.Request{Limit: page.MaxLimit}
	for {
		res, err := a.volumes.ListVolumes(r.Context(), httpapi.Principal(r.Context()), volume.Filter{ProjectID: project}, req)
		if err != nil {
			return err
		}
		all = append(all, res.Items...)
		if res.Next == "" {
			break
		}
		if req.After, err = page.DecodeCursor(res.Next); err != nil {
			return err
		}
	}
	items := []map[string]any{}
	for i := len(all) - 1 - (cur-1)*size; i >= 0 && len(items) < size; i-- {
		items = append(items, a.volumeJSON(r, all[i]))
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"volumeList": items,
		"pager": map[string]int{"currentPage": cur, "pageSize": size, "total": len(all)}})
}

// target is the body naming a volume; resize adds a size.
type target struct {
	VolumeID string `json:"volumeId"`
	SizeGB   any    `json:"sizeGB"`
}

// volume decodes the body and returns the named volume if it is in the
// caller's project; any other volume is not found.
func (a *API) volume(r *http.Request) (volume.Volume, target, error) {
	var in target
	if err := a.decode(r, &in); err != nil {
		return volume.Volume{}, in, err
	}
	if in.VolumeID == "" {
		return volume.Volume{}, in, message{http.StatusBadRequest, "volumeId is required"}
	}
	project, err := a.project(r)
	if err != nil {
		return volume.Volume{}, in, err
	}
	v, err := a.volumes.GetVolume(r.Context(), httpapi.Principal(r.Context()), in.VolumeID)
	if errs.Is(err, errs.NotExist) || errs.Is(err, errs.Invalid) || (err == nil && v.ProjectID != project) {
		return volume.Volume{}, in, errNotFound
	}
	return v, in, err
}

func (a *API) detail(w http.ResponseWriter, r *http.Request) error {
	v, _, err := a.volume(r)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"volume": a.volumeJSON(r, v)})
}

func (a *API) resize(w http.ResponseWriter, r *http.Request) error {
	v, in, err := a.volume(r)
	if err != nil {
		return err
	}
	size, ok := in.SizeGB.(float64)
	if !ok || size < 1 || size != float64(int64(size)) {
		return message{http.StatusBadRequest, "sizeGB must be a positive integer"}
	}
	if int64(size)*gib < v.Size {
		return message{http.StatusBadRequest, "sizeGB can only be increased"}
	}
	if v.Status != volume.Available && v.Status != volume.InUse {
		return message{http.StatusConflict, "Volume is not ready"}
	}
	v, _, err = a.volumes.ExtendVolume(r.Context(), httpapi.Principal(r.Context()), v.ID, int64(size)*gib)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"volume": a.volumeJSON(r, v)})
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) error {
	v, _, err := a.volume(r)
	if err != nil {
		return err
	}
	switch v.Status {
	case volume.Creating, volume.Cloning:
		return message{http.StatusConflict, "Volume is not ready"}
	case volume.InUse, volume.Attaching, volume.Detaching:
		return message{http.StatusConflict, "Volume is in use"}
	}
	if _, err := a.volumes.DeleteVolume(r.Context(), httpapi.Principal(r.Context()), v.ID, false); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{})
}
