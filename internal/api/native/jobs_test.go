package native_test

import (
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

func TestJobsEndpoints(t *testing.T) {
	e := testenv.Start(t)
	auth := testenv.Bearer(e.AdminToken)
	var l listOf[struct{ ID string }]
	r := e.Do("GET", "/api/v1/jobs?state=queued", auth, nil)
	wantStatus(t, r, 200)
	r.JSON(t, &l)
	if l.Items == nil {
		t.Fatal("jobs list has no items array")
	}
	wantProblem(t, e.Do("GET", "/api/v1/jobs/does-not-exist", auth, nil), 404, "not_found")
	wantProblem(t, e.Do("GET", "/api/v1/jobs", "", nil), 401, "unauthorized")
}
