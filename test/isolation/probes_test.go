package isolation

import "fmt"

// probe is one request an intruder sends on a route. Templates use the
// variables of vars(): $V… are the victim's, $OWN… the intruder's own,
// the rest shared catalog entries; a _H suffix is Waldur's undashed hex.
type probe struct {
	query string
	body  string // JSON unless contentType says otherwise; empty for none
	// contentType is the body's media type when it is not JSON.
	contentType string
	params      map[string]string // path parameters to set instead of the defaults
	path        string            // the whole path, for catch-all patterns
	// own marks a request on the intruder's own account (create a drive,
	// list my volumes): it may succeed, and must still leak nothing.
	own bool
	// login marks a password login as the victim with a wrong password.
	login bool
}

// paramTable gives each path parameter, named by the literal segment before
// it, the victim's thing (or a shared catalog entry) it stands for.
func paramTable() map[string]string {
	return map[string]string{
		// native
		"organisations/{id}":  "$ORGV",
		"members/{user_id}":   "$VUSER",
		"projects/{id}":       "$PV",
		"tokens/{id}":         "$VTOKENID",
		"jobs/{id}":           "$VJOB",
		"volumes/{id}":        "$VVOL",
		"snapshots/{id}":      "$VSNAP",
		"backups/{backup_id}": "$VVOL",
		"exports/{export_id}": "$VEXPORT",
		"instances/{id}":      "$VINST",
		"offerings/{id}":      "$OFFER",
		"orders/{id}":         "$VORDER",
		"resources/{id}":      "$VRES",
		"buckets/{name}":      "$VBKT",
		"credentials/{key}":   "$VACCESS",
		"kms-keys/{key_id}":   "$VKMS",
		"object-storage/{id}": "$VSVC",
		"invoices/{month}":    "2026-12",

		"notification-targets/{name}": "$VHOOK",
		// Waldur
		"customers/{uuid}":                           "$ORGV_H",
		"projects/{uuid}":                            "$PV_H",
		"marketplace-categories/{uuid}":              "$WCATEGORY",
		"marketplace-public-offerings/{uuid}":        "$WOFFER",
		"plans/{plan}":                               "$WPLAN",
		"marketplace-plans/{uuid}":                   "$WPLAN",
		"marketplace-orders/{uuid}":                  "$VORDER_H",
		"marketplace-resources/{uuid}":               "$VRES_H",
		"marketplace-component-usages/{uuid}":        "$VUSAGE",
		"openstack-volumes/{uuid}":                   "$VVOL_H",
		"openstack-snapshots/{uuid}":                 "$VSNAP_H",
		"openstack-instances/{uuid}":                 "$VINST_H",
		"openstack-volume-types/{uuid}":              "$WTYPE",
		"openstack-volume-availability-zones/{uuid}": "$WZONE",
		"openstack-tenants/{uuid}":                   "$PV_H",
		"service-settings/{uuid}":                    "$WSETTINGS",
		// CloudSigma
		"drives/{uuid}":     "$VVOL",
		"jobs/{uuid}":       "$VJOB",
		"snapshots/{uuid}":  "$VSNAP",
		"driveusers/{uuid}": "$VVOL",
		"tags/{uuid}":       "$VTAG",
		"servers/{uuid}":    "$VINST",
		"libdrives/{uuid}":  "$LIB",
		// WAYSCloud
		"buckets/{bucket_name}": "$VBKT",
		// The console's stylesheet: the same for everyone.
		"assets/{file}": "console.css",
	}
}

func actions(body string, names ...string) []probe {
	var ps []probe
	for _, n := range names {
		ps = append(ps, probe{body: body, params: map[string]string{"action": n}})
	}
	return ps
}

const (
	nativeVolume = `{"project_id":"$PV","name":"x-$R","size":1073741824,"type":"ssd"}`
	waldurOrder  = `{"project":"$BASE/api/projects/$PV_H/","offering":"$BASE/api/marketplace-public-offerings/$WOFFER/",` +
		`"plan":"$BASE/api/marketplace-public-offerings/$WOFFER/plans/$WPLAN/","attributes":{"name":"x-$R"},"limits":{"storage":1}}`
	csServer = `{"objects":[{"name":"x-$R","cpu":1000,"mem":536870912,"vnc_password":"x","drives":[{"drive":"$VVOL","boot_order":1,"dev_channel":"0:0","device":"virtio"}]}]}`
)

