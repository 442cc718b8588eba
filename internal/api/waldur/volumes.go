package waldur

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

const mib = 1 << 20

// Waldur's core states, rendered as current Waldur does (§5 [new]).
const (
	stCreationScheduled = "CREATION_SCHEDULED"
	stCreating          = "CREATING"
	stUpdating          = "UPDATING"
	stDeleting          = "DELETING"
	stOK                = "OK"
	stErred             = "ERRED"
)

var coreStates = []string{stCreationScheduled, stCreating, "UPDATE_SCHEDULED", stUpdating, "DELETION_SCHEDULED",
	stDeleting, stOK, stErred}

// volumeState maps our status machine onto Waldur's core state, the
// Cinder-style runtime state and the action in progress. Every status
// with a job in flight is UPDATING, so clients that poll for OK wait for it.
func volumeState(s volume.Status) (state, runtime, action string) {
	switch s {
	case volume.Creating, volume.Cloning:
		return stCreating, "creating", ""
	case volume.Uploading:
		// A CloudSigma upload is still filling it: Cinder's status for a
		// volume taking an image's bytes.
		return stCreating, "downloading", ""
	case volume.Available:
		return stOK, "available", ""
	case volume.InUse:
		return stOK, "in-use", ""
	case volume.Attaching:
		return stUpdating, "attaching", "Attach"
	case volume.Detaching:
		return stUpdating, "detaching", "Detach"
	case volume.Resizing:
		return stUpdating, "extending", "Extend"
	case volume.Restoring:
		return stUpdating, "restoring-backup", "Restore"
	case volume.Deleting:
		return stDeleting, "deleting", ""
	}
	return stErred, "error", ""
}

// attachedTo returns the instance a volume is attached (or attaching) to
// and its device name; Waldur sets the instance as soon as attach is asked.
func attachedTo(v volume.Volume) (instanceID, device string) {
	n := 0
	for _, at := range v.Attachments {
		if at.InstanceID == "" {
			continue
		}
		if instanceID == "" {
			instanceID = at.InstanceID
			// vda is the instance's root disk; data volumes start at vdb.
			device = "/dev/vd" + string(rune('b'+n))
		}
		n++
	}
	return instanceID, device
}

func volumeURL(r *http.Request, id string) string {
	return base(r) + "/api/openstack-volumes/" + hex(id) + "/"
}

func instanceURL(r *http.Request, id string) string {
	return base(r) + "/api/openstack-instances/" + hex(id) + "/"
}

func snapshotURL(r *http.Request, id string) string {
	return base(r) + "/api/openstack-snapshots/" + hex(id) + "/"
}

func (l *osLookups) volumeJSON(v volume.Volume) map[string]any {
	r := l.r
	state, runtime, action := volumeState(v.Status)
	m := map[string]any{"url": volumeURL(r, v.ID), "uuid": hex(v.ID), "name": v.Name, "description": v.Description}
	l.baseJSON(m, v.ProjectID)
	m["error_message"] = v.Error
	m["resource_type"] = "OpenStack.Volume"
	m["state"] = state
	m["created"], m["modified"] = stamp(v.Created), stamp(v.Updated)
	m["backend_id"] = v.BackendID
	m["source_snapshot"] = nil
	if v.SourceType == "snapshot" {
		m["source_snapshot"] = snapshotURL(r, v.SourceID)
	}
	m["size"] = v.Size / mib
	m["bootable"] = v.Bootable
	md := map[string]any{}
	for k, val := range v.Metadata {
		md[k] = val
	}
	m["metadata"] = md
	// The schema (and the seed) type image_metadata as a string.
	m["image"], m["image_metadata"], m["image_name"] = nil, "", ""
	m["type"], m["type_name"] = typeURL(r, v.Type), v.Type
	m["runtime_state"] = runtime
	m["availability_zone"], m["availability_zone_name"] = zoneURL(r, v.Zone), v.Zone
	instID, device := attachedTo(v)
	m["device"] = device
	// instance_name and instance_marketplace_uuid follow the instance; with
	// none they are left out. Instances are not ordered through the
	// marketplace, so the latter never has a value.
	m["instance"] = nil
	if instID != "" {
		m["instance"] = instanceURL(r, instID)
		if in := l.instance(instID); in != nil {
			m["instance_name"] = in.Name
		}
	}
	m["action"], m["action_details"] = action, map[string]any{}
	switch action {
	case "Attach":
		m["action_details"] = map[string]any{"message": fmt.Sprintf("Attach volume to instance %v", orEmpty(m["instance_name"]))}
	case "Detach":
		m["action_details"] = map[string]any{"message": fmt.Sprintf("Detach volume from instance %v", orEmpty(m["instance_name"]))}
	case "Extend":
		m["action_details"] = map[string]any{"message": fmt.Sprintf("Extend volume to %d MB", v.Size/mib), "new_size": v.Size / mib}
	}
	m["tenant"], m["tenant_uuid"] = tenantURL(r, v.ProjectID), hex(v.ProjectID)
	m["extend_enabled"] = true
	l.marketJSON(m, l.market(v.Tags))
	return m
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// allVolumes reads every volume the caller can see; filters and ordering
// that the core does not know are applied here, over that list.
func (a *API) allVolumes(r *http.Request, f volume.Filter) ([]volume.Volume, error) {
	p := httpapi.Principal(r.Context())
	vs, err := allOf(func(req page.Request) (page.Result[volume.Volume], error) {
		return a.vols.ListVolumes(r.Context(), p, f, req)
	})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	return vs, nil
}

// uuidParam reads a UUID filter; a malformed one is django-filter's 400.
func uuidParam(r *http.Request, name string) (string, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", false, nil
	}
	id, ok := parseID(v)
	if !ok {
		return "", false, fieldErrors{name: []string{"Enter a valid UUID."}}
	}
	return id, true, nil
}

