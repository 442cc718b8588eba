// Package deploy_test checks what an operator installs beside the binary:
// the Debian package (installed with dpkg, started as its systemd unit
// would, removed and purged), and the Prometheus alert rules and Grafana
// dashboard, against the metrics a running node exports.
package deploy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

const monitoring = "../../deploy/monitoring"

func TestAlertRules(t *testing.T) {
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = monitoring
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s (apt-get install prometheus)", strings.Join(args, " "), err, out)
		}
	}
}

// metricName finds the series names a rule or panel queries.
var metricName = regexp.MustCompile(`\b(?:stowage|process)_[a-z0-9_]+`)

// TestMonitoringNamesExportedMetrics: every series the alert rules and the
// dashboard query is one a node exports, so a renamed metric cannot leave
// an alert that never fires.
func TestMonitoringNamesExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join(monitoring, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(monitoring, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard: %v", err)
	}
	queried := metricName.FindAllString(string(rules), -1)
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("a %s panel has no query", p.Type)
		}
		for _, tg := range p.Targets {
			queried = append(queried, metricName.FindAllString(tg.Expr, -1)...)
		}
	}

	// A node that has served each face once and run a job.
	e := testenv.Start(t)
	e.Do("GET", "/healthz", "", nil)
	creds := e.BucketWithKey("metrics")
	if r := e.S3(creds, "PUT", "/metrics/o", "", nil, []byte("x")); r.Status != 200 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	e.S3(creds, "GET", "/metrics/o", "", nil, nil)
	e.AttachedVolume("metrics", 1<<20)
	resp, err := http.Get(e.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			exported = append(exported, strings.Fields(name)[0])
		}
	}
	for _, name := range queried {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		// Present only while a job waits or runs; its collector is
		// registered beside stowage_jobs.
		if base == "stowage_job_oldest_age_seconds" {
			continue
		}
		if !slices.Contains(exported, base) {
			t.Errorf("%s is queried but the node does not export it", name)
		}
	}
}
