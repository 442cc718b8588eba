package cloudsigma

import (
	"net/http"
	"slices"

	"github.com/stowage/stowage/internal/core/volume"
)

// Tags are read-only here: a tag exists while drives carry its uuid, which
// is all a drive's tags field needs. Tags have no names of their own, so
// the uuid stands in for the name; creating and renaming tags is not
// offered.

// tagged returns the tag uuids of the account's drives in first-seen order
// and the drives carrying each.
func tagged(all []volume.Volume) ([]string, map[string][]volume.Volume) {
	var order []string
	by := map[string][]volume.Volume{}
	for _, v := range all {
		for _, t := range v.Tags {
			if _, seen := by[t]; !seen {
				order = append(order, t)
			}
			if !slices.ContainsFunc(by[t], func(x volume.Volume) bool { return x.ID == v.ID }) {
				by[t] = append(by[t], v)
			}
		}
	}
	return order, by
}

func tagJSON(project, id string, drives []volume.Volume) map[string]any {
	res := []any{}
	for _, v := range drives {
		r := ref("drives", v.ID)
		r["res_type"] = "drives"
		res = append(res, r)
	}
	return map[string]any{"meta": map[string]string{}, "name": id, "owner": ref("user", project),
		"resource_uri": "/api/2.0/tags/" + id + "/", "resources": res, "uuid": id}
}

func (a *API) listTags(w http.ResponseWriter, r *http.Request) error {
	win, err := parseWindow(r.URL.Query())
	if err != nil {
		return err
	}
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	all, err := a.projectVolumes(r.Context(), project)
	if err != nil {
		return err
	}
	order, by := tagged(all)
	lo, hi := win.slice(len(order))
	out := []any{}
	for _, id := range order[lo:hi] {
		out = append(out, tagJSON(project, id, by[id]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": win.meta(len(order)), "objects": out})
	return nil
}

func (a *API) getTag(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	all, err := a.projectVolumes(r.Context(), project)
	if err != nil {
		return err
	}
	id := r.PathValue("uuid")
	_, by := tagged(all)
	if len(by[id]) == 0 {
		return notExist(id)
	}
	writeJSON(w, http.StatusOK, tagJSON(project, id, by[id]))
	return nil
}

// tagDrives lists the full drives carrying a tag.
func (a *API) tagDrives(w http.ResponseWriter, r *http.Request) error {
	win, err := parseWindow(r.URL.Query())
	if err != nil {
		return err
	}
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	id := r.PathValue("uuid")
	_, by := tagged(d.all)
	if len(by[id]) == 0 {
		return notExist(id)
	}
	lo, hi := win.slice(len(by[id]))
	out := []any{}
	for _, v := range by[id][lo:hi] {
		out = append(out, d.full(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": win.meta(len(by[id])), "objects": out})
	return nil
}
