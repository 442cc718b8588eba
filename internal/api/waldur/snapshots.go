package waldur

import (
	"fmt"
	"net/http"
	"time"

	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
)

// snapshotState maps a snapshot's status onto Waldur's states. A snapshot
// still being taken is CREATION_SCHEDULED, as Waldur answers right after
// the snapshot action.
func snapshotState(s volume.SnapshotStatus) (state, runtime string) {
	switch s {
	case volume.SnapCreating:
		return stCreationScheduled, "creating"
	case volume.SnapAvailable:
		return stOK, "available"
	case volume.SnapDeleting:
		return stDeleting, "deleting"
	}
	return stErred, "error"
}

func (l *osLookups) snapshotJSON(s volume.Snapshot) map[string]any {
	r := l.r
	state, runtime := snapshotState(s.Status)
	m := map[string]any{"url": snapshotURL(r, s.ID), "uuid": hex(s.ID), "name": s.Name, "description": s.Description}
	l.baseJSON(m, s.ProjectID)
	m["error_message"] = ""
	m["resource_type"] = "OpenStack.Snapshot"
	m["state"] = state
	m["created"], m["modified"] = stamp(s.Created), stamp(s.Updated)
	m["backend_id"] = s.BackendID
	m["source_volume"] = volumeURL(r, s.VolumeID)
	if v := l.volume(s.VolumeID); v != nil {
		m["source_volume_name"] = v.Name
		if mi := l.market(v.Tags); mi != nil {
			m["source_volume_marketplace_uuid"] = hex(mi.res.ID)
		}
	}
	m["size"] = s.Size / mib
	m["metadata"] = map[string]any{}
	m["runtime_state"] = runtime
	m["action"], m["action_details"] = "", map[string]any{}
	m["restorations"] = l.restorations(s)
	m["backups"] = []any{}
	m["kept_until"] = stampPtr(s.KeptUntil)
	l.marketJSON(m, nil)
	return m
}

// restorations lists the volumes made from a snapshot that still exist.
func (l *osLookups) restorations(s volume.Snapshot) []map[string]any {
	out := []map[string]any{}
	for _, id := range s.Restorations {
		v := l.volume(id)
		if v == nil {
			continue
		}
		state, runtime, _ := volumeState(v.Status)
		_, device := attachedTo(*v)
		out = append(out, map[string]any{"uuid": hex(v.ID), "created": stamp(v.Created), "description": v.Description,
			"volume": volumeURL(l.r, v.ID), "volume_name": v.Name, "volume_state": state, "volume_runtime_state": runtime,
			"volume_size": v.Size / mib, "volume_device": device})
	}
	return out
}

var snapshotOrder = []string{"name", "state", "created", "size", "project_name", "customer_name", "service_name"}

func (a *API) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	p := httpapi.Principal(r.Context())
	var f volume.SnapshotFilter
	srcID, hasSrc, err := urlParam(r, "source_volume", "/api/openstack-volumes/")
	if err != nil {
		return err
	}
	if id, ok, err := uuidParam(r, "source_volume_uuid"); err != nil {
		return err
	} else if ok {
		srcID, hasSrc = id, true
	}
	if hasSrc {
		f.VolumeID = srcID
	}
	var list []volume.Snapshot
	if srcID != "-" {
		list, err = allOf(func(req page.Request) (page.Result[volume.Snapshot], error) {
			return a.vols.ListSnapshots(r.Context(), p, f, req)
		})
		if err != nil {
			return fmt.Errorf("list snapshots: %w", err)
		}
	}
	q := r.URL.Query()
	l := a.osLookups(r)
	var items []map[string]any
	for _, s := range list {
		m := l.snapshotJSON(s)
		if n := q.Get("name"); n != "" && !icontains(s.Name, n) {
			continue
		}
		if id, ok, err := uuidParam(r, "project_uuid"); err != nil {
			return err
		} else if ok && s.ProjectID != id {
			continue
		}
		if st := q["state"]; len(st) > 0 && !containsStr(st, m["state"].(string)) {
			continue
		}
		items = append(items, m)
	}
	if err := sortItems(r, items, snapshotOrder); err != nil {
		return err
	}
	return writePage(w, r, slice(items, pg, size), len(items), pg, size)
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (a *API) visibleSnapshot(r *http.Request) (volume.Snapshot, error) {
	id, err := pathID(r, "uuid")
	if err != nil {
		return volume.Snapshot{}, err
	}
	s, err := a.vols.GetSnapshot(r.Context(), httpapi.Principal(r.Context()), id)
	if err != nil {
		return volume.Snapshot{}, fmt.Errorf("get snapshot %s: %w", id, err)
	}
	return s, nil
}

func (a *API) manageableSnapshot(r *http.Request) (volume.Snapshot, error) {
	s, err := a.visibleSnapshot(r)
	if err != nil {
		return s, err
	}
	if err := a.requireManager(r, s.ProjectID); err != nil {
		return s, err
	}
	return s, nil
}

