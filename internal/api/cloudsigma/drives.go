package cloudsigma

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/jobs"
)

// sizeStep is the granularity drive sizes are rounded up to, as the
// recorded clone shows (1207959631 came back as 1207975936).
const sizeStep = 16384

// CloudSigma drive statuses.
const (
	stCreating    = "creating"
	stUnmounted   = "unmounted"
	stMounted     = "mounted"
	stResizing    = "resizing"
	stCloningDst  = "cloning_dst"
	stUnavailable = "unavailable"
	stCopying     = "copying"
	stUploading   = "uploading"
)

// status names a core status as CloudSigma does; "" means the drive is
// being deleted and is shown as gone.
func status(v volume.Volume) string {
	switch v.Status {
	case volume.Creating:
		return stCreating
	case volume.Cloning:
		return stCloningDst
	case volume.Available:
		return stUnmounted
	case volume.Attaching, volume.InUse, volume.Detaching:
		// A server that lists the drive mounts it at once; until the
		// detach is done the drive is still mounted, so "unmounted"
		// always means every operation of an unmounted drive works.
		return stMounted
	case volume.Resizing:
		return stResizing
	case volume.Restoring:
		return stCopying
	case volume.Uploading:
		return stUploading
	case volume.Deleting:
		return ""
	}
	return stUnavailable
}

// storageType names a core type with the first CloudSigma name that
// resolves to it.
func (a *API) storageType(coreType string) string {
	for _, n := range storageTypeNames() {
		if t, err := a.volumes.Catalog().Type(n); err == nil && t.Name == coreType {
			return n
		}
	}
	return coreType
}

// driveView holds what rendering drives needs beyond the volumes: the
// account's volumes (to find clones of a drive) and the power state of the
// instances drives are attached to.
type driveView struct {
	a       *API
	ctx     context.Context
	p       access.Scope
	project string
	all     []volume.Volume
	running map[string]bool
}

func (a *API) view(ctx context.Context, project string) (*driveView, error) {
	all, err := a.projectVolumes(ctx, project)
	if err != nil {
		return nil, err
	}
	return &driveView{a: a, ctx: ctx, p: httpapi.Principal(ctx).Scope(), project: project, all: all, running: map[string]bool{}}, nil
}

// projectVolumes lists every volume of the account that is not being
// deleted, in creation order.
func (a *API) projectVolumes(ctx context.Context, project string) ([]volume.Volume, error) {
	p := httpapi.Principal(ctx)
	var out []volume.Volume
	req := page.Request{Limit: page.MaxLimit}
	for {
		res, err := a.volumes.ListVolumes(ctx, p, volume.Filter{ProjectID: project}, req)
		if err != nil {
			return nil, fmt.Errorf("list drives: %w", err)
		}
		for _, v := range res.Items {
			if status(v) != "" {
				out = append(out, v)
			}
		}
		if res.Next == "" {
			return out, nil
		}
		if req.After, err = page.DecodeCursor(res.Next); err != nil {
			return nil, err
		}
	}
}

// drive loads one drive of the account; anything else is notexist.
func (a *API) drive(ctx context.Context, project, id string) (volume.Volume, error) {
	v, err := a.volumes.GetVolume(ctx, httpapi.Principal(ctx), id)
	if errs.Is(err, errs.NotExist) || (err == nil && (v.ProjectID != project || status(v) == "")) {
		return volume.Volume{}, notExist(id)
	}
	if err != nil {
		return volume.Volume{}, fmt.Errorf("get drive %s: %w", id, err)
	}
	return v, nil
}

// onRunning reports whether v is attached to a running instance.
func (d *driveView) onRunning(v volume.Volume) bool {
	for _, at := range v.Attachments {
		if at.InstanceID == "" {
			continue
		}
		run, ok := d.running[at.InstanceID]
		if !ok {
			in, err := d.a.volumes.GetInstance(d.ctx, httpapi.Principal(d.ctx), at.InstanceID)
			run = err == nil && in.PowerState == volume.Running
			d.running[at.InstanceID] = run
		}
		if run {
			return true
		}
	}
	return false
}

