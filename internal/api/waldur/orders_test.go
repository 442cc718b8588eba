package waldur_test

import (
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// user creates a user with a role and returns a Waldur token for them.
func user(t *testing.T, e *testenv.Env, name, scope, scopeID, role string) string {
	t.Helper()
	admin := testenv.Bearer(e.AdminToken)
	u := decode[obj](t, e.Do("POST", "/api/v1/users", admin, obj{"username": name, "password": "secret-" + name}))
	want(t, e.Do("POST", "/api/v1/"+scope+"/"+scopeID+"/members", admin, obj{"user_id": u["id"], "role": role}), 201, "")
	r := e.Do("POST", "/api-auth/password/", "", obj{"username": name, "password": "secret-" + name})
	want(t, r, 200, "")
	return decode[obj](t, r)["token"].(string)
}

func dashed(hex string) string {
	return hex[0:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:]
}

func waitOrder(t *testing.T, e *testenv.Env, auth, uuid string, states ...string) obj {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		o := decode[obj](t, e.Do("GET", "/api/marketplace-orders/"+uuid+"/", auth, nil))
		for _, s := range states {
			if o["state"] == s {
				return o
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s is %v, want one of %v", uuid, o["state"], states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOrderTransitions(t *testing.T) {
	e := start(t)
	admin := tok(e.AdminToken)
	c := readCatalog(t, e, admin)
	project := dashed(c.project["uuid"].(string))
	bob := tok(user(t, e, "bob", "projects", project, "member"))
	order := func(auth string, off, plan obj, name string) obj {
		r := e.Do("POST", "/api/marketplace-orders/", auth, obj{"project": c.project["url"], "offering": off["url"],
			"plan": plan["url"], "attributes": obj{"name": name}, "limits": obj{"storage": 5}})
		want(t, r, 201, "")
		return decode[obj](t, r)
	}
	path := func(o obj, action string) string {
		return "/api/marketplace-orders/" + o["uuid"].(string) + "/" + action + "/"
	}

	// A member's order waits for someone who may approve.
	o := order(bob, c.volume, c.volumePlan, "vol-a")
	if o["state"] != "pending-consumer" || o["consumer_reviewed_by"] != nil {
		t.Fatalf("member's order: %v", o)
	}
	want(t, e.Do("POST", path(o, "approve_by_consumer"), bob, nil), 403, `{"detail": "You do not have permission to perform this action."}`)
	want(t, e.Do("POST", path(o, "approve_by_provider"), admin, nil), 409, `{"detail": "Valid states for operation: pending-provider."}`)
	want(t, e.Do("POST", path(o, "approve_by_consumer"), admin, nil), 200, `{"detail": "Order has been approved."}`)
	want(t, e.Do("POST", path(o, "approve_by_consumer"), admin, nil), 409, `{"detail": "Valid states for operation: pending-consumer."}`)
	want(t, e.Do("POST", path(o, "cancel"), admin, nil), 409, `{"detail": "Valid states for operation: pending-consumer, pending-provider."}`)
	done := waitOrder(t, e, admin, o["uuid"].(string), "done")
	if done["consumer_reviewed_by"] != "admin" {
		t.Errorf("consumer_reviewed_by %v", done["consumer_reviewed_by"])
	}

	// Cancel, reject and delete while pending.
	o2 := order(bob, c.volume, c.volumePlan, "vol-b")
	r := e.Do("POST", path(o2, "cancel"), bob, nil)
	if r.Status != 202 || len(r.Body) != 0 {
		t.Fatalf("cancel: %d %q", r.Status, r.Body)
	}
	want(t, e.Do("GET", "/api/marketplace-orders/"+o2["uuid"].(string)+"/?field=state", bob, nil), 200, `{"state": "canceled"}`)
	res := decode[obj](t, e.Do("GET", "/api/marketplace-resources/"+o2["marketplace_resource_uuid"].(string)+"/?field=state", bob, nil))
	if res["state"] != "Terminated" {
		t.Errorf("resource of a canceled create order is %v", res["state"])
	}
	o3 := order(bob, c.volume, c.volumePlan, "vol-c")
	want(t, e.Do("POST", path(o3, "reject_by_consumer"), admin, obj{"consumer_rejection_comment": "no"}), 200, `{"detail": "Order has been rejected."}`)
	o4 := order(bob, c.volume, c.volumePlan, "vol-d")
	// A pending order blocks further orders for its resource.
	want(t, e.Do("POST", "/api/marketplace-resources/"+o4["marketplace_resource_uuid"].(string)+"/update_limits/", admin, obj{"limits": obj{"storage": 6}}),
		400, `["Pending order for resource already exists."]`)
	want(t, e.Do("DELETE", "/api/marketplace-orders/"+o4["uuid"].(string)+"/", bob, nil), 204, "")
	want(t, e.Do("GET", "/api/marketplace-orders/"+o4["uuid"].(string)+"/", bob, nil), 404, "")

	// Provider approval: an offering that needs it holds orders of
	// non-staff users in pending-provider until staff approve.
	want(t, e.Do("PATCH", "/api/v1/offerings/"+dashed(c.storage["uuid"].(string)), testenv.Bearer(e.AdminToken), obj{"provider_approval": true}), 200, "")
	carol := tok(user(t, e, "carol", "organisations", dashed(c.project["customer_uuid"].(string)), "owner"))
	o5 := order(carol, c.storage, c.storagePlan, "bucket-e")
	if o5["state"] != "pending-provider" || o5["consumer_reviewed_by"] != "carol" {
		t.Fatalf("owner's order on a provider-approved offering: %v", o5)
	}
	want(t, e.Do("POST", path(o5, "approve_by_provider"), carol, nil), 403, "")
	want(t, e.Do("POST", path(o5, "reject_by_provider"), admin, nil), 200, `{"detail": "Order has been rejected."}`)
	o6 := order(carol, c.storage, c.storagePlan, "bucket-f")
	want(t, e.Do("POST", path(o6, "approve_by_provider"), admin, nil), 200, `{"detail": "Order has been approved."}`)
	if s := waitOrder(t, e, admin, o6["uuid"].(string), "executing", "erred", "done"); s["provider_reviewed_by"] != "admin" {
		t.Errorf("provider_reviewed_by %v", s["provider_reviewed_by"])
	}

	// Filters.
	states := decode[[]obj](t, e.Do("GET", "/api/marketplace-orders/?state=canceled&state=rejected&field=state", admin, nil))
	if len(states) != 3 {
		t.Errorf("canceled or rejected orders: %v", states)
	}
}

func TestOrdersTenantWall(t *testing.T) {
	e := start(t)
	admin := tok(e.AdminToken)
	c := readCatalog(t, e, admin)
	r := e.Do("POST", "/api/marketplace-orders/", admin, obj{"project": c.project["url"], "offering": c.volume["url"],
		"plan": c.volumePlan["url"], "attributes": obj{"name": "mine"}, "limits": obj{"storage": 1}})
	want(t, r, 201, "")
	o := decode[obj](t, r)

	// Another customer's owner.
	org := decode[obj](t, e.Do("POST", "/api/v1/organisations", testenv.Bearer(e.AdminToken), obj{"name": "other"}))
	eve := tok(user(t, e, "eve", "organisations", org["id"].(string), "owner"))
	want(t, e.Do("GET", "/api/marketplace-orders/", eve, nil), 200, "[]")
	want(t, e.Do("GET", "/api/marketplace-resources/", eve, nil), 200, "[]")
	want(t, e.Do("GET", "/api/marketplace-orders/"+o["uuid"].(string)+"/", eve, nil), 404, `{"detail": "Not found."}`)
	want(t, e.Do("GET", "/api/marketplace-resources/"+o["marketplace_resource_uuid"].(string)+"/", eve, nil), 404, "")
	want(t, e.Do("POST", "/api/marketplace-orders/"+o["uuid"].(string)+"/cancel/", eve, nil), 404, "")
	want(t, e.Do("POST", "/api/marketplace-resources/"+o["marketplace_resource_uuid"].(string)+"/terminate/", eve, nil), 404, "")
	want(t, e.Do("GET", "/api/projects/"+c.project["uuid"].(string)+"/", eve, nil), 404, "")
	// Ordering into someone else's project is refused as an invisible object.
	want(t, e.Do("POST", "/api/marketplace-orders/", eve, obj{"project": c.project["url"], "offering": c.volume["url"],
		"attributes": obj{"name": "theirs"}}), 400, `{"project": ["Invalid hyperlink - Object does not exist."]}`)
	if ps := decode[[]obj](t, e.Do("GET", "/api/customers/", eve, nil)); len(ps) != 1 || ps[0]["name"] != "other" {
		t.Errorf("eve's customers: %v", ps)
	}
}

// TestVolumeOrderPolledLikeTerraform places a volume order and polls it as
// Terraform's provider does, then finds the volume by resource_uuid.
func TestVolumeOrderPolledLikeTerraform(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	r := e.Do("POST", "/api/marketplace-orders/", auth, obj{"project": c.project["url"], "offering": c.volume["url"],
		"plan": c.volumePlan["url"], "attributes": obj{"name": "db-data"}, "limits": obj{"storage": 2}})
	want(t, r, 201, "")
	o := waitOrder(t, e, auth, decode[obj](t, r)["uuid"].(string), "done", "erred", "rejected", "canceled")
	if o["state"] != "done" || o["resource_type"] != "OpenStack.Volume" {
		t.Fatalf("order %v: %v", o["state"], o["error_message"])
	}
	id := o["resource_uuid"].(string)
	v := decode[obj](t, e.Do("GET", "/api/v1/volumes/"+dashed(id), testenv.Bearer(e.AdminToken), nil))
	if v["name"] != "db-data" || v["size"] != float64(2<<30) || v["status"] != "available" {
		t.Fatalf("volume %v", v)
	}
	// Grow it through the resource, then terminate it.
	rid := o["marketplace_resource_uuid"].(string)
	up := decode[obj](t, e.Do("POST", "/api/marketplace-resources/"+rid+"/update_limits/", auth, obj{"limits": obj{"storage": 3}}))
	if u := waitOrder(t, e, auth, up["order_uuid"].(string), "done", "erred"); u["state"] != "done" {
		t.Fatalf("grow: %v", u["error_message"])
	}
	if v := decode[obj](t, e.Do("GET", "/api/v1/volumes/"+dashed(id), testenv.Bearer(e.AdminToken), nil)); v["size"] != float64(3<<30) {
		t.Fatalf("size after update %v", v["size"])
	}
	term := decode[obj](t, e.Do("POST", "/api/marketplace-resources/"+rid+"/terminate/", auth, nil))
	if u := waitOrder(t, e, auth, term["order_uuid"].(string), "done", "erred"); u["state"] != "done" {
		t.Fatalf("terminate: %v", u["error_message"])
	}
	if r := e.Do("GET", "/api/v1/volumes/"+dashed(id), testenv.Bearer(e.AdminToken), nil); r.Status != 404 {
		t.Fatalf("volume after terminate: %d %s", r.Status, r.Body)
	}
}

func TestStaffStateActionsAndUnavailableOfferings(t *testing.T) {
	e := start(t)
	admin := tok(e.AdminToken)
	c := readCatalog(t, e, admin)
	bob := tok(user(t, e, "bob", "projects", dashed(c.project["uuid"].(string)), "member"))
	order := func(auth string) obj {
		r := e.Do("POST", "/api/marketplace-orders/", auth, obj{"project": c.project["url"], "offering": c.volume["url"],
			"plan": c.volumePlan["url"], "attributes": obj{"name": "v"}, "limits": obj{"storage": 1}})
		want(t, r, 201, "")
		return decode[obj](t, r)
	}
	path := func(o obj, action string) string {
		return "/api/marketplace-orders/" + o["uuid"].(string) + "/" + action + "/"
	}

	o := order(bob)
	want(t, e.Do("POST", path(o, "set_state_erred"), bob, obj{"error_message": "x"}), 403, "")
	want(t, e.Do("POST", path(o, "set_state_erred"), admin, obj{"error_message": "backend down"}), 200, "")
	got := decode[obj](t, e.Do("GET", "/api/marketplace-orders/"+o["uuid"].(string)+"/?field=state&field=error_message", admin, nil))
	if got["state"] != "erred" || got["error_message"] != "backend down" {
		t.Fatalf("after set_state_erred: %v", got)
	}
	want(t, e.Do("POST", path(o, "set_state_done"), admin, nil), 409, `{"detail": "Valid states for operation: executing."}`)
	want(t, e.Do("POST", path(o, "set_state_executing"), admin, nil), 200, "")
	if s := waitOrder(t, e, admin, o["uuid"].(string), "done", "erred"); s["state"] != "done" {
		t.Fatalf("re-executed order: %v", s)
	}
	want(t, e.Do("POST", path(o, "set_state_executing"), admin, nil), 409,
		`{"detail": "Valid states for operation: pending-consumer, pending-provider, erred."}`)
	want(t, e.Do("POST", path(o, "unlink"), bob, nil), 403, "")
	want(t, e.Do("POST", path(o, "unlink"), admin, nil), 204, "")
	want(t, e.Do("GET", "/api/marketplace-orders/"+o["uuid"].(string)+"/", admin, nil), 404, "")
	want(t, e.Do("POST", path(order(admin), "frobnicate"), admin, nil), 404, "")

	// A paused offering takes no new orders.
	want(t, e.Do("PATCH", "/api/v1/offerings/"+dashed(c.volume["uuid"].(string)), testenv.Bearer(e.AdminToken), obj{"state": "Paused"}), 200, "")
	want(t, e.Do("POST", "/api/marketplace-orders/", admin, obj{"project": c.project["url"], "offering": c.volume["url"],
		"attributes": obj{"name": "v"}, "limits": obj{"storage": 1}}), 400, `{"offering": ["Offering is not available."]}`)
}
