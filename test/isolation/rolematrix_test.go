package isolation

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/testenv"
)

// TestRoleMatrix walks every management route of every face as each kind
// of caller of docs/roles.md, inside one team's project: callers the table
// allows must get through (a success, or an answer about the request or
// the thing's state, never a refusal), the others must be refused in the
// face's own error shape, and no response to a caller who may not read
// capabilities may carry one (an S3 secret, an export name, a presigned
// URL).
func TestRoleMatrix(t *testing.T) {
	e := testenv.Start(t, notifyLoopback)
	m := newRoleFixture(t, e)
	// S3 first, while the bucket is private (a management route makes it
	// public).
	s3n := m.s3Matrix(t)
	routes := orderRoutes(e.Routes)
	var checked, allowed, succeeded, stateful, refused, leaked int
	for _, pattern := range routes {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "GET", pattern
		}
		path = strings.TrimSuffix(path, "{$}")
		key := strings.TrimPrefix(method+" "+strings.TrimSuffix(path, "/"), " ")
		if !ok {
			key = strings.TrimSuffix(path, "/")
		}
		kind := m.kind(key, method)
		p := m.probe(key, method)
		for _, c := range m.callers {
			if hpcaiPath(path) && (c.label == "bound" || c.label == "staff" && kind != "catalog" && kind != "public") {
				// HPC-AI logs in with a password and acts in the user's
				// first project: no token reaches it, and staff's first
				// project is not the team's.
				continue
			}
			target, err := fill(path, p.params, m.params)
			if err != nil {
				t.Errorf("%s: %v", pattern, err)
				break
			}
			if p.path != "" {
				target = p.path
			}
			vars := m.vars(c)
			target = vars.Replace(target)
			if p.query != "" {
				target += "?" + vars.Replace(p.query)
			}
			var body any
			if p.body != "" {
				body = vars.Replace(p.body)
			}
			r := e.DoHeaders(method, target, withType(m.auth(c, target, kind), p.contentType), body)
			checked++
			what := fmt.Sprintf("%s as %s: %s %s %v", pattern, c.label, method, target, body)
			may := roleTable[kind][c.label]
			switch {
			case r.Status >= 500:
				t.Errorf("%s: server error %d: %.300s", what, r.Status, r.Body)
			case kind == "public":
			case may:
				allowed++
				if r.Status < 300 {
					succeeded++
				}
				if r.Status != 403 && r.Status != 404 {
					if r.Status == 401 {
						t.Errorf("%s: allowed by the table, answered 401: %.300s", what, r.Body)
					}
					break
				}
				// A not-found or forbidden that does not depend on the
				// caller is about the thing (gone, in a state that
				// forbids it, over quota), not the role: staff, who may
				// do anything, get the same answer.
				other := c
				if c.label == "staff" {
					other = m.callers[len(m.callers)-2] // the owner
				}
				if or := e.DoHeaders(method, target, withType(m.auth(other, target, kind), p.contentType), body); or.Status != r.Status {
					t.Errorf("%s: allowed by the table, answered %d (%s answered %d): %.300s", what, r.Status, other.label, or.Status, r.Body)
				} else {
					stateful++
				}
			default:
				// Only reads of the project's things may answer a caller
				// they refuse, with a list empty of them.
				if r.Status < 400 && (kind != "read" || !(method == "GET" || p.read)) {
					t.Errorf("%s: refused by the table, answered %d: %.300s", what, r.Status, r.Body)
					break
				}
				if r.Status < 400 {
					// A list answers, empty of the project's things.
					if containsAny(string(r.Body), m.things) {
						t.Errorf("%s: refused by the table, answered %d with the project's things: %.300s", what, r.Status, r.Body)
					}
					break
				}
				refused++
				if msg := refusalShape(target, r); msg != "" {
					t.Errorf("%s: %d is not the face's refusal: %s: %.300s", what, r.Status, msg, r.Body)
				}
			}
			if !roleTable["secret"][c.label] {
				for _, s := range m.capabilities() {
					if s != "" && strings.Contains(string(r.Body), s) {
						leaked++
						t.Errorf("%s: response carries a capability %q: %.300s", what, s, r.Body)
					}
				}
				if strings.Contains(string(r.Body), "X-Amz-Signature") {
					leaked++
					t.Errorf("%s: response carries a presigned URL: %.300s", what, r.Body)
				}
			}
		}
	}
	fmt.Printf("role matrix: %d management routes × %d callers + %d S3 routes × %d keys = %d checks: %d allowed "+
		"(%d succeeded, %d answered about the thing's state as staff would be), %d refusals seen in the face's shape, "+
		"%d capabilities leaked\n",
		len(routes), len(m.callers), s3n.routes, len(s3Callers), checked+s3n.checks, allowed+s3n.allowed, succeeded+s3n.succeeded,
		stateful, refused+s3n.refused, leaked+s3n.leaked)
}

