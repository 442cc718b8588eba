package isolation

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/testenv"
)

// The regression tests of the role findings of issue 18, each through
// real HTTP (and real S3 and NBD clients where a capability is at stake).

// objectService orders an object-storage service in the team's project
// (the owner's order is approved at once) and returns its id and its keys
// as the member reads them.
func objectService(t *testing.T, e *testenv.Env, tm *team) (string, []aws.Credentials) {
	t.Helper()
	offering, plan := objectStorageOffering(t, e, tm.owner.token)
	o := api(t, e, tm.owner.token, "POST", "/api/v1/orders", obj{"project_id": tm.project, "offering_id": offering, "plan_id": plan,
		"attributes": obj{"name": "svc-" + tm.r}, "limits": obj{"storage": 1}}, 201)
	waitStatus(t, e, tm.owner.token, "/api/v1/orders/"+str(o, "id"), "done")
	var id string
	for _, s := range listItems(t, e, tm.member.token, "/api/v1/object-storage?project_id="+tm.project) {
		id = str(s, "id")
	}
	return id, serviceKeys(t, e, tm.member.token, id)
}

func serviceKeys(t *testing.T, e *testenv.Env, tok, service string) []aws.Credentials {
	t.Helper()
	var keys []aws.Credentials
	for _, c := range listItems(t, e, tok, "/api/v1/object-storage/"+service+"/credentials") {
		keys = append(keys, aws.Credentials{AccessKeyID: str(c, "access_key_id"), SecretAccessKey: str(c, "secret_access_key")})
	}
	if len(keys) == 0 || keys[0].SecretAccessKey == "" {
		t.Fatalf("service %s shows no keys with secrets: %v", service, keys)
	}
	return keys
}

