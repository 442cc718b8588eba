package cloudsigma

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// Servers are the core's instances: enough of CloudSigma's servers for
// drives to be mounted (attached) and for the running-server rules to be
// real. CPU, memory, NICs and VNC are not modelled; a server's drives are
// its attachments, each with the NBD URI a hypervisor opens.

// Server statuses as CloudSigma names them.
func serverStatus(in volume.Instance) string {
	if in.PowerState == volume.Running {
		return "running"
	}
	return "stopped"
}

// server loads one server of the account; anything else is notexist.
func (a *API) server(ctx context.Context, project, id string) (volume.Instance, error) {
	in, err := a.volumes.GetInstance(ctx, httpapi.Principal(ctx), id)
	if errs.Is(err, errs.NotExist) || (err == nil && in.ProjectID != project) {
		return volume.Instance{}, notExist(id)
	}
	if err != nil {
		return volume.Instance{}, fmt.Errorf("get server %s: %w", id, err)
	}
	return in, nil
}

// serverDrives lists the account's drives attached to a server, in the
// order they were attached, with their attachments.
func (d *driveView) serverDrives(serverID string) []any {
	out := []any{}
	n := 0
	for _, v := range d.all {
		for _, at := range v.Attachments {
			if at.InstanceID != serverID {
				continue
			}
			out = append(out, map[string]any{
				"boot_order":  n + 1,
				"dev_channel": fmt.Sprintf("0:%d", n),
				"device":      "virtio",
				"drive":       ref("drives", v.ID),
				"runtime": map[string]any{
					"io": map[string]any{"driver": d.a.volumes.ConnectionInfo(at).Driver},
					// The NBD URI the hypervisor opens for this drive.
					"nbd_uri": d.a.volumes.ConnectionInfo(at).URI,
				},
			})
			n++
		}
	}
	return out
}

func (d *driveView) serverJSON(in volume.Instance) map[string]any {
	return map[string]any{
		"cpu":          1000,
		"drives":       d.serverDrives(in.ID),
		"mem":          536870912,
		"meta":         map[string]string{"description": in.Description},
		"name":         in.Name,
		"nics":         []any{},
		"owner":        ref("user", in.ProjectID),
		"resource_uri": "/api/2.0/servers/" + in.ID + "/",
		"runtime":      nil,
		"status":       serverStatus(in),
		"tags":         []any{},
		"uuid":         in.ID,
		"vnc_password": "",
	}
}

func (a *API) listServers(detail bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
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
		var all []volume.Instance
		req := page.Request{Limit: page.MaxLimit}
		for {
			res, err := a.volumes.ListInstances(r.Context(), httpapi.Principal(r.Context()), project, req)
			if err != nil {
				return fmt.Errorf("list servers: %w", err)
			}
			all = append(all, res.Items...)
			if res.Next == "" {
				break
			}
			if req.After, err = page.DecodeCursor(res.Next); err != nil {
				return err
			}
		}
		lo, hi := win.slice(len(all))
		out := make([]any, 0, hi-lo)
		for _, in := range all[lo:hi] {
			obj := d.serverJSON(in)
			switch f := fieldsParam(r); {
			case f != nil:
				obj = pick(obj, f)
			case !detail:
				obj = pick(obj, []string{"name", "owner", "resource_uri", "runtime", "status", "uuid"})
			}
			out = append(out, obj)
		}
		writeJSON(w, http.StatusOK, map[string]any{"meta": win.meta(len(all)), "objects": out})
		return nil
	}
}

func (a *API) getServer(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	in, err := a.server(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.serverJSON(in))
	return nil
}

// serverInput is what a server body may set.
type serverInput struct {
	name   *string
	drives *[]string
}

func parseServer(raw json.RawMessage, create bool) (serverInput, error) {
	var in serverInput
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return in, newError(http.StatusBadRequest, "validation", "", "A server must be a JSON object")
	}
	if v, ok := m["name"]; ok && string(v) != "null" {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return in, newError(http.StatusBadRequest, "validation", "name", "name must be a string")
		}
		in.name = &s
	} else if create {
		return in, required("name")
	}
	if v, ok := m["drives"]; ok && string(v) != "null" {
		var list []struct {
			Drive json.RawMessage `json:"drive"`
		}
		if json.Unmarshal(v, &list) != nil {
			return in, newError(http.StatusBadRequest, "validation", "drives", "drives must be a list of {\"drive\": ...} objects")
		}
		ids := []string{}
		for _, x := range list {
			refs, err := parseTags(json.RawMessage("[" + string(x.Drive) + "]"))
			if err != nil || len(x.Drive) == 0 {
				return in, newError(http.StatusBadRequest, "validation", "drives", "each drive needs a drive uuid, URI or object")
			}
			ids = append(ids, refs[0])
		}
		in.drives = &ids
	}
	return in, nil
}

// mountDrives makes the server's attachments match ids: new drives are
// attached, dropped ones detached. Every drive is checked to be the
// account's before anything changes.
func (a *API) mountDrives(ctx context.Context, project string, d *driveView, in volume.Instance, ids []string) error {
	p := httpapi.Principal(ctx)
	for _, id := range ids {
		if _, err := a.drive(ctx, project, id); err != nil {
			return err
		}
	}
	var current []string
	for _, v := range d.all {
		for _, at := range v.Attachments {
			if at.InstanceID == in.ID {
				current = append(current, v.ID)
			}
		}
	}
	for _, id := range current {
		if !slices.Contains(ids, id) {
			if _, err := a.volumes.Detach(ctx, p, id, in.ID); err != nil {
				return fmt.Errorf("unmount drive %s: %w", id, err)
			}
		}
	}
	for _, id := range ids {
		if slices.Contains(current, id) {
			continue
		}
		if _, _, err := a.volumes.Attach(ctx, p, id, in.ID); err != nil {
			if errs.Is(err, errs.Conflict) {
				return newError(http.StatusForbidden, "permission", "drives", "Cannot mount drive %s: %s", id, errs.Message(err))
			}
			return fmt.Errorf("mount drive %s: %w", id, err)
		}
	}
	return nil
}