// roleTable is docs/roles.md: for each kind of route, the callers who may
// call it.
var roleTable = map[string]map[string]bool{
	"public":    {"viewer": true, "member": true, "admin": true, "owner": true, "staff": true, "bound": true, "removed": true, "anonymous": true},
	"catalog":   {"viewer": true, "member": true, "admin": true, "owner": true, "staff": true, "bound": true, "removed": true},
	"self":      {"viewer": true, "member": true, "admin": true, "owner": true, "staff": true, "bound": true, "removed": true},
	"user":      {"viewer": true, "member": true, "admin": true, "owner": true, "staff": true, "removed": true},
	"read":      {"viewer": true, "member": true, "admin": true, "owner": true, "staff": true, "bound": true},
	"secret":    {"member": true, "admin": true, "owner": true, "staff": true, "bound": true},
	"write":     {"member": true, "admin": true, "owner": true, "staff": true, "bound": true},
	"padmin":    {"admin": true, "owner": true, "staff": true},
	"orgadmin":  {"owner": true, "staff": true},
	"staff":     {"staff": true},
	"anonymous": {},
}

// caller is one column of the matrix.
type caller struct {
	label, id, name, token string
	hpcai                  string // HPC-AI session cookie
}

// roleFixture is the team, one of each thing in its project, and the
// capabilities the members can read.
type roleFixture struct {
	e       *testenv.Env
	tm      *team
	callers []caller
	params  map[string]string
	base    map[string]string
	things  []string
	// keys are the S3 keys whose secrets members read.
	keys       []aws.Credentials
	blk        block
	staffBound string
	// bucket holds object k and a multipart upload of key mpu; own is
	// the member's S3 key.
	bucket, upload string
	own            aws.Credentials
	// hookSecret signs the deliveries of the team's webhook: shown once,
	// at creation, never again.
	hookSecret string
}