// jobRefs are the clone jobs a drive takes part in: its own creation when
// it is a clone, and the creation of every clone made from it.
func (d *driveView) jobRefs(v volume.Volume) []any {
	refs := []any{}
	add := func(c volume.Volume) {
		res, err := d.a.jobs.List(d.ctx, d.p, jobs.Filter{ResourceType: "volume", ResourceID: c.ID, Kind: "volume.create"}, page.Request{Limit: 10})
		if err != nil {
			d.a.log.Warn("list clone jobs", "volume", c.ID, "err", err)
			return
		}
		for _, j := range res.Items {
			refs = append(refs, ref("jobs", j.ID))
		}
	}
	if v.SourceType != "" {
		add(v)
	}
	for _, c := range d.all {
		if c.SourceType == "volume" && c.SourceID == v.ID {
			add(c)
		}
	}
	return refs
}

// full renders the detail representation of a drive.
func (d *driveView) full(v volume.Volume) map[string]any {
	st := d.a.storageType(v.Type)
	mounted := []any{}
	for _, at := range v.Attachments {
		if at.InstanceID != "" {
			mounted = append(mounted, ref("servers", at.InstanceID))
		}
	}
	snaps := []any{}
	if res, err := d.a.volumes.ListSnapshots(d.ctx, httpapi.Principal(d.ctx), volume.SnapshotFilter{VolumeID: v.ID}, page.Request{Limit: page.MaxLimit}); err == nil {
		for _, sn := range res.Items {
			if !sn.Public {
				snaps = append(snaps, ref("snapshots", sn.ID))
			}
		}
	}
	// Every block type takes snapshots, from the start: the recorded
	// traffic shows both null and true while a drive is being made.
	_, snapErr := d.a.volumes.Catalog().Type(v.Type)
	snapshotable := snapErr == nil
	meta := userMeta(v.Metadata)
	tags := []any{}
	for _, t := range v.Tags {
		tags = append(tags, ref("tags", t))
	}
	return map[string]any{
		"affinities":       []string{},
		"allow_multimount": v.MultiAttach,
		"backup_scheduler": nil,
		"grantees":         []any{},
		"iops":             nil,
		"jobs":             d.jobRefs(v),
		"licenses":         []any{},
		"media":            v.Media,
		"meta":             meta,
		"mounted_on":       mounted,
		"name":             v.Name,
		"owner":            ref("user", v.ProjectID),
		"permissions":      []any{},
		"remote_snapshots": []any{},
		"resource_uri":     "/api/2.0/drives/" + v.ID + "/",
		"runtime": map[string]any{
			"is_downloadable":          true,
			"is_ephemeral":             false,
			"is_snapshotable":          snapshotable,
			"snapshots_allocated_size": 0,
			"storage_type":             st,
		},
		"size":         v.Size,
		"snapshots":    snaps,
		"status":       status(v),
		"storage_type": st,
		"tags":         tags,
		"uuid":         v.ID,
	}
}

// short is the representation of /drives/.
func (d *driveView) short(v volume.Volume) map[string]any {
	return map[string]any{"owner": ref("user", v.ProjectID), "resource_uri": "/api/2.0/drives/" + v.ID + "/",
		"status": status(v), "uuid": v.ID}
}

// pick keeps exactly the requested fields of obj; unknown names are
// ignored.
func pick(obj map[string]any, fields []string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		if v, ok := obj[f]; ok {
			out[f] = v
		}
	}
	return out
}

