package load

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// duration is 5 s for `go test`, 60 s under STOWAGE_SOAK=1, or
// STOWAGE_LOAD_DURATION.
func duration(t *testing.T) time.Duration {
	if v := os.Getenv("STOWAGE_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("STOWAGE_LOAD_DURATION=%q: %v", v, err)
		}
		return d
	}
	if os.Getenv("STOWAGE_SOAK") != "" {
		return time.Minute
	}
	return 5 * time.Second
}

// maxRSS bounds the server's resident memory after the run.
const maxRSS = 768 << 20

type obj = map[string]any

// TestLoad runs wrk against the control plane's GETs on every face while
// bench/s3 and fio (over NBD) load the data planes, all against one real
// node, and requires no errors, printing the control plane's p99 and the
// node's memory before and after.
func TestLoad(t *testing.T) {
	for _, tool := range []string{"wrk", "fio"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (scripts/install-test-deps.sh installs it)", tool)
		}
	}
	d := duration(t)
	bin := testenv.Build(t)
	bench := filepath.Join(t.TempDir(), "bench-s3")
	if out, err := exec.Command("go", "build", "-o", bench, "github.com/stowage/stowage/bench/s3").CombinedOutput(); err != nil {
		t.Fatalf("build bench/s3: %v %s", err, out)
	}
	logPath := filepath.Join(t.TempDir(), "server.log")
	n := testenv.StartNode(t, bin, t.TempDir(), logPath)
	fx := setUp(t, n)
	before := memory(t, n.Cmd.Process.Pid)

	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	type result struct {
		name string
		out  []byte
		err  error
	}
	results := make(chan result, 3)
	run := func(name string, cmd *exec.Cmd) {
		out, err := cmd.CombinedOutput()
		results <- result{name, out, err}
	}
	script := wrkScript(t, n, fx)
	go run("wrk", exec.CommandContext(ctx, "wrk", "-t2", "-c16", fmt.Sprintf("-d%ds", int(math.Ceil(d.Seconds()))), "--latency", "-s", script, "http://"+n.Addrs.API))
	go run("bench/s3", exec.CommandContext(ctx, bench, "-endpoint", "http://"+n.Addrs.S3, "-access-key", fx.access, "-secret-key", fx.secret,
		"-region", "local-1", "-bucket", "load", "-test", "small", "-concurrency", "8", "-size", "4096", "-duration", (d/2).String()))
	go run("fio", exec.CommandContext(ctx, "fio", "--name=load", "--ioengine=nbd", "--uri=nbd://"+n.Addrs.NBD+"/"+fx.export,
		"--rw=randrw", "--bs=4k", "--iodepth=8", "--size=256M", "--time_based", fmt.Sprintf("--runtime=%d", int(math.Ceil(d.Seconds()))),
		"--fsync=64", "--output-format=json"))
	var wrkOut, fioOut []byte
	for range 3 {
		r := <-results
		if r.err != nil {
			t.Errorf("%s: %v\n%s", r.name, r.err, r.out)
		}
		switch r.name {
		case "wrk":
			wrkOut = r.out
		case "fio":
			fioOut = r.out
		}
		if r.name != "fio" {
			t.Logf("%s:\n%s", r.name, r.out)
		}
	}
	nbdIOPS := parseFio(t, fioOut)
	w := parseWrk(t, wrkOut)
	if w.non2xx != 0 || w.socketErrors != 0 {
		t.Errorf("wrk: %d non-2xx responses, %d socket errors", w.non2xx, w.socketErrors)
	}
	after := memory(t, n.Cmd.Process.Pid)
	if after.rss > maxRSS {
		t.Errorf("RSS after the run is %d MiB, more than %d MiB", after.rss>>20, maxRSS>>20)
	}
	routes := routeP99(t, n)
	fmt.Printf("load (%v): control-plane GETs %d requests, %.0f req/s, p50 %v, p99 %v, %d errors; %s; "+
		"NBD randrw 4k %.0f IOPS, 0 errors; node RSS %d MiB before, %d MiB after (peak %d MiB)\n",
		d, w.requests, w.rate, w.p50, w.p99, w.non2xx+w.socketErrors, routes, nbdIOPS, before.rss>>20, after.rss>>20, after.hwm>>20)
}

