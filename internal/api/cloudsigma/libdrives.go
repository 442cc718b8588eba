package cloudsigma

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// Library drives are the core's images: the operator's public snapshots.
// Tenants list them and clone them into drives of their account; staff
// publish one from a drive of theirs with POST /libdrives/ (a call
// CloudSigma does not document: its library is filled by its operators, and
// this keeps the whole image lifecycle on one face) and unpublish it with
// DELETE. The descriptive fields a library drive has beyond a drive's are
// kept in the image's metadata under libAttrs.

// libAttrs are the library drive fields kept in the image's metadata, with
// the value a publish without them gets.
var libAttrs = []struct{ name, def string }{
	{"arch", "64"}, {"distribution", ""}, {"image_type", "preinst"}, {"install_notes", ""}, {"media", volume.MediaDisk},
	{"os", "other"}, {"url", ""}, {"version", ""},
}

// libCategoryKey keeps the category list, comma-separated.
const libCategoryKey = "category"

// libStatus names an image's status; "" is being unpublished, shown as gone.
func libStatus(sn volume.Snapshot) string {
	switch sn.Status {
	case volume.SnapCreating:
		return stCreating
	case volume.SnapAvailable:
		return stUnmounted
	case volume.SnapDeleting:
		return ""
	}
	return stUnavailable
}

// libdriveJSON renders an image as CloudSigma's library drive. Fields a
// provider leaves empty (distribution, version) are null, as recorded.
func libdriveJSON(sn volume.Snapshot) map[string]any {
	out := map[string]any{
		"affinities":       []string{},
		"allow_multimount": false,
		"category":         []string{},
		"description":      sn.Description,
		"favourite":        false,
		"jobs":             []any{},
		"licenses":         []any{},
		"meta":             map[string]string{},
		"mounted_on":       []any{},
		"name":             sn.Name,
		"owner":            nil,
		"paid":             false,
		"resource_uri":     "/api/2.0/libdrives/" + sn.ID + "/",
		"size":             sn.Size,
		"status":           libStatus(sn),
		"storage_type":     nil,
		"tags":             []any{},
		"uuid":             sn.ID,
	}
	for _, at := range libAttrs {
		v, ok := sn.Metadata[at.name]
		if !ok {
			v = at.def
		}
		out[at.name] = v
		if v == "" && (at.name == "distribution" || at.name == "version") {
			out[at.name] = nil
		}
	}
	if c := sn.Metadata[libCategoryKey]; c != "" {
		out["category"] = strings.Split(c, ",")
	}
	return out
}

// libdriveAsDrive is a library drive read through /drives/{uuid}/: the
// drive's shape with no owner, as CloudSigma answers, since a server may
// name a library drive among its drives.
func (a *API) libdriveAsDrive(sn volume.Snapshot) map[string]any {
	media := sn.Metadata["media"]
	if media == "" {
		media = volume.MediaDisk
	}
	return map[string]any{
		"affinities": []string{}, "allow_multimount": false, "grantees": []any{}, "jobs": []any{}, "licenses": []any{},
		"media": media, "meta": map[string]string{}, "mounted_on": []any{}, "name": sn.Name, "owner": nil,
		"permissions": []any{}, "resource_uri": "/api/2.0/drives/" + sn.ID + "/",
		"runtime": map[string]any{"is_snapshotable": false, "snapshots_allocated_size": 0, "storage_type": defaultStorageType},
		"size":    sn.Size, "snapshots": []any{}, "status": libStatus(sn), "storage_type": defaultStorageType, "tags": []any{}, "uuid": sn.ID,
	}
}

// image loads a library drive; anything else, or one being unpublished, is
// notexist.
func (a *API) image(r *http.Request, id string) (volume.Snapshot, error) {
	sn, err := a.volumes.GetImage(r.Context(), httpapi.Principal(r.Context()), id)
	if errs.Is(err, errs.NotExist) || (err == nil && libStatus(sn) == "") {
		return volume.Snapshot{}, notExist(id)
	}
	return sn, err
}