// TestViewerReadsNoS3Secret: a secret writes, so only those who may make
// keys (member and up) read one, on every face that shows one.
func TestViewerReadsNoS3Secret(t *testing.T) {
	e := testenv.Start(t)
	tm := newTeam(t, e)
	service, _ := objectService(t, e, tm)

	// Members read their own account keys (made on first use), never
	// each other's; a viewer reads none, though keys exist.
	var mine, theirs struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	e.DoHeaders("GET", "/v1/storage/credentials", http.Header{"X-Api-Key": {tm.member.token}}, nil).JSON(t, &mine)
	e.DoHeaders("GET", "/v1/storage/credentials", http.Header{"X-Api-Key": {tm.admin.token}}, nil).JSON(t, &theirs)
	if mine.SecretAccessKey == "" || mine.AccessKeyID == theirs.AccessKeyID {
		t.Errorf("member's account key %+v, admin's %+v", mine, theirs)
	}
	r := e.DoHeaders("GET", "/v1/storage/credentials", http.Header{"X-Api-Key": {tm.viewer.token}}, nil)
	if r.Status != 403 || !strings.Contains(string(r.Body), `"code":"INSUFFICIENT_PERMISSIONS"`) || strings.Contains(string(r.Body), "secret") {
		t.Errorf("WAYSCloud credentials for a viewer: %d %s", r.Status, r.Body)
	}
	r = e.Do("GET", "/api/v1/object-storage/"+service+"/credentials", testenv.Bearer(tm.viewer.token), nil)
	if r.Status != 403 || !strings.Contains(r.Header.Get("Content-Type"), "problem+json") || strings.Contains(string(r.Body), "secret_access_key") {
		t.Errorf("service credentials for a viewer: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	// The viewer still sees that keys exist, without secrets.
	r = e.Do("GET", "/api/v1/projects/"+tm.project+"/credentials", testenv.Bearer(tm.viewer.token), nil)
	if r.Status != 200 || strings.Contains(string(r.Body), "secret_access_key") {
		t.Errorf("key list for a viewer: %d %s", r.Status, r.Body)
	}

	// The member's key writes.
	bkt := "b-" + tm.r
	api(t, e, tm.member.token, "POST", "/api/v1/projects/"+tm.project+"/buckets", obj{"name": bkt}, 201)
	mustS3(t, e.S3(&aws.Credentials{AccessKeyID: mine.AccessKeyID, SecretAccessKey: mine.SecretAccessKey}, "PUT", "/"+bkt+"/k", "", nil, []byte("x")), 200)
}

// TestViewerReadsNoExportName: a viewer sees that a volume is attached,
// never the export name or URI, on every face that shows attachments.
func TestViewerReadsNoExportName(t *testing.T) {
	e := testenv.Start(t)
	tm := newTeam(t, e)
	bl := attachedVolume(t, e, tm)

	for _, who := range []struct {
		label, token string
		may          bool
	}{{"viewer", tm.viewer.token, false}, {"member", tm.member.token, true}} {
		bearer, token := http.Header{"Authorization": {"Bearer " + who.token}}, http.Header{"Authorization": {"Token " + who.token}}
		cs := basic(who.label+"-"+tm.r, who.token)
		for _, rq := range []struct {
			path  string
			h     http.Header
			shows string // the name a member reads here; "" where the face shows none
		}{
			{"/api/v1/volumes/" + bl.volume, bearer, bl.export},
			{"/api/v1/volumes?project=" + tm.project, bearer, bl.export},
			{"/api/v1/snapshots/" + bl.snap + "/exports", bearer, bl.snapExport},
			{"/api/openstack-volumes/" + strings.ReplaceAll(bl.volume, "-", "") + "/", token, ""},
			{"/api/2.0/servers/" + bl.instance + "/", cs, bl.export},
			{"/api/2.0/servers/detail/", cs, bl.export},
			{"/api/2.0/drives/" + bl.volume + "/", cs, ""},
			{"/api/storage/volume/list", nil, ""},
		} {
			r := e.DoHeaders("GET", rq.path, rq.h, nil)
			if rq.h == nil {
				r = e.DoHeaders("POST", rq.path, http.Header{"Cookie": {"AccessToken=" + hpcaiCookie(t, e, who.label+"-"+tm.r, "pw-"+who.label+"-"+tm.r)}}, obj{})
			}
			if r.Status != 200 {
				t.Errorf("%s GET %s: %d %s", who.label, rq.path, r.Status, r.Body)
				continue
			}
			for _, name := range []string{bl.export, bl.snapExport} {
				want := who.may && name == rq.shows
				if has := strings.Contains(string(r.Body), name); has != want {
					t.Errorf("%s GET %s: export name %s shown %v, want %v: %.400s", who.label, rq.path, name, has, want, r.Body)
				}
			}
		}
	}
	// The viewer still sees the attachment itself.
	v := api(t, e, tm.viewer.token, "GET", "/api/v1/volumes/"+bl.volume, nil, 200)
	if atts, _ := v["attachments"].([]any); len(atts) != 1 || str(atts[0].(obj), "instance_id") != bl.instance || str(atts[0].(obj), "state") != "attached" {
		t.Errorf("a viewer's view of the attachment: %v", v["attachments"])
	}
}

// block is an attached volume and an exported snapshot, with the export
// names the member reads.
type block struct {
	instance, volume, snap string
	export, snapExport     string
}

func exportName(uri string) string { return uri[strings.LastIndex(uri, "/")+1:] }

func attachedVolume(t *testing.T, e *testenv.Env, tm *team) block {
	t.Helper()
	var b block
	b.instance = str(api(t, e, tm.member.token, "POST", "/api/v1/instances", obj{"project_id": tm.project, "name": "inst-" + tm.r}, 201), "id")
	b.volume = str(api(t, e, tm.member.token, "POST", "/api/v1/volumes", obj{"project_id": tm.project, "name": "vol-" + tm.r, "size": 1 << 30, "type": "ssd"}, 202), "volume", "id")
	waitStatus(t, e, tm.member.token, "/api/v1/volumes/"+b.volume, "available")
	api(t, e, tm.member.token, "POST", "/api/v1/volumes/"+b.volume+"/attach", obj{"instance_id": b.instance}, 202)
	v := waitStatus(t, e, tm.member.token, "/api/v1/volumes/"+b.volume, "in_use")
	b.export = exportName(str(v["attachments"].([]any)[0].(obj), "connection_info", "uri"))
	b.snap = str(api(t, e, tm.member.token, "POST", "/api/v1/volumes/"+b.volume+"/snapshots", obj{"name": "snap-" + tm.r}, 202), "snapshot", "id")
	waitStatus(t, e, tm.member.token, "/api/v1/snapshots/"+b.snap, "available")
	b.snapExport = exportName(str(api(t, e, tm.member.token, "POST", "/api/v1/snapshots/"+b.snap+"/exports", nil, 201), "connection_info", "uri"))
	if b.export == "" || b.snapExport == "" {
		t.Fatalf("no export names: %+v", b)
	}
	return b
}

func hpcaiCookie(t *testing.T, e *testenv.Env, user, password string) string {
	t.Helper()
	r := e.DoHeaders("POST", "/api/user/login", nil, obj{"username": user, "password": password})
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "AccessToken" {
			return c.Value
		}
	}
	t.Fatalf("HPC-AI login of %s: %d %s", user, r.Status, r.Body)
	return ""
}

func basic(user, pass string) http.Header {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return http.Header{"Authorization": {req.Header.Get("Authorization")}}
}

// TestLosingMemberRoleTakesCapabilities: once a member is removed or made
// a viewer, nothing they read works: export names are replaced and
// their clients cut off, the S3 keys they made are revoked and the
// service keys they could read are replaced, each with an event.
func TestLosingMemberRoleTakesCapabilities(t *testing.T) {
	e := testenv.Start(t)
	for _, how := range []string{"removed", "demoted"} {
		t.Run(how, func(t *testing.T) {
			tm := newTeam(t, e)
			bl := attachedVolume(t, e, tm)
			service, svcKeys := objectService(t, e, tm)
			bkt := "b-" + tm.r
			api(t, e, tm.member.token, "POST", "/api/v1/projects/"+tm.project+"/buckets", obj{"name": bkt}, 201)
			c := api(t, e, tm.member.token, "POST", "/api/v1/projects/"+tm.project+"/credentials", nil, 201)
			own := aws.Credentials{AccessKeyID: str(c, "access_key_id"), SecretAccessKey: str(c, "secret_access_key")}
			adminKey := api(t, e, tm.admin.token, "POST", "/api/v1/projects/"+tm.project+"/credentials", nil, 201)
			mustS3(t, e.S3(&own, "PUT", "/"+bkt+"/k", "", nil, []byte("x")), 200)
			conn, err := testenv.DialNBD(e.Addrs.NBD, bl.export)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.Write(0, []byte("still mine"), false); err != nil {
				t.Fatal(err)
			}

			if how == "removed" {
				api(t, e, tm.admin.token, "DELETE", "/api/v1/projects/"+tm.project+"/members/"+tm.member.id, nil, 204)
			} else {
				api(t, e, tm.admin.token, "POST", "/api/v1/projects/"+tm.project+"/members", obj{"user_id": tm.member.id, "role": "viewer"}, 201)
			}

			if err := conn.Write(0, []byte("still mine"), false); err == nil {
				t.Error("the connection under the old export name still writes")
			}
			for _, name := range []string{bl.export, bl.snapExport} {
				if n, err := testenv.DialNBD(e.Addrs.NBD, name); err == nil {
					n.Close()
					t.Errorf("old export name %s still opens", name)
				}
			}
			if r := e.S3(&own, "GET", "/"+bkt+"/k", "", nil, nil); r.Status != 403 {
				t.Errorf("the member's own key after %s: %d %s", how, r.Status, r.Body)
			}
			for _, k := range svcKeys {
				if r := e.S3(&k, "GET", "/", "", nil, nil); r.Status != 403 {
					t.Errorf("the service key the member read, after %s: %d %s", how, r.Status, r.Body)
				}
			}
			// What the others hold still works, or was replaced for them.
			v := api(t, e, tm.admin.token, "GET", "/api/v1/volumes/"+bl.volume, nil, 200)
			fresh := exportName(str(v["attachments"].([]any)[0].(obj), "connection_info", "uri"))
			n, err := testenv.DialNBD(e.Addrs.NBD, fresh)
			if err != nil || fresh == bl.export {
				t.Fatalf("the new export name %q: %v", fresh, err)
			}
			buf := make([]byte, 10)
			if err := n.Read(0, buf); err != nil || string(buf) != "still mine" {
				t.Errorf("read through the new name: %q %v", buf, err)
			}
			n.Close()
			for _, k := range serviceKeys(t, e, tm.admin.token, service) {
				mustS3(t, e.S3(&k, "GET", "/", "", nil, nil), 200)
			}
			ak := aws.Credentials{AccessKeyID: str(adminKey, "access_key_id"), SecretAccessKey: str(adminKey, "secret_access_key")}
			mustS3(t, e.S3(&ak, "GET", "/"+bkt+"/k", "", nil, nil), 200)

			var evs struct{ Items []obj }
			e.Do("GET", "/api/v1/events?project="+tm.project+"&limit=1000", testenv.Bearer(tm.admin.token), nil).JSON(t, &evs)
			seen := map[string]int{}
			for _, ev := range evs.Items {
				// detail.user_id lost the role; user_id took it away.
				if d, _ := ev["detail"].(obj); str(d, "user_id") == tm.member.id && str(ev, "user_id") == tm.admin.id {
					seen[str(ev, "action")]++
				}
			}
			if seen["s3_credential.revoke"] != 1 || seen["s3_credential.rotate"] != len(svcKeys) ||
				seen["volume.export_rotate"] != 1 || seen["snapshot.export_rotate"] != 1 {
				j, _ := json.Marshal(seen)
				t.Errorf("events about taking back the member's capabilities: %s", j)
			}
		})
	}
}

// TestAdminsManageOnlyBelowThem: an admin cannot demote or remove an
// owner (nor another admin, nor make one); only owners change owners; the
// last owner stays. On organisations and on projects alike.
// The last-owner check locks rows on PostgreSQL, so both engines run it.
func TestAdminsManageOnlyBelowThem(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { adminsManageOnlyBelowThem(t, testenv.Start(t)) })
	if os.Getenv("TEST_PG_DSN") != "" {
		t.Run("postgres", func(t *testing.T) { adminsManageOnlyBelowThem(t, testenv.Start(t, testenv.Postgres(t))) })
	}
}

