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

	"github.com/chromedp/cdproto/browser"
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
	// checked counts pages checked for labels and phone width.
	checked int
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
		if size.label == "phone" {
			// Wide tables scroll inside their card; the page itself must not.
			if w := eval[float64](s, "document.documentElement.scrollWidth"); w > float64(size.w) {
				s.t.Errorf("page %s is %v px wide at phone width %d", name, w, size.w)
			}
		}
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
	s.open("/console/projects/" + pid + "/instances")
	s.waitFor("the instance in the list", `/web-1\s+running/.test(document.querySelector("#instances").innerText)`)
	s.shoot("instances")
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
		"/console/projects/" + pid + "/buckets/" + bucket, "/console/projects/" + pid + "/credentials"} {
		s.open(p)
		s.steps++
		page := s.html()
		if n := eval[float64](s, `document.querySelectorAll("main form[method=post], input[type=file]").length`); n != 0 {
			t.Errorf("the viewer sees %v write forms on %s", n, p)
		}
		if strings.Contains(page, "nbd://") || strings.Contains(page, strings.TrimPrefix(uri, "nbd://")) || strings.Contains(page, "X-Amz-Signature") {
			t.Errorf("the viewer sees a capability on %s", p)
		}
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

	fmt.Printf("console: browser suite: %d steps, %d pages checked for labels and phone width, %d screenshots in %s, %.1fs\n",
		s.steps, s.checked, s.saved, s.shots, time.Since(start).Seconds())
	fmt.Printf("console: volumes page weight: %.0f bytes (HTML+CSS+JS, %v sub-resources), first render %.0f ms after navigation\n",
		weight, resources, firstRender)
}

func ptr[T any](v T) *T { return &v }