func newRoleFixture(t *testing.T, e *testenv.Env) *roleFixture {
	tm := newTeam(t, e)
	m := &roleFixture{e: e, tm: tm}
	extra := newPerson(t, e, "extra-"+tm.r)
	api(t, e, tm.owner.token, "POST", "/api/v1/organisations/"+tm.org+"/members", obj{"user_id": extra.id, "role": "viewer"}, 201)
	m.blk = attachedVolume(t, e, tm)
	spare := str(api(t, e, tm.member.token, "POST", "/api/v1/instances", obj{"project_id": tm.project, "name": "spare-" + tm.r}, 201), "id")
	tag := "00000000-7a90-4000-8000-" + randomHex(6)
	vol := api(t, e, tm.member.token, "POST", "/api/v1/volumes", obj{"project_id": tm.project, "name": "free-" + tm.r, "size": 1 << 30, "type": "ssd", "tags": []string{tag}}, 202)
	free, job := str(vol, "volume", "id"), str(vol, "job", "id")
	waitStatus(t, e, tm.member.token, "/api/v1/volumes/"+free, "available")
	exportID := str(listItems(t, e, tm.member.token, "/api/v1/snapshots/"+m.blk.snap+"/exports")[0], "id")
	bkt := "b-" + tm.r
	api(t, e, tm.member.token, "POST", "/api/v1/projects/"+tm.project+"/buckets", obj{"name": bkt}, 201)
	c := api(t, e, tm.member.token, "POST", "/api/v1/projects/"+tm.project+"/credentials", nil, 201)
	own := aws.Credentials{AccessKeyID: str(c, "access_key_id"), SecretAccessKey: str(c, "secret_access_key")}
	mustS3(t, e.S3(&own, "PUT", "/"+bkt+"/k", "", nil, []byte("data")), 200)
	m.bucket, m.own, m.upload = bkt, own, startUpload(t, e, &own, bkt, "mpu")
	hook := "hook-" + tm.r
	m.hookSecret = str(api(t, e, tm.member.token, "POST", "/api/v1/projects/"+tm.project+"/notification-targets",
		obj{"name": hook, "url": "http://127.0.0.1:9/" + hook}, 201), "secret")
	spare2 := api(t, e, tm.admin.token, "POST", "/api/v1/projects/"+tm.project+"/credentials", nil, 201)
	spareKey := str(spare2, "access_key_id")
	service, svcKeys := objectService(t, e, tm)
	orders := listItems(t, e, tm.owner.token, "/api/v1/orders?project_id="+tm.project)
	order, resource := str(orders[0], "id"), str(orders[0], "resource_id")
	var acct struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	e.DoHeaders("GET", "/v1/storage/credentials", http.Header{"X-Api-Key": {tm.member.token}}, nil).JSON(t, &acct)
	m.keys = append(append(svcKeys, own), aws.Credentials{AccessKeyID: acct.AccessKeyID, SecretAccessKey: acct.SecretAccessKey},
		aws.Credentials{AccessKeyID: spareKey, SecretAccessKey: str(spare2, "secret_access_key")})

	staff := api(t, e, e.AdminToken, "GET", "/api/v1/users/me", nil, 200)
	// Faces with an account instead of projects (CloudSigma, WAYSCloud)
	// act in the project a token is bound to: staff reach the team's
	// project there with a token bound to it.
	m.staffBound = str(api(t, e, e.AdminToken, "POST", "/api/v1/tokens", obj{"name": "staff-bound", "project_id": tm.project}, 201), "token")
	api(t, e, tm.member.token, "POST", "/api/2.0/driveusers/", obj{"drive": free, "amount": 2}, 201)
	upload := uploadingDrive(t, e, tm.member.token, "upl-"+tm.r)
	m.callers = []caller{
		{label: "anonymous"},
		{label: "removed", id: tm.removed.id, name: tm.removed.name, token: tm.removed.token},
		{label: "viewer", id: tm.viewer.id, name: tm.viewer.name, token: tm.viewer.token},
		{label: "bound", id: tm.member.id, name: tm.member.name, token: tm.bound},
		{label: "member", id: tm.member.id, name: tm.member.name, token: tm.member.token},
		{label: "admin", id: tm.admin.id, name: tm.admin.name, token: tm.admin.token},
		{label: "owner", id: tm.owner.id, name: tm.owner.name, token: tm.owner.token},
		{label: "staff", id: str(staff, "id"), name: "admin", token: e.AdminToken},
	}
	passwords := map[string]string{tm.removed.id: tm.removed.password, tm.viewer.id: tm.viewer.password, tm.member.id: tm.member.password,
		tm.admin.id: tm.admin.password, tm.owner.id: tm.owner.password}
	pw, err := os.ReadFile(filepath.Join(e.DataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	passwords[str(staff, "id")] = strings.TrimSpace(string(pw))
	for i, c := range m.callers {
		if pw := passwords[c.id]; pw != "" && c.label != "bound" {
			m.callers[i].hpcai = hpcaiCookie(t, e, c.name, pw)
		}
	}

	sh := catalog(t, e, nil, &intruder{token: tm.member.token, username: tm.member.name, hpcaiCookie: m.callers[4].hpcai})
	m.params = paramTable()
	m.params["members/{user_id}"] = "$VUSER"
	m.base = map[string]string{
		"$PV": tm.project, "$ORGV": tm.org, "$VUSER": extra.id, "$VUSERNAME": "nobody-" + tm.r, "$PVNAME": "proj-" + tm.r,
		"$VTOKENID": "00000000-0000-7000-8000-" + randomHex(6), "$VINST": m.blk.instance, "$VVOL": free, "$VATT": m.blk.volume,
		"$VSNAP": m.blk.snap, "$VEXPORT": exportID, "$VTAG": tag, "$VJOB": job, "$VBKT": bkt, "$VKEY": "k",
		"$VACCESS": spareKey, "$VORDER": order, "$VRES": resource, "$VSVC": service, "$VUPD": upload, "$VUSAGE": componentUsage(t, e, tm.owner.token, resource), "$LIB": sh.libdrive,
		"$VHOOK": hook,
		"$OWNP":  tm.project, "$OWNINST": spare, "$OWNVOL": free,
		"$OFFER": sh.offer, "$PLAN": sh.plan, "$WOFFER": strings.ReplaceAll(sh.offer, "-", ""), "$WPLAN": strings.ReplaceAll(sh.plan, "-", ""),
		"$WCATEGORY": sh.wcategory, "$WTYPE": sh.wtype, "$WZONE": sh.wzone, "$WSETTINGS": sh.wsettings, "$HREGION": sh.hregion,
		"$BASE": "http://" + e.Addrs.API,
		"$VKMS": str(api(t, e, tm.admin.token, "POST", "/api/v1/projects/"+tm.project+"/kms-keys", obj{"alias": "team-" + tm.r}, 201), "id"),
	}
	for _, k := range []string{"$PV", "$ORGV", "$VINST", "$VVOL", "$VSNAP", "$VORDER", "$VRES", "$OWNINST", "$OWNVOL", "$VATT"} {
		m.base[k+"_H"] = strings.ReplaceAll(m.base[k], "-", "")
	}
	m.things = []string{tm.project, m.blk.volume, free, m.blk.snap, m.blk.instance, spare, bkt, "proj-" + tm.r, upload}
	return m
}

// capabilities are what only members and up may read, as they are now
// (export names change when someone leaves).
func (m *roleFixture) capabilities() []string {
	cs := []string{m.hookSecret}
	for _, k := range m.keys {
		cs = append(cs, k.SecretAccessKey)
	}
	for _, path := range []string{"/api/v1/volumes?project=" + m.tm.project, "/api/v1/snapshots/" + m.blk.snap + "/exports"} {
		r := m.e.Do("GET", path, testenv.Bearer(m.tm.owner.token), nil)
		var l struct{ Items []obj }
		_ = json.Unmarshal(r.Body, &l)
		for _, it := range l.Items {
			atts, _ := it["attachments"].([]any)
			if atts == nil {
				atts = []any{it}
			}
			for _, a := range atts {
				if uri := str(a.(obj), "connection_info", "uri"); uri != "" {
					cs = append(cs, exportName(uri))
				}
			}
		}
	}
	return cs
}

func (m *roleFixture) vars(c caller) *strings.Replacer {
	pairs := []string{"$SELF", c.id, "$R", randomHex(4)}
	keys := make([]string, 0, len(m.base))
	for k := range m.base {
		keys = append(keys, k)
	}
	// Longest names first, so that $VVOL_H is not read as $VVOL + "_H".
	slices.SortFunc(keys, func(a, b string) int { return len(b) - len(a) })
	for _, k := range keys {
		pairs = append(pairs, k, m.base[k])
	}
	return strings.NewReplacer(pairs...)
}

func (m *roleFixture) auth(c caller, path, kind string) http.Header {
	if c.label == "anonymous" {
		return http.Header{}
	}
	tok := c.token
	// A change to one's own account refuses a bound token (docs/roles.md),
	// so staff make it unbound, as everyone else does.
	if c.label == "staff" && accountPath(path) && kind != "user" {
		tok = m.staffBound
	}
	return authFor(&intruder{username: c.name, token: tok, hpcaiCookie: c.hpcai}, path)
}

// roleProbe is the request each caller sends on a route.
type roleProbe struct {
	probe
	// read marks a POST that only reads (HPC-AI).
	read bool
	// destroys marks a POST that deletes its target.
	destroys bool
}

func (m *roleFixture) probe(key, method string) roleProbe {
	if p, ok := roleProbes()[key]; ok {
		return p
	}
	ps := probeTable()[key]
	if len(ps) == 0 {
		return roleProbe{}
	}
	p := roleProbe{probe: ps[0]}
	p.read = strings.HasSuffix(key, "/list") || strings.HasSuffix(key, "/detail")
	p.destroys = strings.HasSuffix(key, "/delete")
	return p
}

// roleProbes replace the isolation probes where a team member's call needs
// another target or body than an intruder's.
func roleProbes() map[string]roleProbe {
	return map[string]roleProbe{
		"POST /api/v1/organisations/{id}/members": {probe: probe{body: `{"user_id":"$VUSER","role":"viewer"}`}},
		"POST /api/v1/projects/{id}/members":      {probe: probe{body: `{"user_id":"$VUSER","role":"member"}`}},
		"POST /api/v1/tokens":                     {probe: probe{body: `{"name":"mine"}`}},
		"POST /console/projects/{id}/members":     {probe: probe{body: "user_id=$VUSER&role=member", contentType: urlencoded}},
		"POST /console/tokens":                    {probe: probe{body: "name=mine", contentType: urlencoded}},
		"PUT /api/v1/projects/{id}/quotas":        {probe: probe{body: `{"storage_bytes":1099511627776,"volumes":1000,"snapshots":1000}`}},
		"POST /api/v1/volumes/{id}/attach":        {probe: probe{body: `{"instance_id":"$OWNINST"}`}},
		"POST /api/v1/volumes/{id}/revert":        {probe: probe{body: `{"snapshot_id":"$VSNAP"}`}},
		"GET /api/v1/backups":                     {probe: probe{query: "project_id=$PV&bucket=$VBKT&volume_id=$VVOL"}, read: true},
		// qcow2 holds only what the volume holds; raw would write its
		// whole size into the bucket for every caller.
		"POST /api/v1/volumes/{id}/export":   {probe: probe{body: `{"bucket":"$VBKT","key":"image.qcow2","format":"qcow2"}`}},
		"DELETE /api/v1/backups/{backup_id}": {probe: probe{query: "project_id=$PV&bucket=$VBKT&volume_id=$VVOL"}},
		"POST /api/storage/volume/delete":    {probe: probe{body: `{"volumeId":"$VVOL"}`}, destroys: true},
		"POST /api/marketplace-resources/{uuid}/{action}": {probe: probe{body: `{"limits":{"storage":2}}`,
			params: map[string]string{"action": "update_limits"}}},
	}
}

// kind says which row of docs/roles.md a route is.
func (m *roleFixture) kind(key, method string) string {
	if k, ok := roleKinds[key]; ok {
		return k
	}
	switch {
	case !strings.HasPrefix(key, method+" "):
		return "public" // catch-alls
	case method == "GET":
		return "read"
	}
	return "write"
}

// roleKinds names the kind of every route that is neither a read of the
// project's things (a GET) nor a change to them (any other method).
var roleKinds = map[string]string{
	"GET /api/v1/openapi.json": "public", "POST /api/v1/sessions": "public", "POST /api-auth/password": "public",
	"POST /api/2.0/accounts/action": "public", "POST /api/user/login": "public",
	"GET /healthz": "public", "GET /readyz": "public", "GET /metrics": "public",
	"GET /console/login": "public", "POST /console/login": "public", "POST /console/logout": "public",
	"GET /console/assets/{file}": "public",

	"GET /api/v1/regions": "catalog", "GET /api/v1/volume-types": "catalog", "GET /api/v1/offerings": "catalog",
	"GET /api/v1/offerings/{id}": "catalog", "GET /api/v1/offerings/{id}/plans": "catalog",
	"GET /api/marketplace-categories": "catalog", "GET /api/marketplace-categories/{uuid}": "catalog",
	"GET /api/marketplace-public-offerings": "catalog", "GET /api/marketplace-public-offerings/{uuid}": "catalog",
	"GET /api/marketplace-public-offerings/{uuid}/plans": "catalog", "GET /api/marketplace-public-offerings/{uuid}/plans/{plan}": "catalog",
	"GET /api/marketplace-plans": "catalog", "GET /api/marketplace-plans/{uuid}": "catalog",
	"GET /api/openstack-volume-types": "catalog", "GET /api/openstack-volume-types/{uuid}": "catalog",
	"GET /api/openstack-volume-availability-zones": "catalog", "GET /api/openstack-volume-availability-zones/{uuid}": "catalog",
	"GET /api/service-settings": "catalog", "GET /api/service-settings/{uuid}": "catalog",
	"GET /api/2.0/capabilities": "catalog", "GET /api/2.0/drives/schema": "catalog",
	"GET /api/2.0/libdrives": "catalog", "GET /api/2.0/libdrives/detail": "catalog", "GET /api/2.0/libdrives/schema": "catalog",
	"GET /api/2.0/libdrives/{uuid}": "catalog",
	"POST /api/region/list":         "catalog", "GET /storage/s3": "catalog",

	"GET /api/v1/users/me": "self", "GET /api/v1/tokens": "self", "GET /api/users/me": "self", "GET /api/2.0/profile": "self",
	"POST /api/v1/tokens": "user", "DELETE /api/v1/tokens/{id}": "user", "POST /api/v1/users/me/password": "user",
	"PUT /api/2.0/profile": "user",
	"GET /console/tokens":  "self", "POST /console/tokens": "user", "POST /console/tokens/{id}/revoke": "user",

	"GET /api/v1/object-storage/{id}/credentials": "secret", "GET /v1/storage/credentials": "secret",
	// An object's page links to presigned downloads of its versions.
	"GET /console/projects/{id}/buckets/{name}/object": "secret",

	"PATCH /api/v1/projects/{id}": "padmin", "POST /api/v1/projects/{id}/members": "padmin",
	"DELETE /api/v1/projects/{id}/members/{user_id}": "padmin",
	"POST /api/v1/orders/{id}/{action}":              "padmin",
	"POST /console/orders/{id}/{action}":             "padmin",
	"POST /console/projects/{id}/members":            "padmin", "POST /console/projects/{id}/members/{user_id}/remove": "padmin", "POST /api/marketplace-orders/{uuid}/{action}": "padmin",
	// Project admins manage SSE-KMS keys; viewers list them (GET is read),
	// and S3 keys of the project use them.
	"POST /api/v1/projects/{id}/kms-keys": "padmin", "POST /api/v1/projects/{id}/kms-keys/{key_id}/{action}": "padmin",

	"POST /api/v1/projects": "orgadmin", "POST /api/v1/organisations/{id}/members": "orgadmin",
	"DELETE /api/v1/organisations/{id}/members/{user_id}": "orgadmin",

	"POST /api/v1/organisations": "staff", "POST /api/v1/users": "staff", "POST /api/v1/offerings": "staff",
	"PATCH /api/v1/offerings/{id}": "staff", "POST /api/v1/offerings/{id}/plans": "staff", "PUT /api/v1/projects/{id}/quotas": "staff",
	"GET /api/v1/admin/pools": "staff", "POST /api/v1/admin/pools/block/fsck": "staff", "POST /api/v1/admin/pools/object/gc": "staff", "GET /api/v1/nodes": "staff",
	"POST /api/2.0/libdrives": "staff", "DELETE /api/2.0/libdrives/{uuid}": "staff",
	"GET /console/admin": "staff", "POST /console/admin/{action}": "staff",

	// Asking whether a chunk is in is part of uploading, which members do.
	"GET /api/2.0/drives/{uuid}/upload": "write",

	"POST /api/storage/volume/list": "read", "POST /api/storage/volume/detail": "read",
}

// orderRoutes puts reads first, so that each sees the whole fixture (an
// attached volume, an export, keys), then the other writes, and the
// routes that delete last, so that what they delete is still there for
// every other route.
func orderRoutes(routes []string) []string {
	out := slices.Clone(routes)
	rank := func(r string) int {
		switch {
		case strings.HasPrefix(r, "GET ") || !strings.Contains(r, " ") || strings.HasSuffix(r, "/list") || strings.HasSuffix(r, "/detail"):
			return 0
		case strings.HasPrefix(r, "DELETE ") || strings.HasSuffix(r, "/delete") || strings.Contains(r, "/{action}"):
			return 2
		}
		return 1
	}
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return out
}

// accountPath is a face that acts in one project per credential.
func accountPath(path string) bool {
	return strings.HasPrefix(path, "/api/2.0/") || strings.HasPrefix(path, "/v1/storage/") || strings.HasPrefix(path, "/storage/")
}

func hpcaiPath(path string) bool {
	return strings.HasPrefix(path, "/api/user/") || strings.HasPrefix(path, "/api/region/") || strings.HasPrefix(path, "/api/storage/") ||
		strings.HasPrefix(path, "/api/instance/")
}

// refusalShape checks that a refusal has the body of the face it came
// from.
func refusalShape(path string, r testenv.Response) string {
	body := strings.TrimSpace(string(r.Body))
	if consolePath(path) {
		// The console refuses with a page that says why in words.
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `class="refusal"`) {
			return "not a console page with a refusal"
		}
		return ""
	}
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return "not JSON"
	}
	o, _ := v.(map[string]any)
	switch {
	case strings.HasPrefix(path, "/api/v1/"):
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") || o["code"] == nil {
			return "not problem+json"
		}
	case strings.HasPrefix(path, "/api/2.0/"):
		l, _ := v.([]any)
		if len(l) == 0 {
			return "not a CloudSigma error list"
		}
		if e, _ := l[0].(map[string]any); e["error_type"] == nil {
			return "not a CloudSigma error"
		}
	case strings.HasPrefix(path, "/v1/storage/"), strings.HasPrefix(path, "/storage/"):
		if e, _ := o["error"].(map[string]any); e["code"] == nil {
			return "not a WAYSCloud error"
		}
	case hpcaiPath(path):
		if o["message"] == nil {
			return "not an HPC-AI error"
		}
	default: // Waldur: {"detail": …} or a field's errors.
		if len(o) == 0 {
			return "not a Waldur error"
		}
	}
	return ""
}