func (a *API) listLibdrives(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	win, err := parseWindow(q)
	if err != nil {
		return err
	}
	var all []volume.Snapshot
	req := page.Request{Limit: page.MaxLimit}
	for {
		res, err := a.volumes.ListImages(r.Context(), httpapi.Principal(r.Context()), req)
		if err != nil {
			return err
		}
		for _, sn := range res.Items {
			if libStatus(sn) != "" && libMatches(q, sn) {
				all = append(all, sn)
			}
		}
		if res.Next == "" {
			break
		}
		if req.After, err = page.DecodeCursor(res.Next); err != nil {
			return err
		}
	}
	lo, hi := win.slice(len(all))
	out := make([]any, 0, hi-lo)
	for _, sn := range all[lo:hi] {
		obj := libdriveJSON(sn)
		if f := fieldsParam(r); f != nil {
			obj = pick(obj, f)
		}
		out = append(out, obj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": win.meta(len(all)), "objects": out})
	return nil
}

// libMatches applies the library filters of the recorded schema, ANDed,
// each an OR of comma-separated values.
func libMatches(q map[string][]string, sn volume.Snapshot) bool {
	attr := func(k string) func(string) bool {
		return func(alt string) bool { return sn.Metadata[k] == alt }
	}
	tests := map[string]func(alt string) bool{
		"arch": attr("arch"), "distribution": attr("distribution"), "image_type": attr("image_type"),
		"os": attr("os"), "version": attr("version"),
		"category": func(alt string) bool { return slices.Contains(strings.Split(sn.Metadata[libCategoryKey], ","), alt) },
		"name":     func(alt string) bool { return sn.Name == alt },
		"name__icontains": func(alt string) bool {
			return strings.Contains(strings.ToLower(sn.Name), strings.ToLower(alt))
		},
		"uuid": func(alt string) bool { return sn.ID == alt },
	}
	return matchFilters(q, tests)
}

func (a *API) getLibdrive(w http.ResponseWriter, r *http.Request) error {
	sn, err := a.image(r, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	obj := libdriveJSON(sn)
	if f := fieldsParam(r); f != nil {
		obj = pick(obj, f)
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

// publishLibdrive makes a library drive of one of the caller's drives;
// the core allows it to staff only.
func (a *API) publishLibdrive(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	raws, err := a.readObjects(r, "drive")
	if err != nil {
		return err
	}
	if len(raws) != 1 {
		return newError(http.StatusBadRequest, "validation", "objects", "Publish one library drive at a time")
	}
	var in map[string]json.RawMessage
	if json.Unmarshal(raws[0], &in) != nil || in == nil {
		return newError(http.StatusBadRequest, "validation", "", "A library drive must be a JSON object")
	}
	ids, err := parseTags(json.RawMessage("[" + string(in["drive"]) + "]"))
	if in["drive"] == nil || err != nil {
		return required("drive")
	}
	src, err := a.drive(r.Context(), project, ids[0])
	if err != nil {
		return err
	}
	str := func(k string) (string, error) {
		v, ok := in[k]
		if !ok || string(v) == "null" {
			return "", nil
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", newError(http.StatusBadRequest, "validation", k, "%s must be a string", k)
		}
		return s, nil
	}
	c := volume.ImageCreate{Name: src.Name, Metadata: map[string]string{"media": src.Media}}
	if n, err := str("name"); err != nil {
		return err
	} else if n != "" {
		c.Name = n
	}
	if c.Description, err = str("description"); err != nil {
		return err
	}
	for _, at := range libAttrs {
		if at.name == "media" {
			continue // the drive's
		}
		v, err := str(at.name)
		if err != nil {
			return err
		}
		if v != "" {
			c.Metadata[at.name] = v
		}
	}
	if raw, ok := in["category"]; ok && string(raw) != "null" {
		var cats []string
		if json.Unmarshal(raw, &cats) != nil || slices.ContainsFunc(cats, func(s string) bool { return s == "" || strings.Contains(s, ",") }) {
			return newError(http.StatusBadRequest, "validation", "category", "category must be a list of names without commas")
		}
		c.Metadata[libCategoryKey] = strings.Join(cats, ",")
	}
	sn, _, err := a.volumes.PublishImage(r.Context(), httpapi.Principal(r.Context()), src.ID, c)
	if err != nil {
		return fmt.Errorf("publish drive %s: %w", src.ID, err)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"objects": []any{libdriveJSON(sn)}})
	return nil
}

func (a *API) unpublishLibdrive(w http.ResponseWriter, r *http.Request) error {
	sn, err := a.image(r, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	if _, err := a.volumes.UnpublishImage(r.Context(), httpapi.Principal(r.Context()), sn.ID); err != nil {
		return fmt.Errorf("unpublish library drive %s: %w", sn.ID, err)
	}
	noContent(w)
	return nil
}

// libdriveAction clones a library drive into a drive of the caller's
// account, as a drive clone does: 202 with the new drive, cloning_dst.
func (a *API) libdriveAction(w http.ResponseWriter, r *http.Request) error {
	if do := r.URL.Query().Get("do"); do != "clone" {
		return newError(http.StatusBadRequest, "validation", "do", "Unknown action %s", do)
	}
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	img, err := a.image(r, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	in, err := a.cloneRequest(r)
	if err != nil {
		return err
	}
	if img.Status != volume.SnapAvailable {
		return newError(http.StatusForbidden, "permission", "", "Cannot clone library drive in state \"%s\". Library drive should be in state \"unmounted\"", libStatus(img))
	}
	c := volume.Create{ProjectID: project, ImageID: img.ID, Media: img.Metadata["media"], Size: img.Size}
	return a.clone(w, r, in, img.Name, c, nil, true)
}

// libdriveFields are the fields of the recorded library drive schema.
func libdriveFields() []field {
	str := func(name, help string, required bool) field {
		return field{name: name, typ: "string", required: required, def: nil, help: help}
	}
	fs := []field{
		{name: "affinities", typ: "list", def: []string{}, choices: []string{"ssd"}, help: "A list of affinities this drive should belong to"},
		{name: "allow_multimount", typ: "boolean", def: false, help: "Allow the drive to be mounted on multiple guests. Not taken into account when drive is cdrom."},
		str("arch", "Operating system bit architecture of the drive", true),
		{name: "category", typ: "list", def: []string{}, help: "Media category"},
		str("description", "Description of the library drive", false),
		str("distribution", "Operating system distribution", false),
		{name: "favourite", typ: "boolean", required: true, def: nil, help: "Is the drive marked as favourite"},
		str("image_type", "Image type of the drive", true),
		str("install_notes", "Install notes", false),
		{name: "jobs", typ: "related", readonly: true, required: true, def: noDefault, help: "Background jobs related to this resource"},
		{name: "licenses", typ: "related", def: []string{}, help: "A list of licenses attached to this drive"},
		{name: "media", typ: "string", required: true, def: nil, choices: []string{"cdrom", "disk"}, help: "Media representation type"},
		{name: "meta", typ: "dict", def: map[string]string{}, help: "User defined meta information"},
		{name: "mounted_on", typ: "related", readonly: true, def: noDefault, help: "Servers on which this drive is mounted on"},
		str("name", "Human readable name of the drive", true),
		str("os", "Operating system of the drive", true),
		{name: "owner", typ: "related", readonly: true, def: nil, help: "Owner of the drive"},
		{name: "paid", typ: "boolean", required: true, def: nil, help: "Whether the drive is paid"},
		{name: "resource_uri", typ: "string", readonly: true, required: true, def: noDefault, help: "Unicode string data. Ex: \"Hello World\""},
		{name: "size", typ: "integer", required: true, def: nil, help: "Size of the drive in bytes"},
		{name: "status", typ: "string", readonly: true, required: true, def: noDefault, help: "Status of the drive."},
		{name: "storage_type", typ: "string", required: true, def: noDefault, help: "Underlying storage"},
		{name: "tags", typ: "related", def: noDefault, help: "Many related resources. Can be either a list of URIs or list of individually nested resource data."},
		str("url", "Link to the operating system's page", false),
		{name: "uuid", typ: "string", readonly: true, required: true, def: nil, help: "UUID of the drive"},
		str("version", "Operating system version", false),
	}
	return fs
}

func (a *API) libdriveSchema(w http.ResponseWriter, r *http.Request) error {
	f := map[string]string{}
	for _, k := range []string{"arch", "category", "distribution", "image_type", "name", "name__icontains", "os", "uuid", "version"} {
		f[k] = "exact"
	}
	writeJSON(w, http.StatusOK, resourceSchema([]string{"get"}, []string{"get"}, libdriveFields(), f))
	return nil
}