func (a *API) getSnapshot(w http.ResponseWriter, r *http.Request) error {
	s, err := a.visibleSnapshot(r)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, a.osLookups(r).snapshotJSON(s))
}

func (a *API) snapshotRestorations(w http.ResponseWriter, r *http.Request) error {
	s, err := a.visibleSnapshot(r)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, a.osLookups(r).restorations(s))
}

// parseKeptUntil reads kept_until: a datetime, or null for "keep forever".
func parseKeptUntil(fe fieldErrors, in map[string]any) (*time.Time, bool) {
	raw, ok := in["kept_until"]
	if !ok {
		return nil, false
	}
	if raw == nil {
		return nil, true
	}
	s, _ := raw.(string)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t, true
		}
	}
	fe["kept_until"] = []string{"Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."}
	return nil, true
}

func (a *API) updateSnapshot(w http.ResponseWriter, r *http.Request) error {
	s, err := a.manageableSnapshot(r)
	if err != nil {
		return err
	}
	if st, _ := snapshotState(s.Status); st != stOK {
		return validStates(stOK)
	}
	in, err := a.body(r)
	if err != nil {
		return err
	}
	fe := fieldErrors{}
	var u volume.SnapshotUpdate
	if _, ok := in["name"]; ok || r.Method == http.MethodPut {
		u.Name = checkName(fe, "name", in["name"], true)
	}
	if _, ok := in["description"]; ok {
		u.Description = checkDescription(fe, in["description"])
	}
	if t, ok := parseKeptUntil(fe, in); ok {
		u.KeptUntil, u.ClearKeptUntil = t, t == nil
	}
	if len(fe) > 0 {
		return fe
	}
	p := httpapi.Principal(r.Context())
	s, err = a.vols.UpdateSnapshot(r.Context(), p, s.ID, u)
	if err != nil {
		return fmt.Errorf("update snapshot: %w", err)
	}
	return writeOne(w, r, http.StatusOK, a.osLookups(r).snapshotJSON(s))
}

func (a *API) deleteSnapshot(w http.ResponseWriter, r *http.Request) error {
	s, err := a.manageableSnapshot(r)
	if err != nil {
		return err
	}
	if st, _ := snapshotState(s.Status); st != stOK && st != stErred {
		return validStates(stOK, stErred)
	}
	if _, err := a.vols.DeleteSnapshot(r.Context(), httpapi.Principal(r.Context()), s.ID); err != nil {
		return fmt.Errorf("delete snapshot %s: %w", s.ID, err)
	}
	return httpapi.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "destroy was scheduled"})
}

// snapshotVolume is the volume's snapshot action: no state validator, a
// 201 with the new snapshot.
func (a *API) snapshotVolume(w http.ResponseWriter, r *http.Request, v volume.Volume) error {
	in, err := a.body(r)
	if err != nil {
		return err
	}
	fe := fieldErrors{}
	name := checkName(fe, "name", in["name"], true)
	desc := checkDescription(fe, in["description"])
	kept, _ := parseKeptUntil(fe, in)
	if len(fe) > 0 {
		return fe
	}
	c := volume.SnapshotCreate{Name: *name, KeptUntil: kept}
	if desc != nil {
		c.Description = *desc
	}
	s, _, err := a.vols.CreateSnapshot(r.Context(), httpapi.Principal(r.Context()), v.ID, c)
	if err != nil {
		return fmt.Errorf("snapshot volume %s: %w", v.ID, err)
	}
	return writeOne(w, r, http.StatusCreated, a.osLookups(r).snapshotJSON(s))
}

// restoreSnapshot makes a new volume from a snapshot, in its project and
// with its source volume's type; the answer is the new volume.
func (a *API) restoreSnapshot(w http.ResponseWriter, r *http.Request) error {
	s, err := a.manageableSnapshot(r)
	if err != nil {
		return err
	}
	if st, _ := snapshotState(s.Status); st != stOK {
		return validStates(stOK)
	}
	in, err := a.body(r)
	if err != nil {
		return err
	}
	fe := fieldErrors{}
	name := checkName(fe, "name", in["name"], true)
	desc := checkDescription(fe, in["description"])
	if len(fe) > 0 {
		return fe
	}
	c := volume.Create{ProjectID: s.ProjectID, Name: *name, Description: "Restored from snapshot " + s.Name, SnapshotID: s.ID}
	if desc != nil && *desc != "" {
		c.Description = *desc
	}
	v, _, err := a.vols.CreateVolume(r.Context(), httpapi.Principal(r.Context()), c)
	if err != nil {
		return fmt.Errorf("restore snapshot %s: %w", s.ID, err)
	}
	return writeOne(w, r, http.StatusCreated, a.osLookups(r).volumeJSON(v))
}