// urlParam reads a hyperlink filter. A link to another collection matches
// nothing, so ok is true with an id that no object has.
func urlParam(r *http.Request, name, prefix string) (string, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", false, nil
	}
	id, err := ref(v, name, prefix)
	if err != nil || id == "" {
		return "-", true, nil
	}
	return id, true, nil
}

func boolParam(r *http.Request, name string) (*bool, error) {
	v := r.URL.Query().Get(name)
	switch strings.ToLower(v) {
	case "":
		return nil, nil
	case "true", "1", "yes", "on":
		b := true
		return &b, nil
	case "false", "0", "no", "off":
		b := false
		return &b, nil
	}
	return nil, fieldErrors{name: []string{fmt.Sprintf("Select a valid choice. %s is not one of the available choices.", v)}}
}

func icontains(have, want string) bool {
	return strings.Contains(strings.ToLower(have), strings.ToLower(want))
}

// volumeFilter is the parsed query of a volume list.
type volumeFilter struct {
	preds []func(v volume.Volume, m map[string]any) bool
}

func (f *volumeFilter) add(p func(v volume.Volume, m map[string]any) bool) {
	f.preds = append(f.preds, p)
}

func (f *volumeFilter) match(v volume.Volume, m map[string]any) bool {
	for _, p := range f.preds {
		if !p(v, m) {
			return false
		}
	}
	return true
}