// fieldsParam returns the ?fields= list, nil when absent.
func fieldsParam(r *http.Request) []string {
	v := r.URL.Query().Get("fields")
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// driveInput is what a request body may set; nil means absent.
type driveInput struct {
	name        *string
	size        *int64
	media       *string
	storageType *string
	meta        *map[string]string
	tags        *[]string
	multimount  *bool
}

// parseDrive reads one drive object. Read-only and unknown fields are
// ignored, because clients PUT back what they got; with create set, the
// required fields of driveFields must be present.
func parseDrive(raw json.RawMessage, create bool) (driveInput, []tpError) {
	var in driveInput
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return in, newError(http.StatusBadRequest, "validation", "", "A drive must be a JSON object").errs
	}
	var bad []tpError
	fail := func(point, format string, args ...any) {
		bad = append(bad, newError(http.StatusBadRequest, "validation", point, format, args...).errs...)
	}
	defs := driveFields()
	for _, f := range defs {
		v, ok := m[f.name]
		if f.readonly {
			continue
		}
		if !ok || string(v) == "null" {
			if create && f.required {
				fail(f.name, "This field is required")
			}
			continue
		}
		switch f.name {
		case "name", "media", "storage_type":
			var s string
			if json.Unmarshal(v, &s) != nil {
				fail(f.name, "%s must be a string", f.name)
				continue
			}
			if f.choices != nil && !slices.Contains(f.choices, s) {
				fail(f.name, "Select a valid choice. %s is not one of the available choices: %s", s, strings.Join(f.choices, ", "))
				continue
			}
			switch f.name {
			case "name":
				in.name = &s
			case "media":
				in.media = &s
			default:
				in.storageType = &s
			}
		case "size":
			n, err := parseSize(v)
			if err != nil {
				fail("size", "%s", err.Error())
				continue
			}
			in.size = &n
		case "meta":
			var mm map[string]any
			if json.Unmarshal(v, &mm) != nil {
				fail("meta", "meta must be a dictionary")
				continue
			}
			out := map[string]string{}
			for k, x := range mm {
				s, ok := x.(string)
				if !ok {
					fail("meta", "meta value of %q must be a string", k)
					continue
				}
				out[k] = s
			}
			in.meta = &out
		case "tags":
			tags, err := parseTags(v)
			if err != nil {
				fail("tags", "%s", err.Error())
				continue
			}
			in.tags = &tags
		case "allow_multimount":
			var b bool
			if json.Unmarshal(v, &b) != nil {
				fail("allow_multimount", "allow_multimount must be a boolean")
				continue
			}
			in.multimount = &b
		case "affinities":
			var list []string
			if json.Unmarshal(v, &list) != nil {
				fail("affinities", "affinities must be a list of strings")
				continue
			}
			for _, x := range list {
				if !slices.Contains(f.choices, x) {
					fail("affinities", "Select a valid choice. %s is not one of the available choices: %s", x, strings.Join(f.choices, ", "))
				}
			}
		}
	}
	return in, bad
}

// parseSize accepts a number or a numeric string, as pycloudsigma sends
// both, and rounds up to sizeStep.
func parseSize(v json.RawMessage) (int64, error) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if ferr != nil || f != float64(int64(f)) {
			return 0, fmt.Errorf("size must be an integer number of bytes")
		}
		n = int64(f)
	}
	if n <= 0 {
		return 0, fmt.Errorf("size must be positive")
	}
	return (n + sizeStep - 1) / sizeStep * sizeStep, nil
}

// parseTags accepts tag uuids, tag URIs or {"uuid": ...} objects.
func parseTags(v json.RawMessage) ([]string, error) {
	var list []json.RawMessage
	if json.Unmarshal(v, &list) != nil {
		return nil, fmt.Errorf("tags must be a list")
	}
	out := []string{}
	for _, x := range list {
		var s string
		if json.Unmarshal(x, &s) != nil {
			var o struct {
				UUID        string `json:"uuid"`
				ResourceURI string `json:"resource_uri"`
			}
			if json.Unmarshal(x, &o) != nil {
				return nil, fmt.Errorf("a tag must be a uuid, a URI or an object with a uuid")
			}
			s = o.UUID
			if s == "" {
				s = o.ResourceURI
			}
		}
		s = strings.TrimSuffix(s, "/")
		if i := strings.LastIndex(s, "/"); i >= 0 {
			s = s[i+1:]
		}
		if s == "" {
			return nil, fmt.Errorf("a tag must be a uuid, a URI or an object with a uuid")
		}
		out = append(out, s)
	}
	return out, nil
}