type fixture struct {
	project, volume, export, access, secret string
}

// setUp gives the node something to list on every face: volumes,
// snapshots, instances, buckets, orders; and a volume for fio.
func setUp(t *testing.T, n *testenv.Node) fixture {
	var fx fixture
	var ps struct{ Items []struct{ ID string } }
	n.Must("GET", "/api/v1/projects", nil, &ps)
	fx.project = ps.Items[0].ID
	var inst struct{ ID string }
	n.Must("POST", "/api/v1/instances", obj{"project_id": fx.project, "name": "load"}, &inst)
	for i := range 20 {
		var a struct{ Volume struct{ ID string } }
		n.Must("POST", "/api/v1/volumes", obj{"project_id": fx.project, "name": fmt.Sprint("vol-", i), "size": 64 << 20}, &a)
		fx.volume = a.Volume.ID
	}
	n.Must("POST", "/api/v1/projects/"+fx.project+"/buckets", obj{"name": "load"}, nil)
	var c struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	n.Must("POST", "/api/v1/projects/"+fx.project+"/credentials", nil, &c)
	fx.access, fx.secret = c.AccessKeyID, c.SecretAccessKey
	var a struct{ Volume struct{ ID string } }
	n.Must("POST", "/api/v1/volumes", obj{"project_id": fx.project, "name": "fio", "size": 1 << 30}, &a)
	for deadline := time.Now().Add(30 * time.Second); ; {
		var v struct{ Status string }
		n.Must("GET", "/api/v1/volumes/"+a.Volume.ID, nil, &v)
		if v.Status == "available" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fio volume never became available")
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.Must("POST", "/api/v1/volumes/"+a.Volume.ID+"/attach", obj{"instance_id": inst.ID}, nil)
	for deadline := time.Now().Add(30 * time.Second); ; {
		var v struct {
			Status      string
			Attachments []struct {
				ConnectionInfo struct{ URI string } `json:"connection_info"`
			}
		}
		n.Must("GET", "/api/v1/volumes/"+a.Volume.ID, nil, &v)
		if v.Status == "in_use" {
			uri := v.Attachments[0].ConnectionInfo.URI
			fx.export = uri[strings.LastIndex(uri, "/")+1:]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fio volume was never attached")
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.Must("POST", "/api/v1/volumes/"+fx.volume+"/snapshots", obj{"name": "load"}, nil)
	return fx
}

// wrkScript writes a Lua script that cycles over GETs of every face, each
// with the credential that face takes.
func wrkScript(t *testing.T, n *testenv.Node, fx fixture) string {
	bearer, token := "Bearer "+n.Token, "Token "+n.Token
	reqs := []struct{ path, auth string }{
		{"/api/v1/volumes?limit=50", bearer},
		{"/api/v1/volumes/" + fx.volume, bearer},
		{"/api/v1/projects", bearer},
		{"/api/v1/snapshots", bearer},
		{"/api/v1/jobs?limit=20", bearer},
		{"/api/v1/projects/" + fx.project + "/buckets", bearer},
		{"/api/openstack-volumes/", token},
		{"/api/marketplace-public-offerings/", token},
		{"/api/2.0/drives/detail/", bearer},
		{"/v1/storage/buckets", bearer},
		{"/healthz", ""},
	}
	var b strings.Builder
	b.WriteString("local reqs = {\n")
	for _, r := range reqs {
		fmt.Fprintf(&b, "  {%q, %q},\n", r.path, r.auth)
	}
	b.WriteString(`}
local i = 0
request = function()
  i = i + 1
  local r = reqs[(i % #reqs) + 1]
  local h = {}
  if r[2] ~= "" then h["Authorization"] = r[2] end
  return wrk.format("GET", r[1], h)
end
`)
	p := filepath.Join(t.TempDir(), "gets.lua")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type wrkResult struct {
	requests             int
	rate                 float64
	p50, p99             time.Duration
	non2xx, socketErrors int
}

// parseWrk reads wrk's text report (with --latency).
func parseWrk(t *testing.T, out []byte) wrkResult {
	var w wrkResult
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	pct := regexp.MustCompile(`^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case pct.MatchString(line):
			m := pct.FindStringSubmatch(line)
			v, _ := strconv.ParseFloat(m[2], 64)
			unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
			if m[1] == "50" {
				w.p50 = time.Duration(v * float64(unit))
			} else {
				w.p99 = time.Duration(v * float64(unit))
			}
		case len(f) > 1 && f[1] == "requests" && strings.HasSuffix(line, "read"):
			w.requests, _ = strconv.Atoi(f[0])
		case strings.HasPrefix(line, "Requests/sec:"):
			w.rate, _ = strconv.ParseFloat(f[1], 64)
		case strings.HasPrefix(line, "  Non-2xx or 3xx responses:"):
			w.non2xx, _ = strconv.Atoi(f[len(f)-1])
		case strings.HasPrefix(line, "  Socket errors:"):
			for _, v := range regexp.MustCompile(`\d+`).FindAllString(line, -1) {
				k, _ := strconv.Atoi(v)
				w.socketErrors += k
			}
		}
	}
	if w.requests == 0 || w.p99 == 0 {
		t.Fatalf("could not read wrk's report:\n%s", out)
	}
	return w
}

// parseFio reads fio's JSON report and fails the test on any job error;
// it returns the job's read and write IOPS together.
func parseFio(t *testing.T, out []byte) float64 {
	// fio prints a line about the NBD connection before the JSON.
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	var rep struct {
		Jobs []struct {
			Error       int
			Read, Write struct{ IOPS float64 }
		}
	}
	if err := json.Unmarshal(out, &rep); err != nil || len(rep.Jobs) == 0 {
		t.Fatalf("could not read fio's report: %v\n%s", err, out)
	}
	j := rep.Jobs[0]
	if j.Error != 0 {
		t.Errorf("fio job error %d", j.Error)
	}
	return j.Read.IOPS + j.Write.IOPS
}

type mem struct{ rss, hwm int64 }

// memory reads the process's resident set and its peak from /proc.
func memory(t *testing.T, pid int) mem {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var m mem
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				m.rss = v << 10
			case "VmHWM:":
				m.hwm = v << 10
			}
		}
	}
	return m
}

// routeP99 estimates each GET route's p99 from the node's latency
// histogram and returns the slowest few, as text.
func routeP99(t *testing.T, n *testenv.Node) string {
	resp, err := http.Get("http://" + n.Addrs.API + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	type hist struct {
		les    []float64
		counts []float64
	}
	hs := map[string]*hist{}
	sample := regexp.MustCompile(`^stowage_http_request_duration_seconds_bucket\{([^}]*)\} (\S+)$`)
	label := regexp.MustCompile(`(\w+)="([^"]*)"`)
	for _, line := range strings.Split(string(out), "\n") {
		m := sample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range label.FindAllStringSubmatch(m[1], -1) {
			labels[l[1]] = l[2]
		}
		if labels["method"] != "GET" {
			continue
		}
		le, _ := strconv.ParseFloat(labels["le"], 64)
		c, _ := strconv.ParseFloat(m[2], 64)
		h := hs[labels["route"]]
		if h == nil {
			h = &hist{}
			hs[labels["route"]] = h
		}
		h.les, h.counts = append(h.les, le), append(h.counts, c)
	}
	type p99 struct {
		route string
		v     float64
	}
	var all []p99
	for route, h := range hs {
		total := h.counts[len(h.counts)-1]
		if total < 100 {
			continue
		}
		for i, c := range h.counts {
			if c >= 0.99*total {
				all = append(all, p99{route, h.les[i]})
				break
			}
		}
	}
	slices.SortFunc(all, func(a, b p99) int { return cmp.Compare(b.v, a.v) })
	var parts []string
	for _, r := range all[:min(len(all), 4)] {
		parts = append(parts, fmt.Sprintf("%s ≤%v", r.route, time.Duration(r.v*float64(time.Second))))
	}
	return "slowest route p99 (histogram bound): " + strings.Join(parts, ", ")
}
