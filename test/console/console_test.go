package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/stowage/stowage/internal/testenv"
)

type obj = map[string]any

// suite is one browser tab on one node, and what the test counts.
type suite struct {
	t     *testing.T
	e     *testenv.Env
	ctx   context.Context
	shots string
	steps int
	saved int
	// checked counts pages checked for labels; fitted, the page × width
	// checks that nothing is wider than the screen.
	checked, fitted int
}

func (s *suite) api(tok, method, path string, body any, want int) obj {
	s.t.Helper()
	r := s.e.Do(method, path, testenv.Bearer(tok), body)
	if r.Status != want {
		s.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	out := obj{}
	if len(r.Body) > 0 && r.Body[0] == '{' {
		r.JSON(s.t, &out)
	}
	return out
}

// step runs browser actions as one named step of the flow.
func (s *suite) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	s.steps++
	if err := chromedp.Do(s.ctx, actions...); err != nil {
		s.t.Fatalf("step %d (%s): %v", s.steps, name, err)
	}
}

// open navigates and waits for the page to load.
func (s *suite) open(path string) int64 {
	s.t.Helper()
	resp, err := chromedp.Run(s.ctx, chromedp.NavigateResponse(s.e.URL(path)))
	if err != nil {
		s.t.Fatalf("open %s: %v", path, err)
	}
	return resp.Status
}

// submit clicks a button that posts a form and waits for the next page.
func (s *suite) submit(name string, click chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	s.steps++
	if _, err := chromedp.RunResponse(s.ctx, click); err != nil {
		s.t.Fatalf("step %d (%s): %v", s.steps, name, err)
	}
}