func adminsManageOnlyBelowThem(t *testing.T, e *testenv.Env) {
	tm := newTeam(t, e)
	orgAdmin, second := newPerson(t, e, "orgadmin-"+tm.r), newPerson(t, e, "second-"+tm.r)
	orgMembers := "/api/v1/organisations/" + tm.org + "/members"
	projMembers := "/api/v1/projects/" + tm.project + "/members"
	api(t, e, tm.owner.token, "POST", orgMembers, obj{"user_id": orgAdmin.id, "role": "admin"}, 201)

	refused := func(tok, method, path string, body any) {
		t.Helper()
		r := e.Do(method, path, testenv.Bearer(tok), body)
		if r.Status != 403 || !strings.Contains(string(r.Body), "permission_denied") {
			t.Errorf("%s %s %v: %d %s", method, path, body, r.Status, r.Body)
		}
	}
	// Organisation: the admin against the owner.
	refused(orgAdmin.token, "POST", orgMembers, obj{"user_id": tm.owner.id, "role": "viewer"})
	refused(orgAdmin.token, "DELETE", orgMembers+"/"+tm.owner.id, nil)
	refused(orgAdmin.token, "POST", orgMembers, obj{"user_id": second.id, "role": "admin"})
	refused(orgAdmin.token, "POST", orgMembers, obj{"user_id": second.id, "role": "owner"})
	api(t, e, orgAdmin.token, "POST", orgMembers, obj{"user_id": second.id, "role": "member"}, 201)
	api(t, e, orgAdmin.token, "DELETE", orgMembers+"/"+second.id, nil, 204)
	// Project: its admin against an admin, the owner's project role and
	// the org admin's.
	refused(tm.admin.token, "POST", projMembers, obj{"user_id": tm.owner.id, "role": "viewer"})
	refused(tm.admin.token, "POST", projMembers, obj{"user_id": orgAdmin.id, "role": "viewer"})
	refused(tm.admin.token, "POST", projMembers, obj{"user_id": second.id, "role": "admin"})
	api(t, e, tm.admin.token, "POST", projMembers, obj{"user_id": tm.viewer.id, "role": "member"}, 201)
	api(t, e, tm.admin.token, "POST", projMembers, obj{"user_id": tm.viewer.id, "role": "viewer"}, 201)

	// The last owner can be neither demoted nor removed, even by staff.
	for _, tok := range []string{tm.owner.token, e.AdminToken} {
		if r := e.Do("POST", orgMembers, testenv.Bearer(tok), obj{"user_id": tm.owner.id, "role": "admin"}); r.Status != 409 {
			t.Errorf("demoting the last owner: %d %s", r.Status, r.Body)
		}
		if r := e.Do("DELETE", orgMembers+"/"+tm.owner.id, testenv.Bearer(tok), nil); r.Status != 409 {
			t.Errorf("removing the last owner: %d %s", r.Status, r.Body)
		}
	}
	// With a second owner, owners change owners.
	api(t, e, tm.owner.token, "POST", orgMembers, obj{"user_id": second.id, "role": "owner"}, 201)
	refused(orgAdmin.token, "DELETE", orgMembers+"/"+second.id, nil)
	api(t, e, tm.owner.token, "POST", orgMembers, obj{"user_id": second.id, "role": "admin"}, 201)
	api(t, e, tm.owner.token, "POST", projMembers, obj{"user_id": second.id, "role": "owner"}, 201)
	if r := e.Do("DELETE", projMembers+"/"+second.id, testenv.Bearer(tm.owner.token), nil); r.Status != 409 {
		t.Errorf("removing the project's last owner: %d %s", r.Status, r.Body)
	}
}

