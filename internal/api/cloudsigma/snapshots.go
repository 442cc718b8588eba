package cloudsigma

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// snapshotStatus names a core snapshot status; "" means being deleted,
// shown as gone.
func snapshotStatus(sn volume.Snapshot) string {
	switch sn.Status {
	case volume.SnapCreating:
		return "creating"
	case volume.SnapAvailable:
		return "available"
	case volume.SnapDeleting:
		return ""
	}
	return "unavailable"
}

func snapshotJSON(sn volume.Snapshot) map[string]any {
	meta := maps.Clone(sn.Metadata)
	if meta == nil {
		meta = map[string]string{}
	}
	// A snapshot taken through another face has a description only.
	if _, ok := meta["description"]; !ok && sn.Description != "" {
		meta["description"] = sn.Description
	}
	var allocated any
	if sn.Status == volume.SnapAvailable {
		allocated = 0 // snapshots share the drive's blocks until it changes
	}
	return map[string]any{
		"allocated_size": allocated,
		"drive":          ref("drives", sn.VolumeID),
		"grantees":       []any{},
		"meta":           meta,
		"name":           sn.Name,
		"owner":          ref("user", sn.ProjectID),
		"permissions":    []any{},
		"resource_uri":   "/api/2.0/snapshots/" + sn.ID + "/",
		"status":         snapshotStatus(sn),
		"tags":           []any{},
		"timestamp":      sn.Created.UTC().Format("2006-01-02 15:04:05.000000+00:00"),
		"uuid":           sn.ID,
	}
}

// snapshot loads one snapshot of the account; anything else is notexist.
func (a *API) snapshot(ctx context.Context, project, id string) (volume.Snapshot, error) {
	sn, err := a.volumes.GetSnapshot(ctx, httpapi.Principal(ctx), id)
	// A public snapshot is a library drive, not a snapshot of the account.
	if errs.Is(err, errs.NotExist) || (err == nil && (sn.ProjectID != project || snapshotStatus(sn) == "" || sn.Public)) {
		return volume.Snapshot{}, notExist(id)
	}
	if err != nil {
		return volume.Snapshot{}, fmt.Errorf("get snapshot %s: %w", id, err)
	}
	return sn, nil
}

