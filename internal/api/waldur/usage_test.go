package waldur_test

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// TestComponentUsages orders object storage as a Waldur client does, uses
// it over S3 with a real client, and reads back what Waldur reads from a
// service provider: marketplace-component-usages with the exact request
// count (every response checked against the typed client's shapes), the
// resource's current_usages, and the plan's prices in the plan, order and
// resource views.
func TestComponentUsages(t *testing.T) {
	e := start(t, func(c *config.Config) { c.MeterFlush, c.MeterInterval = 100*time.Millisecond, time.Second })
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	comps := map[string]string{}
	for _, pc := range c.storagePlan["components"].([]any) {
		comps[pc.(obj)["type"].(string)] = pc.(obj)["price"].(string)
	}
	if comps["s3_get_requests"] != "0.0000004000" || comps["s3_bytes_out"] != "0.0100000000" {
		t.Fatalf("plan components %v: want the usage prices", comps)
	}
	r := e.Do("POST", "/api/marketplace-orders/", auth, obj{"project": c.project["url"], "offering": c.storage["url"],
		"plan": c.storagePlan["url"], "attributes": obj{"name": "metered"}, "limits": obj{"storage": 1}})
	want(t, r, 201, "")
	done := waitOrder(t, e, auth, decode[obj](t, r)["uuid"].(string), "done", "erred")
	if done["state"] != "done" {
		t.Fatalf("order %v: %v", done["state"], done["error_message"])
	}
	if done["activation_price"] != float64(0) || done["fixed_price"] != float64(0) {
		t.Errorf("order prices %v %v", done["activation_price"], done["fixed_price"])
	}
	resID := done["marketplace_resource_uuid"].(string)
	svc := dashed(done["resource_uuid"].(string))
	cred := decode[obj](t, e.Do("GET", "/api/v1/object-storage/"+svc+"/credentials", testenv.Bearer(e.AdminToken), nil))["items"].([]any)[0].(obj)
	u, _ := url.Parse(cred["endpoint_url"].(string))
	s3c, err := minio.New(u.Host, &minio.Options{Creds: miniocreds.NewStaticV4(cred["access_key_id"].(string), cred["secret_access_key"].(string), ""),
		Region: e.Config.Region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	body := bytes.Repeat([]byte("y"), 1<<20)
	if _, err := s3c.PutObject(ctx, "metered", "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	const gets = 25
	for range gets {
		o, err := s3c.GetObject(ctx, "metered", "k", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, o)
		o.Close()
	}

	usage := func() map[string]obj {
		out := map[string]obj{}
		for _, u := range decode[[]obj](t, e.Do("GET", "/api/marketplace-component-usages/?resource_uuid="+resID, auth, nil)) {
			out[u["type"].(string)] = u
		}
		return out
	}
	var got map[string]obj
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got = usage()
		if got["s3_get_requests"]["usage"] == float64(gets) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("component usages %v: want %d GETs", got, gets)
		}
	}
	month := time.Now().UTC().Format("2006-01") + "-01"
	g := got["s3_get_requests"]
	if g["billing_period"] != month || g["measured_unit"] != "request" || g["resource_uuid"] != resID || g["offering_uuid"] != c.storage["uuid"] {
		t.Errorf("usage %v", g)
	}
	if _, ok := got["s3_bytes_out"]; !ok || got["s3_put_requests"]["usage"] != float64(1) {
		t.Errorf("usages %v: want egress and one PUT", got)
	}
	res := decode[obj](t, e.Do("GET", "/api/marketplace-resources/"+resID+"/", auth, nil))
	if cu := res["current_usages"].(obj); cu["s3_get_requests"] != float64(gets) || res["is_usage_based"] != true {
		t.Errorf("current_usages %v is_usage_based %v", cu, res["is_usage_based"])
	}
	if len(res["offering_components"].([]any)) != 6 {
		t.Errorf("offering_components %v", res["offering_components"])
	}
	// Filters: another type, another period, a bad date.
	if l := decode[[]obj](t, e.Do("GET", "/api/marketplace-component-usages/?type=s3_list_requests&resource_uuid="+resID, auth, nil)); len(l) != 1 || l[0]["usage"] != float64(0) {
		t.Errorf("type filter: %v", l)
	}
	if l := decode[[]obj](t, e.Do("GET", "/api/marketplace-component-usages/?billing_period=2001-01-01", auth, nil)); len(l) != 5 || l[0]["usage"] != float64(0) {
		t.Errorf("an old period: %v", l)
	}
	want(t, e.Do("GET", "/api/marketplace-component-usages/?billing_period=soon", auth, nil), 400,
		`{"billing_period":["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}`)

	// One usage by its uuid, this period's and an old one's, as listed.
	one := decode[obj](t, e.Do("GET", "/api/marketplace-component-usages/"+g["uuid"].(string)+"/", auth, nil))
	if one["uuid"] != g["uuid"] || one["type"] != "s3_get_requests" || one["usage"] != float64(gets) || one["billing_period"] != month ||
		one["resource_uuid"] != resID {
		t.Errorf("detail %v, want %v", one, g)
	}
	old := decode[[]obj](t, e.Do("GET", "/api/marketplace-component-usages/?billing_period=2001-01-01&type=s3_put_requests&resource_uuid="+resID, auth, nil))
	if len(old) != 1 {
		t.Fatalf("old period: %v", old)
	}
	if one := decode[obj](t, e.Do("GET", "/api/marketplace-component-usages/"+dashed(old[0]["uuid"].(string))+"/", auth, nil)); one["uuid"] != old[0]["uuid"] ||
		one["billing_period"] != "2001-01-01" || one["usage"] != float64(0) || one["type"] != "s3_put_requests" {
		t.Errorf("detail of an old period %v, want %v", one, old[0])
	}
	// A malformed uuid, one of no resource's component in this period, one
	// of a period to come: not found.
	gu := g["uuid"].(string)
	for _, id := range []string{"nope", "00000000000000000000000000000000", "ffffffffffffffffffffffff" + gu[24:], gu[:24] + "0000ffff"} {
		want(t, e.Do("GET", "/api/marketplace-component-usages/"+id+"/", auth, nil), 404, `{"detail":"Not found."}`)
	}
}
