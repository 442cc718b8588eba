package cloudsigma

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/jobs"
)

// jobState names a job's state as CloudSigma does: started until it ends,
// then success or error.
func jobState(s jobs.State) string {
	switch s {
	case jobs.Succeeded:
		return "success"
	case jobs.Failed, jobs.Cancelled:
		return "error"
	}
	return "started"
}

// operation names a job's kind: a volume made from a volume is a
// drive_clone; other kinds keep their name with drive for volume.
func (a *API) operation(ctx context.Context, j jobs.Job) (string, []string) {
	resources := []string{}
	if j.ResourceType == "volume" {
		if v, err := a.volumes.GetVolume(ctx, httpapi.Principal(ctx), j.ResourceID); err == nil && j.Kind == "volume.create" {
			switch v.SourceType {
			case "volume":
				return "drive_clone", []string{"/api/2.0/drives/" + v.SourceID + "/", "/api/2.0/drives/" + v.ID + "/"}
			case "snapshot":
				return "snapshot_clone", []string{"/api/2.0/snapshots/" + v.SourceID + "/", "/api/2.0/drives/" + v.ID + "/"}
			}
		}
		resources = append(resources, "/api/2.0/drives/"+j.ResourceID+"/")
	} else if j.ResourceType == "snapshot" {
		resources = append(resources, "/api/2.0/snapshots/"+j.ResourceID+"/")
	}
	op := strings.ReplaceAll(strings.Replace(j.Kind, "volume", "drive", 1), ".", "_")
	return op, resources
}

func (a *API) jobJSON(ctx context.Context, j jobs.Job) map[string]any {
	op, resources := a.operation(ctx, j)
	progress := 0
	switch j.State {
	case jobs.Running:
		progress = 50
	case jobs.Succeeded:
		progress = 100
	}
	return map[string]any{
		"children":      []any{},
		"created":       j.Created.UTC().Format("2006-01-02T15:04:05.000000+00:00"),
		"data":          map[string]any{"progress": progress},
		"last_modified": j.Updated.UTC().Format("2006-01-02T15:04:05.000000+00:00"),
		"operation":     op,
		"resource_uri":  "/api/2.0/jobs/" + j.ID + "/",
		"resources":     resources,
		"state":         jobState(j.State),
		"uuid":          j.ID,
	}
}

// jobHistory is how long finished jobs stay listed, as CloudSigma keeps them.
const jobHistory = 72 * time.Hour

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	win, err := parseWindow(q)
	if err != nil {
		return err
	}
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	sc := httpapi.Principal(r.Context()).Scope()
	var all []jobs.Job
	req := page.Request{Limit: page.MaxLimit}
	cutoff := a.now().Add(-jobHistory)
	for {
		res, err := a.jobs.List(r.Context(), sc, jobs.Filter{}, req)
		if err != nil {
			return fmt.Errorf("list jobs: %w", err)
		}
		for _, j := range res.Items {
			if j.ProjectID != project || (j.State.Terminal() && j.Updated.Before(cutoff)) {
				continue
			}
			if st := q.Get("state"); st != "" && !slices.Contains(orValues(st), jobState(j.State)) {
				continue
			}
			all = append(all, j)
		}
		if res.Next == "" {
			break
		}
		if req.After, err = page.DecodeCursor(res.Next); err != nil {
			return err
		}
	}
	slices.SortStableFunc(all, func(x, y jobs.Job) int { return y.Updated.Compare(x.Updated) })
	lo, hi := win.slice(len(all))
	out := make([]any, 0, hi-lo)
	for _, j := range all[lo:hi] {
		obj := a.jobJSON(r.Context(), j)
		if f := fieldsParam(r); f != nil {
			obj = pick(obj, f)
		}
		out = append(out, obj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": win.meta(len(all)), "objects": out})
	return nil
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	id := r.PathValue("uuid")
	j, err := a.jobs.Get(r.Context(), httpapi.Principal(r.Context()).Scope(), id)
	if errs.Is(err, errs.NotExist) || (err == nil && j.ProjectID != project) {
		return notExist(id)
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", id, err)
	}
	writeJSON(w, http.StatusOK, a.jobJSON(r.Context(), j))
	return nil
}