func (a *API) createServers(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	raws, err := a.readObjects(r, "name")
	if err != nil {
		return err
	}
	var ins []serverInput
	for _, raw := range raws {
		in, err := parseServer(raw, true)
		if err != nil {
			return err
		}
		// Drives are checked before any server is made, so a bad drive
		// leaves nothing behind.
		for _, id := range derefIDs(in.drives) {
			if _, err := a.drive(r.Context(), project, id); err != nil {
				return err
			}
		}
		ins = append(ins, in)
	}
	p := httpapi.Principal(r.Context())
	var made []volume.Instance
	for _, in := range ins {
		// CloudSigma servers are created stopped.
		inst, err := a.volumes.CreateInstance(r.Context(), p, project, *in.name, "", volume.Stopped, nil)
		if err != nil {
			return fmt.Errorf("create server: %w", err)
		}
		if in.drives != nil {
			d, err := a.view(r.Context(), project)
			if err != nil {
				return err
			}
			if err := a.mountDrives(r.Context(), project, d, inst, *in.drives); err != nil {
				// Take the server back; that fails, and it stays, only if
				// one of its drives got mounted before the refusal.
				if derr := a.volumes.DeleteInstance(r.Context(), p, inst.ID); derr != nil {
					a.log.Warn("roll back server", "server", inst.ID, "err", derr)
				}
				return err
			}
		}
		made = append(made, inst)
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	out := make([]any, len(made))
	for i, in := range made {
		out[i] = d.serverJSON(in)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"objects": out})
	return nil
}

func (a *API) editServer(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	inst, err := a.server(r.Context(), project, r.PathValue("uuid"))
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
	in, err := parseServer(body, false)
	if err != nil {
		return err
	}
	if in.name != nil {
		if inst, err = a.volumes.UpdateInstance(r.Context(), httpapi.Principal(r.Context()), inst.ID, in.name, nil, nil); err != nil {
			return fmt.Errorf("edit server %s: %w", inst.ID, err)
		}
	}
	if in.drives != nil {
		d, err := a.view(r.Context(), project)
		if err != nil {
			return err
		}
		if err := a.mountDrives(r.Context(), project, d, inst, *in.drives); err != nil {
			return err
		}
	}
	d, err := a.view(r.Context(), project)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.serverJSON(inst))
	return nil
}

// serverAction starts or stops a server, with the state wording of the
// recorded errors.
func (a *API) serverAction(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	inst, err := a.server(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	do := r.URL.Query().Get("do")
	var from, to string
	switch do {
	case "start":
		from, to = volume.Stopped, volume.Running
	case "stop":
		from, to = volume.Running, volume.Stopped
	default:
		return newError(http.StatusBadRequest, "validation", "do", "Unknown action %s", do)
	}
	if inst.PowerState != from {
		return newError(http.StatusForbidden, "permission", "", "Cannot %s guest in state \"%s\". Guest should be in state \"%s\"",
			do, serverStatus(inst), serverStatus(volume.Instance{PowerState: from}))
	}
	if _, err := a.volumes.UpdateInstance(r.Context(), httpapi.Principal(r.Context()), inst.ID, nil, nil, &to); err != nil {
		return fmt.Errorf("%s server %s: %w", do, inst.ID, err)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"action": do, "result": "success", "uuid": inst.ID})
	return nil
}

func derefIDs(ids *[]string) []string {
	if ids == nil {
		return nil
	}
	return *ids
}

// unmountWait bounds how long deleting a server waits for its drives to be
// unmounted before asking the client to retry.
const unmountWait = 10 * time.Second

// deleteServer deletes a stopped server; its drives are unmounted, not
// deleted. Unmounting is a job per drive, so the handler waits briefly and
// otherwise answers 503 concurrency, which CloudSigma clients retry.
func (a *API) deleteServer(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	inst, err := a.server(r.Context(), project, r.PathValue("uuid"))
	if err != nil {
		return err
	}
	if inst.PowerState != volume.Stopped {
		return newError(http.StatusForbidden, "permission", "", "Cannot delete guest in state \"%s\". Guest should be in state \"stopped\"", serverStatus(inst))
	}
	deadline := time.Now().Add(unmountWait)
	for {
		d, err := a.view(r.Context(), project)
		if err != nil {
			return err
		}
		if len(d.serverDrives(inst.ID)) == 0 {
			break
		}
		// A drive still attaching or already detaching refuses a detach
		// (Conflict); the next round tries again.
		if err := a.mountDrives(r.Context(), project, d, inst, nil); err != nil && !errs.Is(err, errs.Conflict) {
			return err
		}
		if time.Now().After(deadline) {
			return newError(http.StatusServiceUnavailable, "concurrency", "", "Drives of server %s are still being unmounted; retry", inst.ID)
		}
		select {
		case <-r.Context().Done():
			return r.Context().Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := a.volumes.DeleteInstance(r.Context(), httpapi.Principal(r.Context()), inst.ID); err != nil {
		return fmt.Errorf("delete server %s: %w", inst.ID, err)
	}
	noContent(w)
	return nil
}