// checkStorageType resolves a CloudSigma storage type to a block type.
func (a *API) checkStorageType(name string) (volume.Type, error) {
	t, err := a.volumes.Catalog().Type(name)
	if err != nil || t.Kind != volume.KindBlock {
		return volume.Type{}, newError(http.StatusBadRequest, "validation", "storage_type", "Storage type %s is not available in this location", name)
	}
	return t, nil
}

func sizeRange(t volume.Type) apiError {
	return newError(http.StatusBadRequest, "validation", "size", "Drive size must be between %d and %d bytes", t.MinSize, t.MaxSize)
}

// toCreate turns a parsed drive into a core request and checks it against
// the core's rules without recording anything.
func (a *API) toCreate(project string, in driveInput) (volume.Create, []tpError) {
	st := defaultStorageType
	if in.storageType != nil {
		st = *in.storageType
	}
	t, err := a.checkStorageType(st)
	if err != nil {
		return volume.Create{}, err.(apiError).errs
	}
	c := volume.Create{ProjectID: project, Name: *in.name, Size: *in.size, Type: t.Name, Media: *in.media}
	if in.meta != nil {
		c.Metadata = keepRDS(*in.meta, nil)
	}
	if in.tags != nil {
		c.Tags = *in.tags
	}
	if in.multimount != nil {
		c.MultiAttach = *in.multimount
	}
	if c.Size < t.MinSize || c.Size > t.MaxSize {
		return c, sizeRange(t).errs
	}
	if err := a.volumes.CheckCreate(c); err != nil {
		return c, translate(err).errs
	}
	return c, nil
}

func (a *API) createDrives(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	body, err := a.readBody(r)
	if err != nil {
		return err
	}
	if body == nil {
		return newError(http.StatusBadRequest, "validation", "", "Request body is empty; a drive definition is expected")
	}
	raws, err := objects(body)
	if err != nil {
		return err
	}
	if len(raws) == 0 {
		return newError(http.StatusBadRequest, "validation", "objects", "No drives to create")
	}
	// Every element is checked before any is recorded, so a batch is all
	// or nothing.
	var creates []volume.Create
	var bad []tpError
	for _, raw := range raws {
		in, e := parseDrive(raw, true)
		if len(e) == 0 {
			var c volume.Create
			c, e = a.toCreate(project, in)
			creates = append(creates, c)
		}
		bad = append(bad, e...)
	}
	if len(bad) > 0 {
		return apiError{http.StatusBadRequest, bad}
	}
	p := httpapi.Principal(r.Context())
	var made []volume.Volume
	for _, c := range creates {
		v, _, err := a.volumes.CreateVolume(r.Context(), p, c)
		if err != nil {
			// A quota or capacity refusal part way: take back what this
			// request made, so the batch stays all or nothing.
			for _, m := range made {
				if _, derr := a.volumes.DeleteVolume(r.Context(), p, m.ID, true); derr != nil {
					a.log.Warn("roll back drive", "volume", m.ID, "err", derr)
				}
			}
			if errs.Is(err, errs.NoSpace) {
				return newError(http.StatusServiceUnavailable, "backend", "", "We currently cannot provide enough resources to create a %s drive", a.storageType(c.Type))
			}
			return fmt.Errorf("create drive %q: %w", c.Name, err)
		}
		made = append(made, v)
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	out := make([]any, len(made))
	for i, v := range made {
		out[i] = d.full(v)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"objects": out})
	return nil
}