// TestBoundTokenStaysInProject: a project-bound token acts only inside its
// project; organisation members, tokens and the password refuse it.
func TestBoundTokenStaysInProject(t *testing.T) {
	e := testenv.Start(t)
	tm := newTeam(t, e)
	// The owner's bound token: its user may do all of this unbound.
	tok := api(t, e, tm.owner.token, "POST", "/api/v1/tokens", obj{"name": "bound", "project_id": tm.project}, 201)
	bound := str(tok, "token")
	outsider := newPerson(t, e, "outsider-"+tm.r)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/organisations/" + tm.org + "/members", obj{"user_id": outsider.id, "role": "owner"}},
		{"POST", "/api/v1/organisations/" + tm.org + "/members", obj{"user_id": outsider.id, "role": "viewer"}},
		{"DELETE", "/api/v1/organisations/" + tm.org + "/members/" + tm.owner.id, nil},
		{"POST", "/api/v1/tokens", obj{"name": "more"}},
		{"POST", "/api/v1/tokens", obj{"name": "more", "project_id": tm.project}},
		{"DELETE", "/api/v1/tokens/" + str(tok, "id"), nil},
		{"POST", "/api/v1/users/me/password", obj{"current_password": tm.owner.password, "new_password": "another-password"}},
	} {
		r := e.Do(c.method, c.path, testenv.Bearer(bound), c.body)
		if r.Status != 403 || !strings.Contains(string(r.Body), "permission_denied") {
			t.Errorf("bound token: %s %s %v: %d %s", c.method, c.path, c.body, r.Status, r.Body)
		}
	}
	ms := api(t, e, tm.owner.token, "GET", "/api/v1/organisations/"+tm.org+"/members", nil, 200)
	if strings.Contains(mustJSON(ms), outsider.id) {
		t.Errorf("the bound token's grant took effect: %v", ms)
	}
	// Inside its project it still works.
	api(t, e, bound, "POST", "/api/v1/projects/"+tm.project+"/members", obj{"user_id": outsider.id, "role": "viewer"}, 201)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
