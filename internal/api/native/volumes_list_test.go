package native_test

import (
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// TestVolumeListFilters checks every list filter and cursor pagination,
// and that a viewer sees volumes but cannot change them.
func TestVolumeListFilters(t *testing.T) {
	e := testenv.Start(t)
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	vm := c.instance(prj, "vm")
	mk := func(name, typ string, tags ...string) string {
		return c.createVolume(map[string]any{"project_id": prj, "name": name, "size": 4 * mib, "type": typ, "tags": tags}).ID
	}
	web1 := mk("web-1", "ssd", "web", "prod")
	mk("web-2", "hdd", "web")
	db := mk("Database", "nvme", "prod")
	c.attach(db, vm)

	names := func(query string) string {
		t.Helper()
		var out []string
		cursor := ""
		for {
			var l listOf[volumeOut]
			r := c.do("GET", "/api/v1/volumes?limit=2&"+query+"&cursor="+url.QueryEscape(cursor), nil)
			wantStatus(t, r, 200)
			r.JSON(t, &l)
			if len(l.Items) > 2 {
				t.Fatalf("page of %d items with limit=2", len(l.Items))
			}
			for _, v := range l.Items {
				out = append(out, v.Name)
			}
			if l.NextCursor == "" {
				break
			}
			cursor = l.NextCursor
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	for q, want := range map[string]string{
		"":                     "Database,web-1,web-2",
		"name=web-1":           "web-1",
		"name_contains=WEB":    "web-1,web-2",
		"name_contains=%25":    "",
		"status=in_use":        "Database",
		"status=available":     "web-1,web-2",
		"type=zadara":          "web-2",
		"zone=local-1a":        "Database,web-1,web-2",
		"zone=other":           "",
		"instance=" + vm:       "Database",
		"tag=prod":             "Database,web-1",
		"tag=we":               "",
		"project=" + prj:       "Database,web-1,web-2",
		"tag=web&type=ssd":     "web-1",
		"status=in_use&tag=we": "",
	} {
		if got := names(q); got != want {
			t.Errorf("?%s: %q, want %q", q, got, want)
		}
	}

	viewer := newTenant(t, e, "viewer")
	wantStatus(t, c.do("POST", "/api/v1/projects/"+prj+"/members", map[string]any{"user_id": viewer.user, "role": "viewer"}), 201)
	v := client{t: t, e: e, auth: testenv.Bearer(viewer.token)}
	wantStatus(t, v.do("GET", "/api/v1/volumes/"+web1, nil), 200)
	wantProblem(t, v.do("PATCH", "/api/v1/volumes/"+web1, map[string]any{"name": "mine"}), 403, "permission_denied")
	wantProblem(t, v.do("DELETE", "/api/v1/volumes/"+web1, nil), 403, "permission_denied")
	wantProblem(t, v.do("POST", "/api/v1/volumes", map[string]any{"project_id": prj, "size": 4 * mib}), 403, "permission_denied")
	c.wantVolumeStatus(web1, "available")
}
