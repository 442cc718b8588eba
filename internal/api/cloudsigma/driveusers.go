package cloudsigma

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
)

// rdsKey is the volume metadata key that holds a drive's RDS user count.
// The count is data about the volume, so it lives with the volume's other
// key/value data (other faces show it as metadata); the drive's meta hides
// it and edits of meta keep it.
const rdsKey = "cloudsigma.rds_users"

// userMeta is the drive's meta as CloudSigma shows it: without rdsKey.
func userMeta(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if k != rdsKey {
			out[k] = v
		}
	}
	return out
}

// keepRDS returns next (a meta sent by the client) with the RDS count of
// current, so that replacing meta never drops or forges it.
func keepRDS(next, current map[string]string) map[string]string {
	out := maps.Clone(next)
	if out == nil {
		out = map[string]string{}
	}
	delete(out, rdsKey)
	if v, ok := current[rdsKey]; ok {
		out[rdsKey] = v
	}
	return out
}

func rdsJSON(v volume.Volume) (map[string]any, bool) {
	s, ok := v.Metadata[rdsKey]
	if !ok {
		return nil, false
	}
	n, _ := strconv.Atoi(s)
	return map[string]any{"amount": n, "drive": ref("drives", v.ID)}, true
}

func (a *API) listDriveUsers(w http.ResponseWriter, r *http.Request) error {
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
	var recs []any
	for _, v := range all {
		if rec, ok := rdsJSON(v); ok {
			recs = append(recs, rec)
		}
	}
	lo, hi := win.slice(len(recs))
	out := append([]any{}, recs[lo:hi]...)
	writeJSON(w, http.StatusOK, map[string]any{"meta": win.meta(len(recs)), "objects": out})
	return nil
}

func (a *API) getDriveUsers(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	id := r.PathValue("uuid")
	v, err := a.drive(r.Context(), project, id)
	if err != nil {
		return err
	}
	rec, ok := rdsJSON(v)
	if !ok {
		return notExist(id)
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// parseAmount reads a positive user count.
func parseAmount(raw json.RawMessage) (int, error) {
	var n int
	if raw == nil || json.Unmarshal(raw, &n) != nil || n < 1 {
		if raw == nil {
			return 0, required("amount")
		}
		return 0, newError(http.StatusBadRequest, "validation", "amount", "amount must be a positive integer")
	}
	return n, nil
}

// setDriveUsers records amount on the drive with id and returns the record.
func (a *API) setDriveUsers(r *http.Request, project, id string, amount int) (map[string]any, error) {
	v, err := a.drive(r.Context(), project, id)
	if err != nil {
		return nil, err
	}
	meta := maps.Clone(v.Metadata)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[rdsKey] = strconv.Itoa(amount)
	nv, err := a.volumes.UpdateVolume(r.Context(), httpapi.Principal(r.Context()), v.ID, volume.Update{Metadata: &meta})
	if err != nil {
		return nil, fmt.Errorf("set RDS users of drive %s: %w", v.ID, err)
	}
	rec, _ := rdsJSON(nv)
	return rec, nil
}

func (a *API) createDriveUsers(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	raws, err := a.readObjects(r, "drive")
	if err != nil {
		return err
	}
	type rec struct {
		drive  string
		amount int
	}
	var recs []rec
	for _, raw := range raws {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return newError(http.StatusBadRequest, "validation", "", "A drive user record must be a JSON object")
		}
		ids, err := parseTags(json.RawMessage("[" + string(m["drive"]) + "]"))
		if m["drive"] == nil || err != nil {
			return required("drive")
		}
		n, err := parseAmount(m["amount"])
		if err != nil {
			return err
		}
		if _, err := a.drive(r.Context(), project, ids[0]); err != nil {
			return err
		}
		recs = append(recs, rec{ids[0], n})
	}
	out := []any{}
	for _, x := range recs {
		obj, err := a.setDriveUsers(r, project, x.drive, x.amount)
		if err != nil {
			return err
		}
		out = append(out, obj)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"objects": out})
	return nil
}

func (a *API) editDriveUsers(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	id := r.PathValue("uuid")
	v, err := a.drive(r.Context(), project, id)
	if err != nil {
		return err
	}
	if _, ok := rdsJSON(v); !ok {
		return notExist(id)
	}
	body, err := a.readBody(r)
	if err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if body == nil || json.Unmarshal(body, &m) != nil {
		return required("amount")
	}
	n, err := parseAmount(m["amount"])
	if err != nil {
		return err
	}
	obj, err := a.setDriveUsers(r, project, id, n)
	if err != nil {
		return err
	}
	// The recorded answer wraps the one record in objects.
	writeJSON(w, http.StatusOK, map[string]any{"objects": []any{obj}})
	return nil
}

// deleteDriveUsers drops the record, unless the drive is mounted: a server
// using the drive needs its user count.
func (a *API) deleteDriveUsers(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	id := r.PathValue("uuid")
	v, err := a.drive(r.Context(), project, id)
	if err != nil {
		return err
	}
	if _, ok := rdsJSON(v); !ok {
		return notExist(id)
	}
	if status(v) == stMounted {
		return newError(http.StatusForbidden, "permission", "", "Cannot delete the RDS record of drive %s: it is mounted on a server", id)
	}
	meta := userMeta(v.Metadata)
	if _, err := a.volumes.UpdateVolume(r.Context(), httpapi.Principal(r.Context()), v.ID, volume.Update{Metadata: &meta}); err != nil {
		return fmt.Errorf("delete RDS users of drive %s: %w", v.ID, err)
	}
	// The recorded 204 of this resource says JSON, unlike the drives' one.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