// parseVolumeFilter reads §6.2's filters. Most compare against the
// rendered representation, so a filter and the field it names agree.
func (a *API) parseVolumeFilter(r *http.Request, l *osLookups) (*volumeFilter, error) {
	q := r.URL.Query()
	f := &volumeFilter{}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	for _, k := range []string{"name", "description", "customer_name", "customer_native_name", "customer_abbreviation",
		"project_name", "service_settings_name"} {
		if v := q.Get(k); v != "" {
			field := k
			if k == "service_settings_name" {
				field = "service_name"
			}
			f.add(func(_ volume.Volume, m map[string]any) bool { return icontains(str(m, field), v) })
		}
	}
	for k, field := range map[string]string{"name_exact": "name", "runtime_state": "runtime_state",
		"backend_id": "backend_id", "availability_zone_name": "availability_zone_name"} {
		if v := q.Get(k); v != "" {
			f.add(func(_ volume.Volume, m map[string]any) bool { return str(m, field) == v })
		}
	}
	if states := q["state"]; len(states) > 0 {
		for _, s := range states {
			if !slices.Contains(coreStates, s) {
				return nil, fieldErrors{"state": []string{fmt.Sprintf("Select a valid choice. %s is not one of the available choices.", s)}}
			}
		}
		f.add(func(_ volume.Volume, m map[string]any) bool { return slices.Contains(states, str(m, "state")) })
	}
	for k, field := range map[string]string{"uuid": "uuid", "project": "project_uuid", "project_uuid": "project_uuid",
		"customer": "customer_uuid", "customer_uuid": "customer_uuid", "service_settings_uuid": "service_settings_uuid",
		"tenant_uuid": "tenant_uuid", "instance_uuid": "instance", "snapshot_uuid": "source_snapshot"} {
		id, ok, err := uuidParam(r, k)
		if err != nil {
			return nil, err
		}
		if ok {
			f.add(func(v volume.Volume, m map[string]any) bool { return refMatches(m[field], id) })
		}
	}
	for k, c := range map[string]struct{ prefix, field string }{"tenant": {"/api/openstack-tenants/", "tenant_uuid"},
		"instance": {"/api/openstack-instances/", "instance"}, "snapshot": {"/api/openstack-snapshots/", "source_snapshot"}} {
		id, ok, err := urlParam(r, k, c.prefix)
		if err != nil {
			return nil, err
		}
		if ok {
			f.add(func(v volume.Volume, m map[string]any) bool { return refMatches(m[c.field], id) })
		}
	}
	if q.Get("external_ip") != "" {
		// Volumes have no floating IPs; Waldur's filter matches none.
		f.add(func(volume.Volume, map[string]any) bool { return false })
	}
	id, ok, err := uuidParam(r, "attach_instance_uuid")
	if err != nil {
		return nil, err
	}
	if ok {
		in := l.instance(id)
		f.add(func(v volume.Volume, m map[string]any) bool {
			if in == nil || in.ProjectID != v.ProjectID {
				return false
			}
			for _, at := range v.Attachments {
				if at.InstanceID == in.ID {
					return false
				}
			}
			return true
		})
	}
	canManage, err := boolParam(r, "can_manage")
	if err != nil {
		return nil, err
	}
	if canManage != nil {
		manages := map[string]bool{}
		f.add(func(v volume.Volume, _ map[string]any) bool {
			ok, seen := manages[v.ProjectID]
			if !seen {
				ok = a.identity.RequireProjectRole(r.Context(), l.p, v.ProjectID, access.Member) == nil
				manages[v.ProjectID] = ok
			}
			return ok == *canManage
		})
	}
	return f, nil
}

// refMatches compares a rendered uuid or hyperlink field with an id.
func refMatches(field any, id string) bool {
	s, _ := field.(string)
	if s == "" {
		return false
	}
	return strings.HasSuffix(strings.TrimSuffix(s, "/"), hex(id))
}

var volumeOrder = []string{"name", "state", "customer_name", "customer_native_name", "customer_abbreviation",
	"project_name", "service_name", "created", "instance_name", "size"}