func eval[T any](s *suite, expr string) T {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		s.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a predicate in the page until a deadline; the page may
// reload itself meanwhile (a finished job shows the thing's new state).
func (s *suite) waitFor(what, predicate string) {
	s.t.Helper()
	s.steps++
	deadline := time.Now().Add(60 * time.Second)
	for {
		// A page still being parsed may hold only part of its elements.
		ok, err := chromedp.Run(s.ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && Boolean(`+predicate+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(s.ctx, chromedp.Evaluate[string]("document.body.innerText"))
			s.t.Fatalf("step %d: waiting for %s: %v\npage: %.2000s", s.steps, what, err, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shoot saves the page at desktop and at phone width, after checking
// that every form field has a label and nothing is wider than a phone.
func (s *suite) shoot(name string) {
	s.t.Helper()
	unlabelled := eval[[]string](s, `Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"))
		.filter(el => el.labels.length === 0 && !el.getAttribute("aria-label")).map(el => el.outerHTML)`)
	if len(unlabelled) > 0 {
		s.t.Errorf("page %s has form fields without a label: %v", name, unlabelled)
	}
	s.checked++
	for _, size := range []struct {
		label string
		w, h  int64
		opts  []chromedp.EmulateViewportOption
	}{
		{"desktop", 1920, 1080, nil},
		{"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile}},
	} {
		if err := chromedp.Do(s.ctx, chromedp.EmulateViewport(size.w, size.h, size.opts...)); err != nil {
			s.t.Fatal(err)
		}
		// Wide tables scroll inside their card; the page itself must not,
		// and nothing may stick out of the main column.
		fit := eval[struct {
			Wide, Left, Right float64
			Out               []string
		}](s, `(() => { const m = document.querySelector("main").getBoundingClientRect();
			return {wide: document.documentElement.scrollWidth, left: m.left, right: innerWidth - m.right,
				out: Array.from(document.querySelectorAll("main *")).filter(el => !(el.parentElement.closest(".scroll")) &&
					el.getBoundingClientRect().right > m.right + 1).map(el => el.outerHTML.slice(0, 80))}; })()`)
		if fit.Wide > float64(size.w) || len(fit.Out) > 0 {
			s.t.Errorf("page %s at %s width %d is %v px wide; sticking out of the main column: %q", name, size.label, size.w, fit.Wide, fit.Out)
		}
		if size.label == "desktop" && (fit.Left < 1 || fit.Left-fit.Right > 1 || fit.Right-fit.Left > 1) {
			// At 1920 px the column keeps a readable width, centred.
			s.t.Errorf("page %s at 1920 px: the main column is not centred (%v px left, %v px right)", name, fit.Left, fit.Right)
		}
		s.fitted++
		png, err := chromedp.Run(s.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			s.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(s.shots, name+"-"+size.label+".png"), png, 0o644); err != nil {
			s.t.Fatal(err)
		}
		s.saved++
	}
	if err := chromedp.Do(s.ctx, chromedp.EmulateViewport(1920, 1080)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *suite) signIn(login, password string) {
	s.t.Helper()
	s.open("/")
	s.step("sign in as "+login, chromedp.WaitVisible(chromedp.ID("login")), chromedp.SendKeys(chromedp.ID("login"), login),
		chromedp.SendKeys(chromedp.ID("password"), password))
	s.submit("sign in", chromedp.Click(chromedp.ID("signin")))
	s.waitFor("the overview", `document.querySelector("#usage-h") !== null`)
}

func (s *suite) signOut() {
	s.t.Helper()
	s.submit("sign out", chromedp.Click(chromedp.ID("signout")))
	s.waitFor("the sign-in page", `document.querySelector("#signin") !== null`)
}

// fetch gets a URL with no credentials at all, as anyone holding it would.
func (s *suite) fetch(link string) []byte {
	s.t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		s.t.Fatalf("GET %s: %d %v", link, resp.StatusCode, err)
	}
	return b
}

func (s *suite) html() string {
	return eval[string](s, "document.documentElement.outerHTML")
}

func artifacts(t *testing.T) string {
	dir := os.Getenv("STOWAGE_CONSOLE_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "stowage-console-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestConsoleInBrowser(t *testing.T) {
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (scripts/install-test-deps.sh installs it): %v", err)
	}
	start := time.Now()
	e := testenv.Start(t)
	s := &suite{t: t, e: e, shots: artifacts(t)}

	// A tenant: alice (member) and victor (viewer) in project A; another
	// organisation's project B holds a volume alice must not see.
	admin := e.AdminToken
	org := s.api(admin, "POST", "/api/v1/organisations", obj{"name": "acme"}, 201)
	proj := s.api(admin, "POST", "/api/v1/projects", obj{"organisation_id": org["id"], "name": "web"}, 201)
	pid := proj["id"].(string)
	const pw = "correct horse battery"
	for _, u := range []struct{ name, role string }{{"alice", "member"}, {"victor", "viewer"}} {
		user := s.api(admin, "POST", "/api/v1/users", obj{"username": u.name, "email": u.name + "@example.com", "password": pw}, 201)
		s.api(admin, "POST", "/api/v1/projects/"+pid+"/members", obj{"user_id": user["id"], "role": u.role}, 201)
	}
	inst := s.api(admin, "POST", "/api/v1/instances", obj{"project_id": pid, "name": "web-1"}, 201)
	other := s.api(admin, "POST", "/api/v1/organisations", obj{"name": "globex"}, 201)
	oproj := s.api(admin, "POST", "/api/v1/projects", obj{"organisation_id": other["id"], "name": "secret"}, 201)
	ovol := s.api(admin, "POST", "/api/v1/volumes", obj{"project_id": oproj["id"], "name": "theirs", "size": 1 << 30}, 202)
	otherVolume := ovol["volume"].(obj)["id"].(string)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1920, 1080))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelTimeout()
	s.ctx = ctx

	// "/" sends a browser to the console, which asks it to sign in.
	s.open("/")
	s.waitFor("the sign-in page", `document.querySelector("#signin") !== null`)
	s.shoot("sign-in")
	s.signIn("alice", pw)
	cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie"))
	if err != nil || strings.Contains(cookies, "stowage_console") {
		t.Errorf("the session cookie is readable from JavaScript (%q, %v): it must be HttpOnly", cookies, err)
	}
	s.shoot("overview")

	// Volumes: create one and watch it become available.
	s.open("/console/projects/" + pid + "/volumes")
	s.step("fill the volume form", chromedp.SendKeys(chromedp.ID("v-name"), "data-1"))
	s.submit("create the volume", chromedp.Click(chromedp.ID("create-volume")))
	s.waitFor("the volume to become available", `(document.querySelector("#volume-status")||{}).textContent === "available"`)
	volURL := eval[string](s, "location.pathname")
	volID := strings.TrimPrefix(volURL, "/console/volumes/")

	// Page weight and time to first render, measured on the volumes page.
	s.open("/console/projects/" + pid + "/volumes")
	s.waitFor("the volume in the list", `document.querySelector("#volumes") !== null`)
	s.waitFor("the first paint", `performance.getEntriesByType("paint").length > 0`)
	weight := eval[float64](s, `performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
		.reduce((n, e) => n + e.decodedBodySize, 0)`)
	resources := eval[float64](s, `performance.getEntriesByType("resource").length`)
	firstRender := eval[float64](s, `(performance.getEntriesByName("first-contentful-paint")[0] ||
		performance.getEntriesByName("first-paint")[0] || {startTime: -1}).startTime`)
	s.shoot("volumes")

	// Snapshot it, then attach it and read the connection line.
	s.open(volURL)
	s.step("name the snapshot", chromedp.SendKeys(chromedp.ID("s-name"), "before-upgrade"))
	s.submit("take the snapshot", chromedp.Click(chromedp.ID("snapshot")))
	s.waitFor("the snapshot to be available", `location.search === "" && /before-upgrade\s+available/.test(document.querySelector("#snapshots").innerText)`)
	s.submit("attach", chromedp.Click(chromedp.ID("attach")))
	s.waitFor("the connection line", `location.search === "" && document.querySelector("code.line") !== null`)
	line := eval[string](s, `document.querySelector("code.line").textContent`)
	if name := inst["name"].(string); !strings.Contains(eval[string](s, `document.querySelector(".attachment").innerText`), name) {
		t.Errorf("the attachment does not name instance %s", name)
	}
	var native obj
	e.Do("GET", "/api/v1/volumes/"+volID, testenv.Bearer(admin), nil).JSON(t, &native)
	atts, _ := native["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("the native API shows %d attachments after attaching in the console: %v", len(atts), native)
	}
	uri := atts[0].(obj)["connection_info"].(obj)["uri"].(string)
	if line != uri || !strings.HasPrefix(line, "nbd://") {
		t.Errorf("the console's connection line is %q, the native API's %q", line, uri)
	}
	if n := eval[float64](s, `document.querySelectorAll("button.copy").length`); n < 4 {
		t.Errorf("%v copy buttons next to the connection lines, want one per line", n)
	}
	s.shoot("volume")
	// Deleting it while attached is refused, in the core's words.
	s.step("confirm the delete", chromedp.SendKeys(chromedp.ID("d-confirm"), "data-1"))
	s.submit("delete the attached volume", chromedp.Click(chromedp.ID("delete-volume")))
	if refusal := eval[string](s, `(document.querySelector(".refusal")||{}).textContent || ""`); !strings.Contains(refusal, "in_use") {
		t.Errorf("deleting an attached volume showed %q, not the core's refusal", refusal)
	}
	s.shoot("refusal")
	s.open("/console/projects/" + pid + "/snapshots")
	s.waitFor("the snapshot in the project's list", `/before-upgrade/.test(document.querySelector("#snapshot-list").innerText)`)
	s.shoot("snapshots")

	// A snapshot's page: export it read-only twice, revoke one export, and
	// read the other with a real NBD client.
	s.submit("open the snapshot", chromedp.Click(chromedp.CSS(`#snapshot-list a[href^="/console/snapshots/"]`)))
	s.submit("export the snapshot", chromedp.Click(chromedp.ID("export-snapshot")))
	s.submit("export it again", chromedp.Click(chromedp.ID("export-snapshot")))
	s.waitFor("two exports", `document.querySelectorAll(".export").length === 2`)
	snapURL := eval[string](s, "location.pathname")
	snapID := strings.TrimPrefix(snapURL, "/console/snapshots/")
	s.submit("revoke one export", chromedp.Click(chromedp.CSS(`[data-unexport]`)))
	s.waitFor("one export left", `document.querySelectorAll(".export").length === 1`)
	exportLine := eval[string](s, `document.querySelector(".export code.line").textContent`)
	var exports struct {
		Items []struct {
			ConnectionInfo struct{ URI string } `json:"connection_info"`
		}
	}
	e.Do("GET", "/api/v1/snapshots/"+snapID+"/exports", testenv.Bearer(admin), nil).JSON(t, &exports)
	if len(exports.Items) != 1 || exports.Items[0].ConnectionInfo.URI != exportLine || !strings.HasPrefix(exportLine, "nbd://") {
		t.Errorf("the console shows export %q; the native API lists %+v", exportLine, exports.Items)
	}
	if out, err := exec.CommandContext(ctx, "nbdinfo", "--json", exportLine).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), `"is_read_only": true`) || !strings.Contains(string(out), fmt.Sprint(int64(1<<30))) {
		t.Errorf("nbdinfo on the console's export line: %v: %s", err, out)
	}
	s.steps++
	s.shoot("snapshot")
	// Restore it into a new volume, which the instance's page attaches.
	s.step("name the restored volume", chromedp.SendKeys(chromedp.ID("rs-name"), "restored"))
	s.submit("restore the snapshot", chromedp.Click(chromedp.ID("restore-snapshot")))
	s.waitFor("the restored volume to become available", `location.search === "" && (document.querySelector("#volume-status")||{}).textContent === "available"`)
	restored := strings.TrimPrefix(eval[string](s, "location.pathname"), "/console/volumes/")
	s.open("/console/projects/" + pid + "/instances")
	s.waitFor("the instance in the list", `/web-1\s+running/.test(document.querySelector("#instances").innerText)`)
	s.shoot("instances")
	s.submit("open the instance", chromedp.Click(chromedp.CSS(`#instances a`)))
	instURL := eval[string](s, "location.pathname")
	s.step("choose the restored volume", chromedp.SetValue(chromedp.ID("a-vol"), restored))
	s.submit("attach it from the instance", chromedp.Click(chromedp.ID("attach-volume")))
	s.waitFor("both volumes on the instance", `location.search === "" && document.querySelectorAll(".attachment code.line").length >= 2 &&
		/restored/.test(document.querySelector("main").innerText)`)
	var rv obj
	e.Do("GET", "/api/v1/volumes/"+restored, testenv.Bearer(admin), nil).JSON(t, &rv)
	ratts, _ := rv["attachments"].([]any)
	if len(ratts) != 1 || ratts[0].(obj)["instance_id"] != inst["id"] {
		t.Fatalf("the native API shows the restored volume's attachments as %v", rv["attachments"])
	}
	restoredURI := ratts[0].(obj)["connection_info"].(obj)["uri"].(string)
	if !strings.Contains(s.html(), restoredURI) {
		t.Errorf("the instance's page does not show the connection line %s", restoredURI)
	}
	s.shoot("instance")
	if st := s.open("/console/volumes/" + otherVolume); st != http.StatusNotFound ||
		eval[string](s, "document.querySelector('h1').textContent") != "Not found" {
		t.Errorf("another tenant's volume answered %d, not the not-found page", st)
	}
	s.steps++

	// Buckets: create one, upload a 20 MiB file (multipart) and a folder.
	bucket := fmt.Sprintf("photos-%d", time.Now().UnixNano()%1e9)
	s.open("/console/projects/" + pid + "/buckets")
	s.step("type the bucket name", chromedp.SendKeys(chromedp.ID("b-name"), bucket))
	if help := eval[string](s, `document.querySelector("#b-name-help").textContent`); help != "Looks good." {
		t.Errorf("the bucket name check says %q for a good name", help)
	}
	s.submit("create the bucket", chromedp.Click(chromedp.ID("create-bucket")))
	s.waitFor("the bucket page", `document.querySelector("#up-files") !== null`)
	dir := t.TempDir()
	big := make([]byte, 20<<20)
	_, _ = rand.Read(big)
	bigPath := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(bigPath, big, 0o644); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "album")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"first photo", "second photo"} {
		p := filepath.Join(folder, fmt.Sprintf("p%d.txt", i+1))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Progress is sampled in the page while the file goes up.
	eval[any](s, `window.__bars = []; window.__sample = setInterval(() => document.querySelectorAll(".uploads progress")
		.forEach(p => window.__bars.push(p.value / p.max)), 5); null`)
	s.step("choose the 20 MiB file", chromedp.SetUploadFiles(chromedp.ID("up-files"), []string{bigPath}))
	s.waitFor("the upload to finish", `document.querySelector(".drop").dataset.finished === "1"`)
	seen := eval[[]float64](s, `clearInterval(window.__sample); window.__bars`)
	partial := 0
	for _, f := range seen {
		if f > 0 && f < 1 {
			partial++
		}
	}
	if partial == 0 {
		t.Errorf("the progress bar never showed a partial upload (%d samples)", len(seen))
	}
	s.waitFor("the listing after the upload", `document.querySelector('a[data-key="big.bin"]') !== null`)
	s.step("choose the folder", chromedp.SetUploadFiles(chromedp.ID("up-folder"), []string{folder}))
	s.waitFor("the folder upload to finish", `document.querySelector(".drop").dataset.finished === "2"`)
	s.waitFor("the folder's files in the listing", `document.querySelector("#objects") !== null &&
		/album/.test(document.querySelector("#objects").innerText)`)
	// Drag and drop: a folder dropped on the page's drop zone is walked
	// with the entries API and uploaded under its name.
	dropped := filepath.Join(dir, "dropped")
	if err := os.MkdirAll(filepath.Join(dropped, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dropped, "inner", "d1.txt"), []byte("dropped photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	zone := eval[struct{ X, Y float64 }](s, `(() => { const d = document.querySelector(".drop"); d.scrollIntoView({block: "center"});
		const r = d.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()`)
	s.step("drop a folder on the page", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		data := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{dropped}, DragOperationsMask: 1}
		for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver,
			input.DispatchDragEventTypeDrop} {
			if _, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: zone.X, Y: zone.Y, Data: data}); err != nil {
				return err
			}
		}
		return nil
	}))
	s.waitFor("the dropped folder in the listing", `document.querySelector("#objects") !== null && /dropped/.test(document.querySelector("#objects").innerText)`)
	s.open("/console/projects/" + pid + "/buckets/" + bucket + "?prefix=dropped/inner/")
	if got := s.fetch(eval[string](s, `document.querySelector('a[data-key="dropped/inner/d1.txt"]').href`)); string(got) != "dropped photo" {
		t.Errorf("the dropped file reads %q", got)
	}
	s.open("/console/projects/" + pid + "/buckets/" + bucket)
	s.shoot("bucket")

	// Download through the browser and compare the bytes.
	downloads := t.TempDir()
	dctx, cancelDownload := context.WithTimeout(ctx, 30*time.Second)
	defer cancelDownload()
	progress := chromedp.Events(dctx, browser.DownloadProgress)
	s.step("download big.bin", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: ptr(true)})
		return err
	}), chromedp.Click(chromedp.CSS(`a[data-key="big.bin"]`)))
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatalf("the download was cancelled")
		}
		if ev.State != browser.DownloadProgressStateCompleted {
			continue
		}
		got, err := os.ReadFile(filepath.Join(downloads, ev.GUID))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, big) {
			t.Errorf("the downloaded file differs from the upload (%d bytes, want %d)", len(got), len(big))
		}
		break
	}

	// A multipart upload cut off after its first part resumes: choosing
	// the file again sends only the parts that are missing.
	resumePath := filepath.Join(dir, "resume.bin")
	if err := os.WriteFile(resumePath, big[:18<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	s.open("/console/projects/" + pid + "/buckets/" + bucket)
	// The cut: the page's requests for parts 2 and 3 go nowhere, as
	// when the network drops mid-upload.
	eval[any](s, `window.__open = XMLHttpRequest.prototype.open;
		XMLHttpRequest.prototype.open = function (m, u, ...rest) {
			return window.__open.call(this, m, /partNumber=[23]&/.test(u) ? "http://127.0.0.1:1/cut" : u, ...rest);
		}; null`)
	s.steps++
	s.step("choose the file to resume", chromedp.SetUploadFiles(chromedp.ID("up-files"), []string{resumePath}))
	s.waitFor("the cut-off upload to fail", `document.querySelector(".drop").dataset.finished === "0" &&
		/failed/.test(document.querySelector(".uploads").innerText)`)
	eval[any](s, `performance.clearResourceTimings(); null`)
	eval[any](s, `XMLHttpRequest.prototype.open = window.__open; null`)
	s.step("choose the file again", chromedp.SetUploadFiles(chromedp.ID("up-files"), []string{resumePath}))
	s.waitFor("the resumed upload to finish", `document.querySelector(".drop").dataset.finished === "1"`)
	if parts := eval[float64](s, `performance.getEntriesByType("resource").filter(e => /partNumber=/.test(e.name)).length`); parts != 2 {
		t.Errorf("the resumed upload sent %v parts, want the 2 missing of 3", parts)
	}
	s.open("/console/projects/" + pid + "/buckets/" + bucket + "/object?key=resume.bin")
	resumed := s.fetch(eval[string](s, `document.querySelector("#versions a").href`))
	if !bytes.Equal(resumed, big[:18<<20]) {
		t.Errorf("the resumed upload stored %d bytes that differ from the file", len(resumed))
	}

	// The object's details and versions.
	s.open("/console/projects/" + pid + "/buckets/" + bucket + "/object?key=big.bin")
	s.waitFor("the object's details", `/20 MiB/.test(document.querySelector(".facts").innerText) && document.querySelector("#versions") !== null`)
	s.shoot("object")
	s.open("/console/projects/" + pid + "/buckets/" + bucket)

	// Share a link and fetch it with no credentials at all.
	s.submit("share big.bin", chromedp.Click(chromedp.CSS(`[data-share="big.bin"]`)))
	s.waitFor("the share link", `document.querySelector("#share-url") !== null`)
	link := eval[string](s, `document.querySelector("#share-url").textContent`)
	if shared := s.fetch(link); !bytes.Equal(shared, big) {
		t.Errorf("the share link gave %d bytes, want the file", len(shared))
	}
	s.steps++

	// Object lock: the S3 face refuses it, in words, on a bucket without
	// versioning; a bucket made with it has versioning on and keeps it.
	s.step("choose a default retention", chromedp.SetValue(chromedp.ID("s-lock-mode"), "GOVERNANCE"),
		chromedp.SetValue(chromedp.ID("s-lock-days"), "1"))
	s.submit("turn object lock on without versioning", chromedp.Click(chromedp.ID("object-lock")))
	if refusal := eval[string](s, `(document.querySelector(".refusal")||{}).textContent || ""`); !strings.Contains(refusal, "versioning enabled") {
		t.Errorf("object lock on a bucket without versioning showed %q, not the refusal", refusal)
	}
	vault := fmt.Sprintf("vault-%d", time.Now().UnixNano()%1e9)
	s.open("/console/projects/" + pid + "/buckets")
	s.step("name a bucket with object lock", chromedp.SendKeys(chromedp.ID("b-name"), vault), chromedp.Click(chromedp.ID("b-lock")))
	if !eval[bool](s, `document.getElementById("b-ver").checked`) {
		t.Errorf("ticking object lock did not tick versioning, which it needs")
	}
	s.submit("create the bucket with object lock", chromedp.Click(chromedp.ID("create-bucket")))
	s.waitFor("the locked bucket's facts", `/versioning Enabled · object lock on/.test(document.querySelector("#bucket-facts").textContent)`)
	s.step("choose a default retention", chromedp.SetValue(chromedp.ID("s-lock-mode"), "GOVERNANCE"),
		chromedp.SetValue(chromedp.ID("s-lock-days"), "1"))
	s.submit("set the default retention", chromedp.Click(chromedp.ID("object-lock")))
	s.waitFor("the default retention", `/object lock on \(GOVERNANCE, 1 day by default\)/.test(document.querySelector("#bucket-facts").textContent)`)
	key := s.api(admin, "POST", "/api/v1/projects/"+pid+"/credentials", obj{"description": "check"}, 201)
	creds := &aws.Credentials{AccessKeyID: key["access_key_id"].(string), SecretAccessKey: key["secret_access_key"].(string)}
	if r := e.S3(creds, "GET", "/"+vault, "object-lock=", nil, nil); r.Status != 200 ||
		!strings.Contains(string(r.Body), "<Mode>GOVERNANCE</Mode>") || !strings.Contains(string(r.Body), "<Days>1</Days>") {
		t.Errorf("S3 reads the console's object lock as %d %s", r.Status, r.Body)
	}
	s.step("untick versioning", chromedp.Click(chromedp.ID("s-ver")))
	s.submit("suspend versioning under object lock", chromedp.Click(chromedp.CSS(`form:has(#s-ver) button`)))
	if refusal := eval[string](s, `(document.querySelector(".refusal")||{}).textContent || ""`); !strings.Contains(refusal, "cannot be suspended") {
		t.Errorf("suspending versioning under object lock showed %q, not the refusal", refusal)
	}
	if r := e.S3(creds, "GET", "/"+vault, "versioning=", nil, nil); !strings.Contains(string(r.Body), "<Status>Enabled</Status>") {
		t.Errorf("versioning after the refusal: %d %s", r.Status, r.Body)
	}
	s.open("/console/projects/" + pid + "/buckets/" + vault)
	s.shoot("bucket-locked")

	// S3 credentials: make one (its secret shown once), then revoke it.
	s.open("/console/projects/" + pid + "/credentials")
	s.submit("create a key", chromedp.Click(chromedp.ID("create-key")))
	s.waitFor("the new secret", `document.querySelector("#new-secret") !== null`)
	access := eval[string](s, `document.querySelector("#new-access").textContent`)
	secret := eval[string](s, `document.querySelector("#new-secret").textContent`)
	if len(secret) < 20 || !strings.Contains(eval[string](s, `document.querySelector("#snippet-rclone").textContent`), secret) {
		t.Errorf("the new key's secret %q is not shown with an rclone snippet", secret)
	}
	s.shoot("credentials")
	s.open("/console/projects/" + pid + "/credentials")
	if strings.Contains(s.html(), secret) {
		t.Errorf("the secret is shown again after the page that made it")
	}
	s.submit("revoke the key", chromedp.Click(chromedp.CSS(`[data-revoke="`+access+`"]`)))
	s.waitFor("the key gone", fmt.Sprintf(`location.pathname.endsWith("/credentials") && !document.body.innerText.includes(%q)`, access))
	var keys obj
	e.Do("GET", "/api/v1/projects/"+pid+"/credentials", testenv.Bearer(admin), nil).JSON(t, &keys)
	if strings.Contains(fmt.Sprint(keys), access) {
		t.Errorf("the revoked key %s is still listed by the native API", access)
	}
	s.open("/console/projects/" + pid + "/members")
	s.waitFor("the members", `/alice\s.*member/.test(document.querySelector("#members").innerText) && /victor\s.*viewer/.test(document.querySelector("#members").innerText)`)
	s.shoot("members")
	s.open("/console/tokens")
	s.step("name a token", chromedp.SendKeys(chromedp.ID("t-name"), "laptop"))
	s.submit("create a token", chromedp.Click(chromedp.ID("create-token")))
	s.waitFor("the new token", `document.querySelector("#new-token") !== null`)
	if tok := eval[string](s, `document.querySelector("#new-token").textContent`); e.Do("GET", "/api/v1/users/me", testenv.Bearer(tok), nil).Status != 200 {
		t.Errorf("the token the console made does not work on the native API")
	}
	s.shoot("tokens")
	s.signOut()
	if st := s.open("/console/projects/" + pid); st != http.StatusUnauthorized || eval[bool](s, `document.querySelector("#signin") === null`) {
		t.Errorf("after signing out the project page answered %d, not the sign-in form", st)
	}

	// A viewer sees no write buttons and no secrets.
	s.signIn("victor", pw)
	for _, p := range []string{"/console/projects/" + pid + "/volumes", volURL, "/console/projects/" + pid + "/buckets",
		"/console/projects/" + pid + "/buckets/" + bucket, "/console/projects/" + pid + "/credentials",
		"/console/projects/" + pid + "/snapshots", snapURL, "/console/projects/" + pid + "/instances", instURL} {
		s.open(p)
		s.steps++
		page := s.html()
		if n := eval[float64](s, `document.querySelectorAll("main form[method=post], input[type=file]").length`); n != 0 {
			t.Errorf("the viewer sees %v write forms on %s", n, p)
		}
		if strings.Contains(page, "nbd://") || strings.Contains(page, "X-Amz-Signature") ||
			containsAny(page, testenv.ExportName(uri), testenv.ExportName(exportLine), testenv.ExportName(restoredURI)) {
			t.Errorf("the viewer sees a capability on %s", p)
		}
	}
	if !strings.Contains(eval[string](s, `document.querySelector("main").innerText`), "shown to members") {
		t.Errorf("the viewer's instance page does not say the addresses are for members")
	}
	s.open(snapURL)
	if n := eval[float64](s, `document.querySelectorAll(".export").length`); n != 1 {
		t.Errorf("the viewer sees %v exports of the snapshot, want 1 (with no address)", n)
	}
	s.open(volURL)
	s.shoot("volume-viewer")
	if st := s.open("/console/admin"); st != http.StatusForbidden {
		t.Errorf("the operator's page answered a viewer %d, want 403", st)
	}
	s.signOut()

	// Staff: the pools' use, and a project's quota set from the page.
	adminPW, err := os.ReadFile(filepath.Join(e.DataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	s.signIn("admin", strings.TrimSpace(string(adminPW)))
	s.open("/console/admin")
	s.waitFor("the pools", `/Block pool disk/.test(document.body.innerText)`)
	s.step("set project web's volume quota", chromedp.SetValue(chromedp.ID("q-v-"+pid), "7"))
	s.submit("save the quota", chromedp.Click(chromedp.CSS(`form:has(#q-v-`+pid+`) button`)))
	var quota obj
	e.Do("GET", "/api/v1/projects/"+pid+"/quotas", testenv.Bearer(admin), nil).JSON(t, &quota)
	if limits, _ := quota["limits"].(obj); fmt.Sprint(limits["volumes"]) != "7" {
		t.Errorf("the quota set in the console reads %v on the native API", quota)
	}
	s.shoot("operator")

	// The catalog: order the first offering and follow the order to done.
	s.open("/console/projects/" + pid + "/catalog")
	s.step("name the order", chromedp.SendKeys(chromedp.CSS(`form[action$="/orders"] input[name=name]`), "ordered-1"))
	s.submit("order", chromedp.Click(chromedp.CSS(`form[action$="/orders"] button`)))
	s.waitFor("the order to be done", `(document.querySelector("#order-state")||{}).textContent === "done"`)
	s.shoot("order")
	s.signOut()

	fmt.Printf("console: browser suite: %d steps, %d pages checked for labels, %d page×width checks (1920 and 390 px) that nothing is wider than the screen, %d screenshots in %s, %.1fs\n",
		s.steps, s.checked, s.fitted, s.saved, s.shots, time.Since(start).Seconds())
	fmt.Printf("console: volumes page weight: %.0f bytes (HTML+CSS+JS, %v sub-resources), first render %.0f ms after navigation\n",
		weight, resources, firstRender)
}

func ptr[T any](v T) *T { return &v }

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