func (a *API) listSnapshots(detail bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		win, err := parseWindow(q)
		if err != nil {
			return err
		}
		project, err := a.account(r.Context())
		if err != nil {
			return err
		}
		var all []volume.Snapshot
		req := page.Request{Limit: page.MaxLimit}
		for {
			res, err := a.volumes.ListSnapshots(r.Context(), httpapi.Principal(r.Context()), volume.SnapshotFilter{ProjectID: project}, req)
			if err != nil {
				return fmt.Errorf("list snapshots: %w", err)
			}
			for _, sn := range res.Items {
				if snapshotStatus(sn) != "" && !sn.Public && snapshotMatches(q, sn) {
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
			obj := snapshotJSON(sn)
			switch f := fieldsParam(r); {
			case f != nil:
				obj = pick(obj, f)
			case !detail:
				obj = pick(obj, []string{"owner", "resource_uri", "status", "uuid"})
			}
			out = append(out, obj)
		}
		writeJSON(w, http.StatusOK, map[string]any{"meta": win.meta(len(all)), "objects": out})
		return nil
	}
}

// snapshotMatches applies the snapshot filters: drive, name,
// name__contains and uuid, ANDed, each an OR of comma-separated values.
func snapshotMatches(q map[string][]string, sn volume.Snapshot) bool {
	tests := map[string]func(alt string) bool{
		"drive":          func(alt string) bool { return sn.VolumeID == alt },
		"name":           func(alt string) bool { return sn.Name == alt },
		"name__contains": func(alt string) bool { return strings.Contains(strings.ToLower(sn.Name), strings.ToLower(alt)) },
		"uuid":           func(alt string) bool { return sn.ID == alt },
	}
	return matchFilters(q, tests)
}

func (a *API) getSnapshot(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	sn, err := a.snapshot(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	obj := snapshotJSON(sn)
	if f := fieldsParam(r); f != nil {
		obj = pick(obj, f)
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

// snapshotInput is what a snapshot body may set.
type snapshotInput struct {
	drive string
	name  *string
	meta  *map[string]string
}

func parseSnapshot(raw json.RawMessage, create bool) (snapshotInput, error) {
	var in snapshotInput
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return in, newError(http.StatusBadRequest, "validation", "", "A snapshot must be a JSON object")
	}
	if create {
		ids, err := parseTags(json.RawMessage("[" + string(m["drive"]) + "]"))
		if m["drive"] == nil || err != nil {
			return in, required("drive")
		}
		in.drive = ids[0]
	}
	if v, ok := m["name"]; ok && string(v) != "null" {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return in, newError(http.StatusBadRequest, "validation", "name", "name must be a string")
		}
		in.name = &s
	}
	if v, ok := m["meta"]; ok && string(v) != "null" {
		var mm map[string]string
		if json.Unmarshal(v, &mm) != nil {
			return in, newError(http.StatusBadRequest, "validation", "meta", "meta must be a dictionary of strings")
		}
		in.meta = &mm
	}
	return in, nil
}

func (a *API) createSnapshots(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	raws, err := a.readObjects(r, "drive")
	if err != nil {
		return err
	}
	var ins []snapshotInput
	for _, raw := range raws {
		in, err := parseSnapshot(raw, true)
		if err != nil {
			return err
		}
		if _, err := a.drive(r.Context(), project, in.drive); err != nil {
			return err
		}
		ins = append(ins, in)
	}
	out := []any{}
	p := httpapi.Principal(r.Context())
	for _, in := range ins {
		c := volume.SnapshotCreate{}
		if in.name != nil {
			c.Name = *in.name
		} else {
			// CloudSigma's default name: <drive uuid>__<date>__<time>.
			c.Name = in.drive + "__" + a.now().UTC().Format("2006-01-02__15_04_05")
		}
		if in.meta != nil {
			// meta.description is the description other faces show.
			c.Metadata, c.Description = *in.meta, (*in.meta)["description"]
		}
		sn, _, err := a.volumes.CreateSnapshot(r.Context(), p, in.drive, c)
		if err != nil {
			return fmt.Errorf("snapshot drive %s: %w", in.drive, err)
		}
		out = append(out, snapshotJSON(sn))
	}
	writeJSON(w, http.StatusCreated, map[string]any{"objects": out})
	return nil
}

func (a *API) editSnapshot(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	sn, err := a.snapshot(r.Context(), project, r.PathValue("uuid"))
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
	in, err := parseSnapshot(body, false)
	if err != nil {
		return err
	}
	if in.name != nil || in.meta != nil {
		u := volume.SnapshotUpdate{Name: in.name, Metadata: in.meta}
		if in.meta != nil {
			d := (*in.meta)["description"]
			u.Description = &d
		}
		sn, err = a.volumes.UpdateSnapshot(r.Context(), httpapi.Principal(r.Context()), sn.ID, u)
		if err != nil {
			return fmt.Errorf("edit snapshot: %w", err)
		}
	}
	writeJSON(w, http.StatusOK, snapshotJSON(sn))
	return nil
}

func (a *API) deleteSnapshot(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	sn, err := a.snapshot(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	if _, err := a.volumes.DeleteSnapshot(r.Context(), httpapi.Principal(r.Context()), sn.ID); err != nil {
		return fmt.Errorf("delete snapshot %s: %w", sn.ID, err)
	}
	noContent(w)
	return nil
}

// deleteSnapshots deletes several; every uuid is checked first.
func (a *API) deleteSnapshots(w http.ResponseWriter, r *http.Request) error {
	project, raws, err := a.bulkBody(r)
	if err != nil {
		return err
	}
	var ids []string
	for _, raw := range raws {
		refs, err := parseTags(json.RawMessage("[" + string(raw) + "]"))
		if err != nil {
			return required("uuid")
		}
		sn, err := a.snapshot(r.Context(), project, refs[0])
		if err != nil {
			return err
		}
		if sn.Status != volume.SnapAvailable && sn.Status != volume.SnapError {
			return newError(http.StatusForbidden, "permission", "", "Cannot delete snapshot in state \"%s\". Snapshot should be in state \"available\"", snapshotStatus(sn))
		}
		ids = append(ids, sn.ID)
	}
	for _, id := range ids {
		if _, err := a.volumes.DeleteSnapshot(r.Context(), httpapi.Principal(r.Context()), id); err != nil {
			return fmt.Errorf("delete snapshot %s: %w", id, err)
		}
	}
	noContent(w)
	return nil
}

// snapshotAction clones a snapshot to a new drive. The answer is the bare
// drive, not wrapped in objects, as recorded.
func (a *API) snapshotAction(w http.ResponseWriter, r *http.Request) error {
	if do := r.URL.Query().Get("do"); do != "clone" {
		return newError(http.StatusBadRequest, "validation", "do", "Unknown action %s", do)
	}
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	sn, err := a.snapshot(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	in, err := a.cloneRequest(r)
	if err != nil {
		return err
	}
	if sn.Status != volume.SnapAvailable {
		return newError(http.StatusForbidden, "permission", "", "Cannot clone snapshot in state \"%s\". Snapshot should be in state \"available\"", snapshotStatus(sn))
	}
	c := volume.Create{ProjectID: project, SnapshotID: sn.ID, Media: volume.MediaDisk, Size: sn.Size}
	if src, err := a.volumes.GetVolume(r.Context(), httpapi.Principal(r.Context()), sn.VolumeID); err == nil {
		c.Media, c.Type, c.MultiAttach = src.Media, src.Type, src.MultiAttach
	}
	return a.clone(w, r, in, sn.Name, c, nil, false)
}