// sortItems applies ?o= (the last one wins), defaulting to name.
func sortItems(r *http.Request, items []map[string]any, allowed []string) error {
	keys := []string{"name"}
	if os := r.URL.Query()["o"]; len(os) > 0 {
		keys = strings.Split(os[len(os)-1], ",")
		for _, k := range keys {
			if !slices.Contains(allowed, strings.TrimPrefix(k, "-")) {
				return fieldErrors{"o": []string{fmt.Sprintf("Select a valid choice. %s is not one of the available choices.", k)}}
			}
		}
	}
	slices.SortStableFunc(items, func(x, y map[string]any) int {
		for _, k := range keys {
			desc := strings.HasPrefix(k, "-")
			k = strings.TrimPrefix(k, "-")
			c := compareAny(x[k], y[k])
			if desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return nil
}

func compareAny(x, y any) int {
	switch a := x.(type) {
	case int64:
		b, _ := y.(int64)
		return cmp.Compare(a, b)
	case string:
		b, _ := y.(string)
		return cmp.Compare(a, b)
	}
	if y == nil {
		return 0
	}
	return -1
}

func (a *API) listVolumes(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	l := a.osLookups(r)
	f, err := a.parseVolumeFilter(r, l)
	if err != nil {
		return err
	}
	// The project filters narrow the query itself; the rest apply below.
	var cf volume.Filter
	for _, k := range []string{"project", "project_uuid"} {
		if id, ok, _ := uuidParam(r, k); ok {
			cf.ProjectID = id
		}
	}
	vs, err := a.allVolumes(r, cf)
	if err != nil {
		return err
	}
	var items []map[string]any
	for _, v := range vs {
		m := l.volumeJSON(v)
		if f.match(v, m) {
			items = append(items, m)
		}
	}
	if err := sortItems(r, items, volumeOrder); err != nil {
		return err
	}
	return writePage(w, r, slice(items, pg, size), len(items), pg, size)
}

// visibleVolume looks a volume up; one the caller cannot see is a 404.
func (a *API) visibleVolume(r *http.Request) (volume.Volume, error) {
	id, err := pathID(r, "uuid")
	if err != nil {
		return volume.Volume{}, err
	}
	v, err := a.vols.GetVolume(r.Context(), httpapi.Principal(r.Context()), id)
	if err != nil {
		return volume.Volume{}, fmt.Errorf("get volume %s: %w", id, err)
	}
	return v, nil
}

// manageableVolume adds the unsafe-method permission check, which comes
// after the lookup and before any state validator (§4).
func (a *API) manageableVolume(r *http.Request) (volume.Volume, error) {
	v, err := a.visibleVolume(r)
	if err != nil {
		return v, err
	}
	return v, a.requireManager(r, v.ProjectID)
}

func (a *API) getVolume(w http.ResponseWriter, r *http.Request) error {
	v, err := a.visibleVolume(r)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, a.osLookups(r).volumeJSON(v))
}

// validStates is the 409 of Waldur's state validators.
func validStates(states ...string) error {
	return detail{http.StatusConflict, "Valid states for operation: " + strings.Join(states, ", ") + "."}
}

func validRuntime(states ...string) error {
	return detail{http.StatusConflict, "Valid runtime states for operation: " + strings.Join(states, ", ") + "."}
}

func conflictMsg(msg string) error { return detail{http.StatusConflict, msg} }

func requireState(v volume.Volume, states ...string) error {
	s, _, _ := volumeState(v.Status)
	if !slices.Contains(states, s) {
		return validStates(states...)
	}
	return nil
}

// checkName applies DRF's CharField rules and Waldur's non-whitespace one.
func checkName(fe fieldErrors, field string, v any, required bool) *string {
	if v == nil {
		if required {
			fe[field] = []string{"This field is required."}
		}
		return nil
	}
	s, ok := v.(string)
	switch {
	case !ok:
		fe[field] = []string{"Not a valid string."}
	case s == "":
		fe[field] = []string{"This field may not be blank."}
	case len(s) > 150:
		fe[field] = []string{"Ensure this field has no more than 150 characters."}
	case strings.TrimSpace(s) == "":
		fe[field] = []string{"Ensure that name has at least one non-whitespace character."}
	default:
		return &s
	}
	return nil
}

func checkDescription(fe fieldErrors, v any) *string {
	if v == nil {
		return nil
	}
	s, ok := v.(string)
	switch {
	case !ok:
		fe["description"] = []string{"Not a valid string."}
	case len(s) > 2000:
		fe["description"] = []string{"Ensure this field has no more than 2000 characters."}
	default:
		return &s
	}
	return nil
}

func (a *API) updateVolume(w http.ResponseWriter, r *http.Request) error {
	v, err := a.manageableVolume(r)
	if err != nil {
		return err
	}
	if err := requireState(v, stOK); err != nil {
		return err
	}
	in, err := a.body(r)
	if err != nil {
		return err
	}
	fe := fieldErrors{}
	var u volume.Update
	_, hasName := in["name"]
	if hasName || r.Method == http.MethodPut {
		u.Name = checkName(fe, "name", in["name"], true)
	}
	if _, ok := in["description"]; ok {
		u.Description = checkDescription(fe, in["description"])
	}
	if b, ok := in["bootable"]; ok {
		bv, isBool := b.(bool)
		if !isBool {
			fe["bootable"] = []string{"Must be a valid boolean."}
		}
		u.Bootable = &bv
	}
	if len(fe) > 0 {
		return fe
	}
	p := httpapi.Principal(r.Context())
	if _, err := a.vols.UpdateVolume(r.Context(), p, v.ID, u); err != nil {
		return fmt.Errorf("update volume %s: %w", v.ID, err)
	}
	v, err = a.vols.GetVolume(r.Context(), p, v.ID)
	if err != nil {
		return fmt.Errorf("reread volume %s: %w", v.ID, err)
	}
	return writeOne(w, r, http.StatusOK, a.osLookups(r).volumeJSON(v))
}

func (a *API) volumeAction(w http.ResponseWriter, r *http.Request) error {
	action := r.PathValue("action")
	if !slices.Contains([]string{"pull", "unlink", "attach", "detach", "extend", "retype", "snapshot"}, action) {
		return errNotFound
	}
	v, err := a.manageableVolume(r)
	if err != nil {
		return err
	}
	p := httpapi.Principal(r.Context())
	ctx := r.Context()
	scheduled := func(verb string) error {
		// The seed documents 200 for these actions, current Waldur answers
		// 202 (Options.ActionStatus); the body is the one Waldur sends.
		return httpapi.WriteJSON(w, a.opts.ActionStatus, map[string]string{"status": verb + " was scheduled"})
	}
	switch action {
	case "pull":
		if err := requireState(v, stOK, stErred); err != nil {
			return err
		}
		if v.BackendID == "" {
			return detail{http.StatusBadRequest, "Resource does not have backend ID."}
		}
		// Our state is the backend's: there is nothing to pull, and the
		// next read shows the truth.
		return httpapi.WriteJSON(w, http.StatusAccepted, map[string]string{"detail": "Pull operation was successfully scheduled."})
	case "unlink":
		if !p.User.Staff {
			return errNoPermission
		}
		// Unlike Waldur, the record cannot be dropped while its data stays
		// in the pool, so unlink is a forced delete that also frees it.
		// A volume already being deleted is as good as unlinked.
		if v.Status != volume.Deleting {
			if _, err := a.vols.DeleteVolume(ctx, p, v.ID, true); err != nil {
				return fmt.Errorf("unlink volume %s: %w", v.ID, err)
			}
		}
		if err := a.awaitGone(ctx, v.ID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case "attach":
		return a.attachVolume(r, v, scheduled)
	case "detach":
		inst, _ := attachedTo(v)
		switch {
		case v.Bootable:
			return conflictMsg("Volume cannot be bootable.")
		case inst == "":
			return conflictMsg("Volume is not attached to an instance.")
		case v.Status != volume.InUse:
			return validRuntime("in-use")
		}
		if _, err := a.vols.Detach(ctx, p, v.ID, inst); err != nil {
			return fmt.Errorf("detach volume %s: %w", v.ID, err)
		}
		return scheduled("detach")
	case "extend":
		return a.extendVolume(r, v, scheduled)
	case "retype":
		return a.retypeVolume(r, v, scheduled)
	}
	return a.snapshotVolume(w, r, v)
}

// unlinkWait bounds how long unlink waits for the delete to finish.
const unlinkWait = 30 * time.Second

// awaitGone waits until the delete job has removed volume id: Waldur's
// unlink drops the record at once, so after its 204 no read may find the
// volume. Deleting is metadata work in the pool and takes milliseconds;
// when it takes longer than unlinkWait the client gets a 503 and may
// unlink again.
func (a *API) awaitGone(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, unlinkWait)
	defer cancel()
	p := httpapi.Principal(ctx)
	delay := time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return errs.E(errs.Unavailable, "volume %s is still being deleted; unlink it again", id)
		case <-timer.C:
		}
		v, err := a.vols.GetVolume(ctx, p, id)
		switch {
		case errs.Is(err, errs.NotExist):
			return nil
		case ctx.Err() != nil:
			continue
		case err != nil:
			return fmt.Errorf("unlink volume %s: %w", id, err)
		case v.Status != volume.Deleting:
			return errs.E(errs.Internal, "unlink volume %s: the delete ended %s: %s", id, v.Status, v.Error)
		}
		timer.Reset(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

func (a *API) attachVolume(r *http.Request, v volume.Volume, scheduled func(string) error) error {
	if v.Status != volume.Available {
		return validRuntime("available")
	}
	in, err := a.body(r)
	if err != nil {
		return err
	}
	raw, ok := in["instance"]
	if !ok {
		return fieldErrors{"instance": []string{"This field is required."}}
	}
	if raw == nil {
		return fieldErrors{"instance": []string{"This field may not be null."}}
	}
	id, err := ref(raw, "instance", "/api/openstack-instances/")
	if err != nil {
		return err
	}
	p := httpapi.Principal(r.Context())
	inst, err := a.vols.GetInstance(r.Context(), p, id)
	if err != nil {
		if errs.Is(err, errs.NotExist) {
			return fieldErrors{"instance": []string{"Invalid hyperlink - Object does not exist."}}
		}
		return fmt.Errorf("attach: instance %s: %w", id, err)
	}
	if rt := instanceRuntime(inst); rt != "ACTIVE" && rt != "SHUTOFF" {
		return fieldErrors{"instance": []string{"Volume can be attached only to shutoff or active instance in OK state."}}
	}
	if inst.ProjectID != v.ProjectID {
		return fieldErrors{"instance": []string{"Volume and instance should belong to the same service and project."}}
	}
	if _, _, err := a.vols.Attach(r.Context(), p, v.ID, inst.ID); err != nil {
		return fmt.Errorf("attach volume %s: %w", v.ID, err)
	}
	return scheduled("attach")
}

func (a *API) extendVolume(r *http.Request, v volume.Volume, scheduled func(string) error) error {
	if v.Bootable {
		return conflictMsg("Volume cannot be bootable.")
	}
	p := httpapi.Principal(r.Context())
	if instID, _ := attachedTo(v); instID != "" {
		inst, err := a.vols.GetInstance(r.Context(), p, instID)
		if err != nil {
			return fmt.Errorf("extend: instance %s: %w", instID, err)
		}
		if instanceRuntime(inst) != "SHUTOFF" {
			return conflictMsg("Volume instance should be in shutoff state.")
		}
	}
	if err := requireState(v, stOK); err != nil {
		return err
	}
	in, err := a.body(r)
	if err != nil {
		return err
	}
	size, err := intField(in, "disk_size")
	if err != nil {
		return err
	}
	if cur := v.Size / mib; size < cur+1024 {
		return fieldErrors{"disk_size": []string{fmt.Sprintf("Disk size should be greater or equal to %d", cur+1024)}}
	}
	if _, _, err := a.vols.ExtendVolume(r.Context(), p, v.ID, size*mib); err != nil {
		return fmt.Errorf("extend volume %s: %w", v.ID, err)
	}
	return scheduled("extend")
}

// intField reads a required positive integer as DRF's IntegerField does.
func intField(in map[string]any, name string) (int64, error) {
	raw, ok := in[name]
	if !ok {
		return 0, fieldErrors{name: []string{"This field is required."}}
	}
	var n int64
	switch x := raw.(type) {
	case nil:
		return 0, fieldErrors{name: []string{"This field may not be null."}}
	case float64:
		if x != float64(int64(x)) {
			return 0, fieldErrors{name: []string{"A valid integer is required."}}
		}
		n = int64(x)
	case string:
		v, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fieldErrors{name: []string{"A valid integer is required."}}
		}
		n = v
	default:
		return 0, fieldErrors{name: []string{"A valid integer is required."}}
	}
	if n < 1 {
		return 0, fieldErrors{name: []string{"Ensure this value is greater than or equal to 1."}}
	}
	return n, nil
}

func (a *API) retypeVolume(r *http.Request, v volume.Volume, scheduled func(string) error) error {
	if v.Status != volume.Available {
		return validRuntime("available")
	}
	in, err := a.body(r)
	if err != nil {
		return err
	}
	raw, ok := in["type"]
	if !ok || raw == nil {
		return fieldErrors{"type": []string{"This field is required."}}
	}
	id, err := ref(raw, "type", "/api/openstack-volume-types/")
	if err != nil {
		return err
	}
	t, ok := a.typeByID(id)
	if !ok {
		return fieldErrors{"type": []string{"Invalid hyperlink - Object does not exist."}}
	}
	if t.Name == v.Type {
		return fieldErrors{"type": []string{"Volume already has requested type."}}
	}
	if _, err := a.vols.RetypeVolume(r.Context(), httpapi.Principal(r.Context()), v.ID, t.Name); err != nil {
		if errs.FieldOf(err) == "type" {
			return fieldErrors{"type": []string{"Volume type is not visible in tenant."}}
		}
		return fmt.Errorf("retype volume %s: %w", v.ID, err)
	}
	return scheduled("retype")
}