func (a *API) getDrive(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	v, err := a.drive(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		// A library drive is readable here too, without an owner.
		img, ierr := a.image(r, r.PathValue("uuid"))
		if ierr != nil {
			return err
		}
		obj := a.libdriveAsDrive(img)
		if f := fieldsParam(r); f != nil {
			obj = pick(obj, f)
		}
		writeJSON(w, http.StatusOK, obj)
		return nil
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	obj := d.full(v)
	if f := fieldsParam(r); f != nil {
		obj = pick(obj, f)
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

// applyEdit writes name, meta, tags, allow_multimount and (unless frozen)
// media; then grows the drive when size asks for more. It returns the drive
// as CloudSigma shows it right after: during a resize, the old size with
// status resizing.
func (a *API) applyEdit(ctx context.Context, v volume.Volume, in driveInput, frozen bool) (volume.Volume, error) {
	p := httpapi.Principal(ctx)
	grow := !frozen && in.size != nil && *in.size != v.Size
	if grow && *in.size < v.Size {
		return v, newError(http.StatusBadRequest, "validation", "size", "Drive size cannot be reduced: %d is smaller than the current %d bytes", *in.size, v.Size)
	}
	if grow {
		t, err := a.volumes.Catalog().Type(v.Type)
		if err == nil && *in.size > t.MaxSize {
			return v, sizeRange(t)
		}
	}
	u := volume.Update{Name: in.name, Tags: in.tags, MultiAttach: in.multimount}
	if in.meta != nil {
		meta := keepRDS(*in.meta, v.Metadata)
		u.Metadata = &meta
	}
	if !frozen {
		u.Media = in.media
	}
	if u.Name != nil || u.Metadata != nil || u.Tags != nil || u.MultiAttach != nil || u.Media != nil {
		nv, err := a.volumes.UpdateVolume(ctx, p, v.ID, u)
		if err != nil {
			return v, fmt.Errorf("edit drive %s: %w", v.ID, err)
		}
		nv.Attachments = v.Attachments
		v = nv
	}
	if grow {
		if _, _, err := a.volumes.ExtendVolume(ctx, p, v.ID, *in.size); err != nil {
			return v, fmt.Errorf("resize drive %s: %w", v.ID, err)
		}
		v.Status = volume.Resizing
	}
	return v, nil
}

func (a *API) editDrive(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	v, err := a.drive(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	body, err := a.readBody(r)
	if err != nil {
		return err
	}
	if body == nil {
		body = json.RawMessage("{}")
	}
	in, bad := parseDrive(body, false)
	if len(bad) > 0 {
		return apiError{http.StatusBadRequest, bad}
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	// On a running server only name, meta, tags and allow_multimount may
	// change; the rest is ignored, as documented.
	frozen := d.onRunning(v)
	if in.size != nil && *in.size != v.Size && !frozen {
		if s := status(v); s != stUnmounted && s != stMounted {
			return stateError("resize", s, stUnmounted, stMounted)
		}
	}
	v, err = a.applyEdit(r.Context(), v, in, frozen)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.full(v))
	return nil
}

func (a *API) driveAction(w http.ResponseWriter, r *http.Request) error {
	switch do := r.URL.Query().Get("do"); do {
	case "resize":
		return a.resizeDrive(w, r)
	case "clone":
		return a.cloneDrive(w, r)
	case "upload_chunk":
		return a.uploadChunkLink(w, r)
	case "":
		return newError(http.StatusBadRequest, "validation", "do", "This field is required")
	default:
		return newError(http.StatusBadRequest, "validation", "do", "Unknown action %s", do)
	}
}

// resizeDrive is the full-definition update that fails instead of ignoring
// what it cannot apply.
func (a *API) resizeDrive(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	v, err := a.drive(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	body, err := a.readBody(r)
	if err != nil {
		return err
	}
	if body == nil {
		return required("size")
	}
	in, bad := parseDrive(body, false)
	if len(bad) > 0 {
		return apiError{http.StatusBadRequest, bad}
	}
	if in.size == nil {
		return required("size")
	}
	if s := status(v); s != stUnmounted && s != stMounted {
		return stateError("resize", s, stUnmounted, stMounted)
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	if d.onRunning(v) {
		return newError(http.StatusForbidden, "permission", "", "Cannot resize drive %s: it is mounted on a running server. Stop the server first", v.ID)
	}
	v, err = a.applyEdit(r.Context(), v, in, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"objects": []any{d.full(v)}})
	return nil
}

func (a *API) cloneDrive(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	src, err := a.drive(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	in, err := a.cloneRequest(r)
	if err != nil {
		return err
	}
	if s := status(src); s != stUnmounted && s != stMounted {
		return stateError("clone", s, stUnmounted, stMounted)
	}
	c := volume.Create{ProjectID: project, VolumeID: src.ID, Media: src.Media, MultiAttach: src.MultiAttach,
		Metadata: src.Metadata, Tags: src.Tags, Type: src.Type, Size: src.Size}
	return a.clone(w, r, in, src.Name, c, src.Metadata, true)
}

// cloneRequest reads a clone action's options; the Go SDK sends no body
// when it has none.
func (a *API) cloneRequest(r *http.Request) (driveInput, error) {
	body, err := a.readBody(r)
	if err != nil {
		return driveInput{}, err
	}
	if body == nil {
		body = json.RawMessage("{}")
	}
	in, bad := parseDrive(body, false)
	if len(bad) > 0 {
		return driveInput{}, apiError{http.StatusBadRequest, bad}
	}
	return in, nil
}

// clone creates the copy c of a drive, snapshot or library drive named
// srcName, with what the request changes applied, and answers 202 with the
// new drive, inside {"objects": […]} when wrapped (the snapshot action
// answers it bare).
func (a *API) clone(w http.ResponseWriter, r *http.Request, in driveInput, srcName string, c volume.Create, srcMeta map[string]string, wrapped bool) error {
	name, err := a.cloneName(r, srcName, in.name)
	if err != nil {
		return err
	}
	c.Name = name
	if in.media != nil {
		c.Media = *in.media
	}
	if in.multimount != nil {
		c.MultiAttach = *in.multimount
	}
	if in.meta != nil {
		c.Metadata = keepRDS(*in.meta, srcMeta)
	}
	if in.tags != nil {
		c.Tags = *in.tags
	}
	if in.storageType != nil {
		t, err := a.checkStorageType(*in.storageType)
		if err != nil {
			return err
		}
		c.Type = t.Name
	}
	if in.size != nil {
		if *in.size < c.Size {
			return newError(http.StatusBadRequest, "validation", "size", "Size of the cloned drive can only be bigger or the same: %d is smaller than %d bytes", *in.size, c.Size)
		}
		c.Size = *in.size
	}
	v, _, err := a.volumes.CreateVolume(r.Context(), httpapi.Principal(r.Context()), c)
	if err != nil {
		if errs.Is(err, errs.NoSpace) {
			return newError(http.StatusServiceUnavailable, "backend", "", "We currently cannot provide enough resources to create a %s drive", a.storageType(c.Type))
		}
		return fmt.Errorf("clone %s: %w", srcName, err)
	}
	d, err := a.view(r.Context(), c.ProjectID)
	if err != nil {
		return err
	}
	if !wrapped {
		writeJSON(w, http.StatusAccepted, d.full(v))
		return nil
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"objects": []any{d.full(v)}})
	return nil
}

// cloneName is the name given, or else the source's name by the caller's
// clone naming.
func (a *API) cloneName(r *http.Request, source string, given *string) (string, error) {
	if given != nil {
		return *given, nil
	}
	pr, err := a.identity.Profile(r.Context(), httpapi.Principal(r.Context()))
	if err != nil {
		return "", err
	}
	return cloneName(source, pr.CloneNaming, a.now()), nil
}

// deletable checks CloudSigma's delete rule: not in a transitional state
// and not on a running server. A drive on a stopped server is detached
// first (force).
func (d *driveView) deletable(v volume.Volume) (force bool, err error) {
	switch s := status(v); s {
	case stUnmounted, stUnavailable, stUploading:
		return false, nil
	case stMounted:
		if d.onRunning(v) {
			return false, newError(http.StatusForbidden, "permission", "", "Cannot delete drive %s: it is mounted on a running server", v.ID)
		}
		return true, nil
	default:
		return false, stateError("delete", s, stUnmounted, stMounted)
	}
}

func (a *API) deleteDrive(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	v, err := a.drive(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	force, err := d.deletable(v)
	if err != nil {
		return err
	}
	if err := a.removeDrive(r.Context(), v, force); err != nil {
		return err
	}
	noContent(w)
	return nil
}

// removeDrive deletes a drive and, as CloudSigma does, its snapshots. A
// snapshot still being taken is left alone rather than failing the delete.
func (a *API) removeDrive(ctx context.Context, v volume.Volume, force bool) error {
	p := httpapi.Principal(ctx)
	if _, err := a.volumes.DeleteVolume(ctx, p, v.ID, force); err != nil {
		return fmt.Errorf("delete drive %s: %w", v.ID, err)
	}
	res, err := a.volumes.ListSnapshots(ctx, p, volume.SnapshotFilter{ProjectID: v.ProjectID, VolumeID: v.ID}, page.Request{Limit: page.MaxLimit})
	if err != nil {
		return fmt.Errorf("snapshots of drive %s: %w", v.ID, err)
	}
	for _, sn := range res.Items {
		// Library drives published from it stay: they are the operator's.
		if sn.Public || (sn.Status != volume.SnapAvailable && sn.Status != volume.SnapError) {
			continue
		}
		if _, err := a.volumes.DeleteSnapshot(ctx, p, sn.ID); err != nil && !errs.Is(err, errs.Conflict) {
			return fmt.Errorf("delete snapshot %s of drive %s: %w", sn.ID, v.ID, err)
		}
	}
	return nil
}

// bulkBody reads the caller's account and the objects of a bulk request,
// which must have a body.
func (a *API) bulkBody(r *http.Request) (project string, raws []json.RawMessage, err error) {
	if project, err = a.account(r.Context()); err != nil {
		return "", nil, err
	}
	body, err := a.readBody(r)
	if err != nil {
		return "", nil, err
	}
	if body == nil {
		return "", nil, required("objects")
	}
	raws, err = objects(body)
	return project, raws, err
}

// deleteDrives deletes several drives; every uuid is checked first, so an
// unknown or busy one deletes nothing.
func (a *API) deleteDrives(w http.ResponseWriter, r *http.Request) error {
	project, raws, err := a.bulkBody(r)
	if err != nil {
		return err
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	type target struct {
		v     volume.Volume
		force bool
	}
	var targets []target
	for _, raw := range raws {
		var id string
		if json.Unmarshal(raw, &id) != nil {
			var o struct {
				UUID string `json:"uuid"`
			}
			if json.Unmarshal(raw, &o) != nil || o.UUID == "" {
				return required("uuid")
			}
			id = o.UUID
		}
		v, err := a.drive(r.Context(), project, id)
		if err != nil {
			return err
		}
		force, err := d.deletable(v)
		if err != nil {
			return err
		}
		targets = append(targets, target{v, force})
	}
	for _, t := range targets {
		if err := a.removeDrive(r.Context(), t.v, t.force); err != nil {
			return err
		}
	}
	noContent(w)
	return nil
}

// availabilityGroups answers which drives share a storage host: this
// server keeps every drive in one pool, so all of them form one group.
func (a *API) availabilityGroups(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	all, err := a.projectVolumes(r.Context(), project)
	if err != nil {
		return err
	}
	groups := [][]string{}
	if len(all) > 0 {
		ids := make([]string, len(all))
		for i, v := range all {
			ids[i] = v.ID
		}
		groups = append(groups, ids)
	}
	writeJSON(w, http.StatusOK, groups)
	return nil
}