// probeTable lists what to send on each route, keyed by method and path with
// no trailing slash or {$}. A GET without an entry gets one plain probe;
// any other method without an entry fails the test, so that whoever adds
// a write route decides how an intruder would abuse it.
func probeTable() map[string][]probe {
	form, formType := resumableForm(3)
	upload := func(p probe) probe {
		if p.params == nil {
			p.params = map[string]string{}
		}
		if p.params["uuid"] == "" {
			p.params["uuid"] = "$VUPD"
		}
		return p
	}
	kmsActions := []string{"disable", "enable", "schedule-deletion", "cancel-deletion"}
	orderActions := []string{"approve_by_consumer", "approve_by_provider", "reject_by_consumer", "reject_by_provider",
		"cancel", "set_state_executing", "set_state_done", "set_state_erred", "unlink"}
	return map[string][]probe{
		// native /api/v1
		"/api/v1":                                             {{path: "/api/v1/no-such-route/$VVOL"}},
		"POST /api/v1/sessions":                               {{body: `{"username":"$VUSERNAME","password":"wrong-password"}`, login: true}},
		"GET /api/v1/volumes":                                 {{}, {query: "project=$PV"}, {query: "instance=$VINST"}, {query: "tag=$VTAG"}},
		"GET /api/v1/snapshots":                               {{}, {query: "project=$PV"}, {query: "volume=$VVOL"}},
		"GET /api/v1/instances":                               {{}, {query: "project=$PV"}},
		"GET /api/v1/jobs":                                    {{}, {query: "resource_id=$VVOL"}},
		"GET /api/v1/events":                                  {{}, {query: "project=$PV"}, {query: "resource_id=$VVOL"}},
		"GET /api/v1/usage":                                   {{}, {query: "project=$PV"}, {query: "resource=$VVOL"}, {query: "resource=$VSVC&granularity=day"}},
		"GET /api/v1/orders":                                  {{}, {query: "project_id=$PV"}, {query: "resource_id=$VRES"}},
		"GET /api/v1/object-storage":                          {{}, {query: "project_id=$PV"}},
		"GET /api/v1/resources":                               {{}, {query: "project_id=$PV"}},
		"GET /api/v1/projects":                                {{}, {query: "organisation_id=$ORGV"}, {query: "name=$PVNAME"}},
		"POST /api/v1/organisations":                          {{body: `{"name":"x-$R"}`}},
		"POST /api/v1/organisations/{id}/members":             {{body: `{"user_id":"$SELF","role":"owner"}`}},
		"DELETE /api/v1/organisations/{id}/members/{user_id}": {{}},
		"POST /api/v1/projects":                               {{body: `{"organisation_id":"$ORGV","name":"x-$R"}`}},
		"PATCH /api/v1/projects/{id}":                         {{body: `{"name":"pwned-$R"}`}},
		"POST /api/v1/projects/{id}/members":                  {{body: `{"user_id":"$SELF","role":"admin"}`}},
		"DELETE /api/v1/projects/{id}/members/{user_id}":      {{}},
		"POST /api/v1/users":                                  {{body: `{"username":"x-$R","password":"long-enough-password"}`}},
		"POST /api/v1/users/me/password":                      {{body: `{"current_password":"wrong-password","new_password":"long-enough-password"}`, own: true}},
		"POST /api/v1/tokens":                                 {{body: `{"name":"x","project_id":"$PV"}`}, {body: `{"name":"mine"}`, own: true}},
		"DELETE /api/v1/tokens/{id}":                          {{}},
		"POST /api/v1/volumes": {{body: nativeVolume},
			{body: `{"project_id":"$OWNP","name":"x-$R","size":1073741824,"type":"ssd","snapshot_id":"$VSNAP"}`},
			{body: `{"project_id":"$OWNP","name":"x-$R","size":1073741824,"type":"ssd","source_volume_id":"$VVOL"}`},
			{body: `{"project_id":"$OWNP","name":"x-$R","image_object":{"bucket":"$VBKT","key":"$VKEY"}}`},
			{body: `{"project_id":"$OWNP","name":"x-$R","backup":{"bucket":"$VBKT","volume_id":"$VVOL","backup_id":"x"}}`}},
		"PATCH /api/v1/volumes/{id}":          {{body: `{"name":"pwned-$R"}`}},
		"DELETE /api/v1/volumes/{id}":         {{}, {query: "force=true"}},
		"POST /api/v1/volumes/{id}/extend":    {{body: `{"size":2147483648}`}},
		"POST /api/v1/volumes/{id}/retype":    {{body: `{"type":"hdd"}`}},
		"POST /api/v1/volumes/{id}/clone":     {{body: `{"name":"x-$R"}`}, {body: `{"name":"x-$R","project_id":"$OWNP"}`}},
		"POST /api/v1/volumes/{id}/snapshots": {{body: `{"name":"x-$R"}`}},
		"POST /api/v1/volumes/{id}/attach": {{body: `{"instance_id":"$OWNINST"}`}, {body: `{"instance_id":"$VINST"}`},
			{body: `{"instance_id":"$VINST"}`, params: map[string]string{"id": "$OWNVOL"}}},
		"POST /api/v1/volumes/{id}/detach": {{body: `{"instance_id":"$VINST"}`, params: map[string]string{"id": "$VATT"}}},
		"POST /api/v1/volumes/{id}/revert": {{body: `{"snapshot_id":"$VSNAP"}`}, {body: `{"snapshot_id":"$VSNAP"}`, params: map[string]string{"id": "$OWNVOL"}}},
		// Images and backups: the victim's volume, or the intruder's own
		// volume into (or out of) the victim's bucket.
		"POST /api/v1/volumes/{id}/export": {{body: `{"bucket":"$VBKT","key":"x-$R"}`},
			{body: `{"bucket":"$VBKT","key":"x-$R","format":"qcow2"}`, params: map[string]string{"id": "$OWNVOL"}}},
		"POST /api/v1/volumes/{id}/backups": {{body: `{"bucket":"$VBKT"}`}, {body: `{"bucket":"$VBKT"}`, params: map[string]string{"id": "$OWNVOL"}}},
		"PUT /api/v1/volumes/{id}/backup-policy": {{body: `{"bucket":"$VBKT","every_hours":1,"keep_last":1}`},
			{body: `{"bucket":"$VBKT","every_hours":1,"keep_last":1}`, params: map[string]string{"id": "$OWNVOL"}}},
		"DELETE /api/v1/volumes/{id}/backup-policy": {{}},
		"GET /api/v1/backups": {{query: "project_id=$PV&bucket=$VBKT&volume_id=$VVOL"},
			{query: "project_id=$OWNP&bucket=$VBKT&volume_id=$VVOL"}, {query: "bucket=$VBKT&volume_id=$VVOL"}},
		"DELETE /api/v1/backups/{backup_id}": {{query: "project_id=$PV&bucket=$VBKT&volume_id=$VVOL"},
			{query: "project_id=$OWNP&bucket=$VBKT&volume_id=$VVOL"}},
		"PATCH /api/v1/snapshots/{id}":                      {{body: `{"name":"pwned-$R"}`}},
		"DELETE /api/v1/snapshots/{id}":                     {{}},
		"POST /api/v1/snapshots/{id}/restore":               {{body: `{"name":"x-$R"}`}, {body: `{"name":"x-$R","project_id":"$OWNP"}`}},
		"POST /api/v1/snapshots/{id}/exports":               {{}},
		"DELETE /api/v1/snapshots/{id}/exports/{export_id}": {{}},
		"POST /api/v1/instances":                            {{body: `{"project_id":"$PV","name":"x-$R"}`}},
		"PATCH /api/v1/instances/{id}":                      {{body: `{"name":"pwned-$R"}`}},
		"DELETE /api/v1/instances/{id}":                     {{}},
		"PUT /api/v1/projects/{id}/quotas":                  {{body: `{"storage_bytes":1}`}},
		"POST /api/v1/offerings":                            {{body: `{"name":"x-$R","kind":"object_storage"}`}},
		"PATCH /api/v1/offerings/{id}":                      {{body: `{"state":"archived"}`}},
		"POST /api/v1/offerings/{id}/plans":                 {{body: `{"name":"x-$R","unit":"month"}`}},
		"POST /api/v1/orders": {{body: `{"project_id":"$PV","offering_id":"$OFFER","plan_id":"$PLAN","attributes":{"name":"x-$R"},"limits":{"storage":1}}`},
			{body: `{"project_id":"$OWNP","type":"Terminate","resource_id":"$VRES"}`},
			{body: `{"project_id":"$OWNP","offering_id":"$OFFER","plan_id":"$PLAN","type":"Update","resource_id":"$VRES","limits":{"storage":2}}`}},
		"POST /api/v1/orders/{id}/{action}":        actions("", orderActions...),
		"GET /api/v1/projects/{id}/buckets/{name}": {{}, {params: map[string]string{"id": "$OWNP"}}},
		"POST /api/v1/projects/{id}/buckets": {{body: `{"name":"x-$R"}`},
			{body: `{"name":"x-$R","service_id":"$VSVC"}`, params: map[string]string{"id": "$OWNP"}}},
		"PATCH /api/v1/projects/{id}/buckets/{name}":     {{body: `{"public":true}`}, {body: `{"public":true}`, params: map[string]string{"id": "$OWNP"}}},
		"DELETE /api/v1/projects/{id}/buckets/{name}":    {{}, {params: map[string]string{"id": "$OWNP"}}},
		"POST /api/v1/projects/{id}/credentials":         {{}},
		"DELETE /api/v1/projects/{id}/credentials/{key}": {{}, {params: map[string]string{"id": "$OWNP"}}},
		"GET /api/v1/projects/{id}/kms-keys/{key_id}":    {{}, {params: map[string]string{"id": "$OWNP"}}},
		"POST /api/v1/projects/{id}/kms-keys":            {{body: `{"alias":"x-$R"}`}},
		// The victim's key under the intruder's own project is no key of it.
		"POST /api/v1/projects/{id}/kms-keys/{key_id}/{action}": append(actions(`{"pending_window_days":7}`, kmsActions...),
			probe{params: map[string]string{"id": "$OWNP", "action": "disable"}},
			probe{params: map[string]string{"id": "$OWNP", "action": "schedule-deletion"}}),

		"POST /api/v1/projects/{id}/notification-targets":          {{body: `{"name":"x-$R","url":"http://127.0.0.1:9/x"}`}},
		"DELETE /api/v1/projects/{id}/notification-targets/{name}": {{}, {params: map[string]string{"id": "$OWNP"}}},

		// Operator routes: staff only, whoever owns what.
		"POST /api/v1/admin/pools/block/fsck": {{body: `{}`}},
		"POST /api/v1/admin/pools/object/gc":  {{body: `{"min_age_seconds":0}`}},

		// Waldur
		"/api":                                         {{path: "/api/no-such-route/$VVOL_H/"}},
		"POST /api-auth/password":                      {{body: `{"username":"$VUSERNAME","password":"wrong-password"}`, login: true}},
		"GET /api/projects":                            {{}, {query: "customer=$ORGV_H"}, {query: "customer_uuid=$ORGV_H"}},
		"GET /api/marketplace-orders":                  {{}, {query: "project_uuid=$PV_H"}, {query: "customer_uuid=$ORGV_H"}},
		"GET /api/marketplace-resources":               {{}, {query: "project_uuid=$PV_H"}, {query: "customer_uuid=$ORGV_H"}},
		"GET /api/openstack-volumes":                   {{}, {query: "project_uuid=$PV_H"}, {query: "instance_uuid=$VINST_H"}},
		"GET /api/openstack-snapshots":                 {{}, {query: "project_uuid=$PV_H"}, {query: "source_volume_uuid=$VVOL_H"}},
		"GET /api/openstack-instances":                 {{}, {query: "project_uuid=$PV_H"}},
		"POST /api/marketplace-orders":                 {{body: waldurOrder}},
		"DELETE /api/marketplace-orders/{uuid}":        {{}},
		"PUT /api/marketplace-orders/{uuid}":           {{body: `{}`}},
		"PATCH /api/marketplace-orders/{uuid}":         {{body: `{}`}},
		"POST /api/marketplace-orders/{uuid}/{action}": actions("{}", orderActions...),
		"POST /api/marketplace-resources":              {{body: `{}`}},
		"DELETE /api/marketplace-resources/{uuid}":     {{}},
		"POST /api/marketplace-resources/{uuid}/{action}": append(append(actions("{}", "terminate"),
			actions(`{"limits":{"storage":2}}`, "update_limits")...),
			actions(`{"plan":"$BASE/api/marketplace-public-offerings/$WOFFER/plans/$WPLAN/"}`, "switch_plan")...),
		"POST /api/openstack-volumes":          {{body: `{}`}},
		"PUT /api/openstack-volumes/{uuid}":    {{body: `{"name":"pwned-$R"}`}},
		"PATCH /api/openstack-volumes/{uuid}":  {{body: `{"name":"pwned-$R"}`}},
		"DELETE /api/openstack-volumes/{uuid}": {{}},
		"POST /api/openstack-volumes/{uuid}/{action}": append(append(append(append(append(
			actions("{}", "pull", "unlink", "detach"),
			actions(`{"instance":"$BASE/api/openstack-instances/$OWNINST_H/"}`, "attach")...),
			probe{body: `{"instance":"$BASE/api/openstack-instances/$VINST_H/"}`, params: map[string]string{"action": "attach", "uuid": "$OWNVOL_H"}}),
			actions(`{"disk_size":4096}`, "extend")...),
			actions(`{"type":"$BASE/api/openstack-volume-types/$WTYPE/"}`, "retype")...),
			actions(`{"name":"x-$R"}`, "snapshot")...),
		"POST /api/openstack-snapshots":                {{body: `{}`}},
		"PUT /api/openstack-snapshots/{uuid}":          {{body: `{"name":"pwned-$R"}`}},
		"PATCH /api/openstack-snapshots/{uuid}":        {{body: `{"name":"pwned-$R"}`}},
		"DELETE /api/openstack-snapshots/{uuid}":       {{}},
		"POST /api/openstack-snapshots/{uuid}/restore": {{body: `{"name":"x-$R"}`}},

		// WAYSCloud
		"/v1/storage":                              {{path: "/v1/storage/no-such-route/$VBKT"}},
		"POST /v1/storage/buckets":                 {{body: `{"bucket_name":"fresh-$R"}`, own: true}},
		"DELETE /v1/storage/buckets/{bucket_name}": {{}},

		// HPC-AI: every call a POST; reads of one's own account may succeed.
		"POST /api/user/login":            {{body: `{"username":"$VUSERNAME","password":"wrong-password"}`, login: true}},
		"POST /api/region/list":           {{body: `{}`, own: true}},
		"POST /api/storage/volume/list":   {{body: `{}`, own: true}, {body: `{"projectId":"$PV"}`, own: true}},
		"POST /api/storage/volume/create": {{body: `{"name":"x-$R","sizeGB":1,"region":"$HREGION","volumeType":"highspeedstorage"}`, own: true}},
		"POST /api/storage/volume/detail": {{body: `{"volumeId":"$VVOL"}`}},
		"POST /api/storage/volume/resize": {{body: `{"volumeId":"$VVOL","sizeGB":5}`}},
		"POST /api/storage/volume/delete": {{body: `{"volumeId":"$VVOL"}`}},
		// The dialect's prefixes answer every path no route serves.
		"/api/user":     {{path: "/api/user/$VUSER"}},
		"/api/region":   {{path: "/api/region/list/$PV"}},
		"/api/storage":  {{path: "/api/storage/volume/$VVOL"}, {path: "/api/storage/volume/detail/$VVOL"}},
		"/api/instance": {{path: "/api/instance/$VINST"}},

		// CloudSigma
		"/api/2.0":                      {{path: "/api/2.0/no-such-route/$VVOL/"}},
		"POST /api/2.0/accounts/action": {{query: "do=login", body: `{"username":"$VUSERNAME","password":"wrong-password"}`, login: true}},
		"POST /api/2.0/drives":          {{body: `{"objects":[{"name":"x-$R","size":1073741824,"media":"disk"}]}`, own: true}},
		"DELETE /api/2.0/drives":        {{body: `{"objects":[{"uuid":"$VVOL"}]}`}, {body: `["$VVOL"]`}},
		"PUT /api/2.0/drives/{uuid}":    {{body: `{"name":"pwned-$R","size":1073741824,"media":"disk"}`}},
		"DELETE /api/2.0/drives/{uuid}": {{}},
		"POST /api/2.0/drives/{uuid}/action": {{query: "do=clone", body: `{"name":"x-$R"}`}, {query: "do=resize", body: `{"size":2147483648}`},
			upload(probe{query: "do=upload_chunk", body: fmt.Sprintf(`{"chunk_number":%d,"chunk_size":%d}`, uploadChunks-1, uploadChunk)})},
		// Uploads: a drive of one's own account, or chunks into the
		// victim's drive that is still uploading.
		"POST /api/2.0/initupload":    {{body: fmt.Sprintf(`{"name":"x-$R","size":%d,"media":"disk"}`, uploadChunk*uploadChunks), own: true}},
		"POST /api/2.0/drives/upload": {{body: "x-$R", contentType: "application/octet-stream", own: true}},
		"POST /api/2.0/drives/{uuid}/upload/{range}": {
			upload(probe{body: chunkBytes, contentType: "application/octet-stream", params: map[string]string{"range": fmt.Sprintf("%d-%d", uploadChunk, uploadChunk)}}),
			probe{body: chunkBytes, contentType: "application/octet-stream", params: map[string]string{"uuid": "$VVOL", "range": fmt.Sprintf("0-%d", uploadChunk)}}},
		"GET /api/2.0/drives/{uuid}/upload":  {upload(probe{query: resumableQuery(1)})},
		"POST /api/2.0/drives/{uuid}/upload": {upload(probe{body: form, contentType: formType})},
		// Library drives: staff publish and unpublish; everyone clones
		// into their own account, never from a snapshot or drive that is
		// not published.
		"POST /api/2.0/libdrives":          {{body: `{"drive":"$VVOL","name":"x-$R"}`}, {body: `{"drive":"$OWNVOL","name":"x-$R"}`}},
		"DELETE /api/2.0/libdrives/{uuid}": {{}},
		"POST /api/2.0/libdrives/{uuid}/action": {{query: "do=clone", body: `{"name":"x-$R"}`, own: true},
			{query: "do=clone", body: `{"name":"x-$R"}`, params: map[string]string{"uuid": "$VSNAP"}},
			{query: "do=clone", body: `{"name":"x-$R"}`, params: map[string]string{"uuid": "$VVOL"}}},
		// The profile is the caller's own; a uuid in the body names nobody.
		"PUT /api/2.0/profile":                  {{body: `{"uuid":"$VUSER","company":"pwned-$R"}`, own: true}},
		"POST /api/2.0/snapshots":               {{body: `{"objects":[{"drive":"$VVOL","name":"x-$R"}]}`}},
		"DELETE /api/2.0/snapshots":             {{body: `{"objects":[{"uuid":"$VSNAP"}]}`}},
		"PUT /api/2.0/snapshots/{uuid}":         {{body: `{"name":"pwned-$R"}`}},
		"DELETE /api/2.0/snapshots/{uuid}":      {{}},
		"POST /api/2.0/snapshots/{uuid}/action": {{query: "do=clone", body: `{"name":"x-$R"}`}},
		"POST /api/2.0/driveusers":              {{body: `{"objects":[{"drive":"$VVOL","amount":7}]}`}},
		"PUT /api/2.0/driveusers/{uuid}":        {{body: `{"amount":7}`}},
		"DELETE /api/2.0/driveusers/{uuid}":     {{}},
		"POST /api/2.0/servers":                 {{body: csServer}},
		"PUT /api/2.0/servers/{uuid}": {{body: `{"name":"pwned-$R","cpu":1000,"mem":536870912,"vnc_password":"x"}`},
			{body: `{"name":"mine","cpu":1000,"mem":536870912,"vnc_password":"x","drives":[{"drive":"$VVOL","boot_order":1,"dev_channel":"0:0","device":"virtio"}]}`,
				params: map[string]string{"uuid": "$OWNINST"}}},
		"DELETE /api/2.0/servers/{uuid}":      {{}},
		"POST /api/2.0/servers/{uuid}/action": {{query: "do=start"}, {query: "do=stop"}},

		// The web console: its forms, as a script with the intruder's
		// token would post them, and the uploads its page plans.
		"POST /console/login":  {{body: "login=$VUSERNAME&password=wrong-password", contentType: urlencoded, login: true}},
		"POST /console/logout": {{own: true}},
		"POST /console/projects/{id}/volumes": {{body: "name=x-$R&size_gib=1", contentType: urlencoded},
			{body: "name=x-$R&size_gib=1&snapshot_id=$VSNAP", contentType: urlencoded, params: map[string]string{"id": "$OWNP"}}},
		"POST /console/volumes/{id}/{action}": append(append(append(
			consoleForm("name=x-$R", "snapshot"), consoleForm("instance_id=$VINST", "attach", "detach")...),
			consoleForm("size_gib=2", "extend")...), consoleForm("snapshot_id=$VSNAP&confirm=x", "revert", "delete")...),
		"POST /console/snapshots/{id}/{action}": consoleForm("name=x-$R", "restore", "export", "unexport", "delete"),
		"POST /console/projects/{id}/instances": {{body: "name=x-$R", contentType: urlencoded}},
		"POST /console/instances/{id}/{action}": append(consoleForm("volume_id=$VVOL", "stop", "start", "attach", "detach", "delete"),
			probe{body: "volume_id=$VVOL", contentType: urlencoded, params: map[string]string{"action": "attach", "id": "$OWNINST"}}),
		"POST /console/projects/{id}/buckets": {{body: "name=x-$R", contentType: urlencoded}},
		"POST /console/projects/{id}/buckets/{name}/{action}": append(append(
			consoleForm("hours=1&key=$VKEY&public=on&enabled=on", "share", "delete-object", "public", "versioning", "object-lock"),
			consoleForm("confirm=$VBKT", "delete")...),
			probe{body: `{"key":"x-$R","size":1}`, params: map[string]string{"action": "upload"}},
			probe{body: `{"key":"x-$R","size":1}`, params: map[string]string{"action": "upload", "id": "$OWNP"}},
			probe{body: `{"key":"$VKEY","upload_id":"$VUPD","etags":["x"]}`, params: map[string]string{"action": "complete"}}),
		"POST /console/projects/{id}/orders": {{body: "offering_id=$OFFER&plan_id=$PLAN&name=x-$R&storage_gib=1", contentType: urlencoded}},
		"POST /console/orders/{id}/{action}": consoleForm("", "approve_by_consumer", "reject_by_consumer", "cancel",
			"approve_by_provider"),
		"POST /console/admin/{action}": consoleForm("name=x-$R&organisation_id=$ORGV&project_id=$PV&username=x-$R&email=x-$R@example.com"+
			"&password=long-enough-password&storage_gib=1&volumes=1&snapshots=1", "organisation", "project", "user", "quota"),
		"POST /console/projects/{id}/members":                  {{body: "user_id=$SELF&role=admin", contentType: urlencoded}},
		"POST /console/projects/{id}/members/{user_id}/remove": {{}},
		"POST /console/tokens": {{body: "name=x&project_id=$PV", contentType: urlencoded},
			{body: "name=mine", contentType: urlencoded, own: true}},
		"POST /console/tokens/{id}/revoke":                     {{}},
		"GET /console/projects/{id}/buckets/{name}/object":     {{query: "key=$VKEY"}, {query: "key=$VKEY", params: map[string]string{"id": "$OWNP"}}},
		"POST /console/projects/{id}/credentials":              {{body: "description=x", contentType: urlencoded}},
		"POST /console/projects/{id}/credentials/{key}/revoke": {{}, {params: map[string]string{"id": "$OWNP"}}},
	}
}

// consoleForm is one console form posted to each named action.
func consoleForm(body string, names ...string) []probe {
	ps := actions(body, names...)
	for i := range ps {
		ps[i].contentType = urlencoded
	}
	return ps
}

// urlencoded is an HTML form's body.
const urlencoded = "application/x-www-form-urlencoded"
