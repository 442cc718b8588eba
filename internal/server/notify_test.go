package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// notifyFixture is a server that allows webhooks to loopback, its first
// project with an S3 key, and a receiver registered as target "hook".
type notifyFixture struct {
	e              *testenv.Env
	admin          string
	project        string
	access, secret string
	s3             *awss3.Client
	receiver       *testenv.Receiver
	arn            string
}

func startNotify(t *testing.T, opts ...testenv.Option) notifyFixture {
	opts = append(opts, func(c *config.Config) { c.NotifyAllow = []string{"127.0.0.1/32"} })
	fx := notifyFixture{e: testenv.Start(t, opts...)}
	fx.admin = testenv.Bearer(fx.e.AdminToken)
	fx.project = fx.e.DefaultProject()
	var key struct {
		Access string `json:"access_key_id"`
		Secret string `json:"secret_access_key"`
	}
	r := fx.e.Do("POST", "/api/v1/projects/"+fx.project+"/credentials", fx.admin, nil)
	if r.Status != 201 {
		t.Fatalf("credential: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &key)
	fx.access, fx.secret = key.Access, key.Secret
	fx.s3 = awss3.New(awss3.Options{Region: "local-1", BaseEndpoint: aws.String("http://" + fx.e.Addrs.S3), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(key.Access, key.Secret, ""), RetryMaxAttempts: 1})
	fx.receiver = testenv.NewReceiver(t)
	var target struct {
		ARN    string `json:"arn"`
		Secret string `json:"secret"`
	}
	r = fx.e.Do("POST", "/api/v1/projects/"+fx.project+"/notification-targets", fx.admin, map[string]string{"name": "hook", "url": fx.receiver.URL + "/events"})
	if r.Status != 201 {
		t.Fatalf("register target: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &target)
	if target.Secret == "" || !strings.HasPrefix(target.ARN, "arn:stowage:sns:local-1:"+fx.project+":hook") {
		t.Fatalf("target answer: %s", r.Body)
	}
	fx.receiver.SetSecret(target.Secret)
	fx.arn = target.ARN
	return fx
}

func s3Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestNotificationTargets: registration validates the URL against
// --notify-allow (loopback allowed here, a private address not), the
// secret is shown once, and targets list and delete per project.
func TestNotificationTargets(t *testing.T) {
	t.Parallel()
	fx := startNotify(t)
	base := "/api/v1/projects/" + fx.project + "/notification-targets"
	for _, tc := range []struct {
		body map[string]string
		want int
	}{
		{map[string]string{"name": "private", "url": "http://10.1.2.3/hook"}, 400},
		{map[string]string{"name": "meta", "url": "http://169.254.169.254/latest"}, 400},
		{map[string]string{"name": "v6loop", "url": "http://[::1]:9/x"}, 400},
		{map[string]string{"name": "ftp", "url": "ftp://127.0.0.1/x"}, 400},
		{map[string]string{"name": "creds", "url": "http://u:p@127.0.0.1/x"}, 400},
		{map[string]string{"name": "bad name!", "url": fx.receiver.URL}, 400},
		{map[string]string{"name": "hook", "url": fx.receiver.URL}, 400}, // taken
		{map[string]string{"name": "second", "url": fx.receiver.URL}, 201},
	} {
		if r := fx.e.Do("POST", base, fx.admin, tc.body); r.Status != tc.want {
			t.Errorf("register %v: %d %s, want %d", tc.body, r.Status, r.Body, tc.want)
		}
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	fx.e.Do("GET", base, fx.admin, nil).JSON(t, &list)
	if len(list.Items) != 2 || list.Items[0]["name"] != "hook" || list.Items[1]["name"] != "second" {
		t.Fatalf("list: %v", list.Items)
	}
	for _, it := range list.Items {
		if _, shown := it["secret"]; shown {
			t.Errorf("a listing shows a secret: %v", it)
		}
	}
	if r := fx.e.Do("DELETE", base+"/second", fx.admin, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := fx.e.Do("DELETE", base+"/second", fx.admin, nil); r.Status != 404 {
		t.Fatalf("delete again: %d %s", r.Status, r.Body)
	}
}

// TestNotificationsDeliver is the S3 face end to end: aws-sdk-go-v2 sets
// a configuration (validated as AWS does), PUT, copy, multipart, deletes
// and delete markers produce exactly the events the filters let through,
// each signed, with AWS's record shape; a receiver that fails gets the
// event later with the same event id.
func TestNotificationsDeliver(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			var opts []testenv.Option
			if engine == "postgres" {
				opts = append(opts, testenv.Postgres(t))
			}
			testNotificationsDeliver(t, startNotify(t, opts...))
		})
	}
}

func testNotificationsDeliver(t *testing.T, fx notifyFixture) {
	ctx := context.Background()
	b := aws.String("events")
	if _, err := fx.s3.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	filter := func(prefix, suffix string) *types.NotificationConfigurationFilter {
		var rules []types.FilterRule
		if prefix != "" {
			rules = append(rules, types.FilterRule{Name: types.FilterRuleNamePrefix, Value: aws.String(prefix)})
		}
		if suffix != "" {
			rules = append(rules, types.FilterRule{Name: types.FilterRuleNameSuffix, Value: aws.String(suffix)})
		}
		return &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: rules}}
	}
	put := func(cfg types.NotificationConfiguration) error {
		_, err := fx.s3.PutBucketNotificationConfiguration(ctx, &awss3.PutBucketNotificationConfigurationInput{Bucket: b, NotificationConfiguration: &cfg})
		return err
	}
	// Another project's target is as unknown as a missing one.
	var orgs struct {
		Items []struct{ ID string } `json:"items"`
	}
	fx.e.Do("GET", "/api/v1/organisations", fx.admin, nil).JSON(t, &orgs)
	var other struct{ ID string }
	fx.e.Do("POST", "/api/v1/projects", fx.admin, map[string]string{"organisation_id": orgs.Items[0].ID, "name": "other"}).JSON(t, &other)
	var otherTarget struct{ ARN string }
	fx.e.Do("POST", "/api/v1/projects/"+other.ID+"/notification-targets", fx.admin, map[string]string{"name": "hook", "url": fx.receiver.URL}).JSON(t, &otherTarget)
	if otherTarget.ARN == "" || otherTarget.ARN == fx.arn {
		t.Fatalf("other project's target: %q", otherTarget.ARN)
	}
	created := []types.Event{"s3:ObjectCreated:*"}
	for name, cfg := range map[string]types.NotificationConfiguration{
		"another project's target": {TopicConfigurations: []types.TopicConfiguration{{TopicArn: &otherTarget.ARN, Events: created}}},
		"an unknown target":        {TopicConfigurations: []types.TopicConfiguration{{TopicArn: aws.String(strings.Replace(fx.arn, ":hook", ":nope", 1)), Events: created}}},
		"a topic ARN as a queue":   {QueueConfigurations: []types.QueueConfiguration{{QueueArn: &fx.arn, Events: created}}},
		"an unknown event":         {TopicConfigurations: []types.TopicConfiguration{{TopicArn: &fx.arn, Events: []types.Event{"s3:ObjectRestore:*"}}}},
		"a bad filter rule":        {TopicConfigurations: []types.TopicConfiguration{{TopicArn: &fx.arn, Events: created, Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{{Name: "infix", Value: aws.String("x")}}}}}}},
		"overlapping rules": {TopicConfigurations: []types.TopicConfiguration{{TopicArn: &fx.arn, Events: created, Filter: filter("a/", "")},
			{TopicArn: &fx.arn, Events: []types.Event{"s3:ObjectCreated:Put"}, Filter: filter("a/b", "")}}},
	} {
		if err := put(cfg); s3Code(err) != "InvalidArgument" {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	queueARN := strings.Replace(fx.arn, ":sns:", ":sqs:", 1)
	if err := put(types.NotificationConfiguration{
		TopicConfigurations: []types.TopicConfiguration{{Id: aws.String("created"), TopicArn: &fx.arn, Events: created, Filter: filter("in/", ".txt")}},
		QueueConfigurations: []types.QueueConfiguration{{Id: aws.String("removed"), QueueArn: &queueARN,
			Events: []types.Event{"s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated"}, Filter: filter("in/", "")}},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := fx.s3.GetBucketNotificationConfiguration(ctx, &awss3.GetBucketNotificationConfigurationInput{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.TopicConfigurations) != 1 || *got.TopicConfigurations[0].TopicArn != fx.arn || *got.TopicConfigurations[0].Id != "created" ||
		len(got.TopicConfigurations[0].Filter.Key.FilterRules) != 2 || len(got.QueueConfigurations) != 1 || *got.QueueConfigurations[0].QueueArn != queueARN {
		t.Fatalf("configuration read back: %+v", got)
	}

	// The receiver refuses the first two attempts: the events they
	// carried come again later, with the same ids.
	fx.receiver.FailNext(2)
	obj := func(key, body string) {
		t.Helper()
		if _, err := fx.s3.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	obj("in/a b.txt", "hello") // ObjectCreated:Put, key URL-encoded
	obj("in/skip.bin", "no")   // suffix filter: no event
	obj("out/skip.txt", "no")  // prefix filter: no event
	if _, err := fx.s3.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("in/copy.txt"), CopySource: aws.String("events/in/a%20b.txt")}); err != nil {
		t.Fatal(err)
	}
	mp, err := fx.s3.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("in/mp.txt")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := fx.s3.UploadPart(ctx, &awss3.UploadPartInput{Bucket: b, Key: aws.String("in/mp.txt"), UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.s3.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("in/mp.txt"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.s3.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("in/a b.txt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.s3.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("in/skip.bin")}, {Key: aws.String("out/skip.txt")}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.s3.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	marker, err := fx.s3.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("in/mp.txt")})
	if err != nil {
		t.Fatal(err)
	}

	want := []string{
		"created ObjectCreated:Put in/a+b.txt",
		"created ObjectCreated:Copy in/copy.txt",
		"created ObjectCreated:CompleteMultipartUpload in/mp.txt",
		"removed ObjectRemoved:Delete in/a+b.txt",
		"removed ObjectRemoved:Delete in/skip.bin",
		"removed ObjectRemoved:DeleteMarkerCreated in/mp.txt",
	}
	ds := fx.receiver.WaitFor(t, 60*time.Second, "every event acknowledged", func(ds []testenv.Delivery) bool {
		acked := map[string]bool{}
		for _, d := range ds {
			if d.Acked {
				acked[d.ID] = true
			}
		}
		return len(acked) >= len(want)
	})
	waitNotifyJobsSettled(t, fx)
	ds = fx.receiver.Deliveries()
	events := map[string][]testenv.Delivery{}
	for _, d := range ds {
		if !d.SignedOK {
			t.Errorf("delivery %s: signature does not verify", d.ID)
		}
		if len(d.Records) != 1 {
			t.Fatalf("delivery %s has %d records", d.ID, len(d.Records))
		}
		events[d.ID] = append(events[d.ID], d)
	}
	var seen []string
	refused := 0
	for id, attempts := range events {
		r := attempts[0].Records[0]
		refused += len(attempts) - 1
		if !attempts[len(attempts)-1].Acked {
			t.Errorf("event %s: its last attempt was not acknowledged", id)
		}
		for _, a := range attempts[1:] {
			if a.Records[0] != r {
				t.Errorf("event %s changed between attempts: %+v, then %+v", id, r, a.Records[0])
			}
		}
		seen = append(seen, r.S3.ConfigurationID+" "+r.EventName+" "+r.S3.Object.Key)
		if r.EventVersion != "2.1" || r.EventSource != "aws:s3" || r.S3.Bucket.Name != "events" || r.S3.Bucket.ARN != "arn:aws:s3:::events" ||
			r.S3.Object.Sequencer == "" || r.EventTime == "" {
			t.Errorf("record shape: %+v", r)
		}
		switch r.EventName {
		case "ObjectCreated:Put":
			if r.S3.Object.Size != 5 || r.S3.Object.ETag != "5d41402abc4b2a76b9719d911017c592" {
				t.Errorf("put record: %+v", r.S3.Object)
			}
		case "ObjectRemoved:DeleteMarkerCreated":
			if r.S3.Object.VersionID != aws.ToString(marker.VersionId) || r.S3.Object.VersionID == "" {
				t.Errorf("marker record's version %q, want %q", r.S3.Object.VersionID, aws.ToString(marker.VersionId))
			}
		}
	}
	if refused != 2 {
		t.Errorf("%d attempts were repeated; want the 2 refused ones", refused)
	}
	slices.Sort(seen)
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
	// Deliveries are counted apart from the node's own jobs, whose
	// alerts must not fire for a tenant's receiver.
	var all struct {
		Items []struct{ ID string } `json:"items"`
	}
	fx.e.Do("GET", "/api/v1/jobs?state=succeeded&limit=1000", fx.admin, nil).JSON(t, &all)
	metrics := string(fx.e.Do("GET", "/metrics", "", nil).Body)
	if got, want := metric(t, metrics, `stowage_notification_jobs{state="succeeded"}`), len(want); got != want {
		t.Errorf("stowage_notification_jobs succeeded = %d, want %d", got, want)
	}
	if got, want := metric(t, metrics, `stowage_jobs{state="succeeded"}`), len(all.Items)-len(want); got != want {
		t.Errorf("stowage_jobs succeeded = %d, want %d (the node's own jobs)", got, want)
	}
}

// metric reads one series' value from a Prometheus text page.
func metric(t *testing.T, page, series string) int {
	t.Helper()
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return n
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

// waitNotifyJobsSettled waits until no delivery job is queued or running,
// so that no event can still arrive.
func waitNotifyJobsSettled(t *testing.T, fx notifyFixture) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var open int
		for _, st := range []string{"queued", "running"} {
			var jobs struct {
				Items []struct{ ID string } `json:"items"`
			}
			fx.e.Do("GET", "/api/v1/jobs?kind=s3.notify&state="+st, fx.admin, nil).JSON(t, &jobs)
			open += len(jobs.Items)
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d delivery jobs still open", open)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, with a deadline
	}
}

// TestNotificationsOff: without --notify-allow no target can be
// registered, and a PUT without configuration queues nothing.
func TestNotificationsOff(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t)
	admin := testenv.Bearer(e.AdminToken)
	r := e.Do("POST", "/api/v1/projects/"+e.DefaultProject()+"/notification-targets", admin, map[string]string{"name": "hook", "url": "http://127.0.0.1:9/x"})
	if r.Status != 400 || !strings.Contains(string(r.Body), "notify-allow") {
		t.Fatalf("register without --notify-allow: %d %s", r.Status, r.Body)
	}
}

// TestNotificationsFormAndLifecycle: a browser-form upload announces
// ObjectCreated:Post, and what the lifecycle rules expire announces
// LifecycleExpiration:Delete (not ObjectRemoved, which the rule does not
// ask for).
func TestNotificationsFormAndLifecycle(t *testing.T) {
	t.Parallel()
	fx := startNotify(t, func(c *config.Config) { c.S3LifecycleDay = 2 * time.Second })
	ctx := context.Background()
	b := aws.String("expiring")
	if _, err := fx.s3.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.s3.PutBucketNotificationConfiguration(ctx, &awss3.PutBucketNotificationConfigurationInput{Bucket: b,
		NotificationConfiguration: &types.NotificationConfiguration{TopicConfigurations: []types.TopicConfiguration{
			{Id: aws.String("posts"), TopicArn: &fx.arn, Events: []types.Event{"s3:ObjectCreated:Post"}},
			{Id: aws.String("expiry"), TopicArn: &fx.arn, Events: []types.Event{"s3:LifecycleExpiration:*", "s3:ObjectRemoved:*"},
				Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{
					{Name: types.FilterRuleNamePrefix, Value: aws.String("tmp/")}}}}},
		}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.s3.PutBucketLifecycleConfiguration(ctx, &awss3.PutBucketLifecycleConfigurationInput{Bucket: b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{ID: aws.String("tmp"), Status: types.ExpirationStatusEnabled,
			Filter: &types.LifecycleRuleFilter{Prefix: aws.String("tmp/")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}}}}); err != nil {
		t.Fatal(err)
	}
	// A form signed with the HMAC-SHA1 policy signature.
	policy := base64.StdEncoding.EncodeToString([]byte(`{"expiration":"` + time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z") +
		`","conditions":[{"bucket":"expiring"},["starts-with","$key","tmp/"]]}`))
	m := hmac.New(sha1.New, []byte(fx.secret))
	m.Write([]byte(policy))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range [][2]string{{"key", "tmp/form.txt"}, {"AWSAccessKeyId", fx.access}, {"policy", policy},
		{"signature", base64.StdEncoding.EncodeToString(m.Sum(nil))}} {
		_ = mw.WriteField(f[0], f[1])
	}
	fw, _ := mw.CreateFormFile("file", "form.txt")
	_, _ = fw.Write([]byte("posted"))
	mw.Close()
	resp, err := http.Post("http://"+fx.e.Addrs.S3+"/expiring", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("form upload: %d", resp.StatusCode)
	}
	fx.receiver.WaitFor(t, 60*time.Second, "the expiry of the posted object", func(ds []testenv.Delivery) bool {
		return slices.ContainsFunc(ds, func(d testenv.Delivery) bool {
			return d.Acked && d.Records[0].EventName == "LifecycleExpiration:Delete"
		})
	})
	waitNotifyJobsSettled(t, fx)
	var seen []string
	for _, d := range fx.receiver.Deliveries() {
		r := d.Records[0]
		seen = append(seen, r.S3.ConfigurationID+" "+r.EventName+" "+r.S3.Object.Key)
	}
	slices.Sort(seen)
	if want := []string{"expiry LifecycleExpiration:Delete tmp/form.txt", "posts ObjectCreated:Post tmp/form.txt"}; !slices.Equal(seen, want) {
		t.Fatalf("events %q, want %q", seen, want)
	}
}

// TestNotificationTargetDeleted: events for a target deleted after the
// configuration named it fail at their first attempt instead of being
// retried for half an hour, and reach nobody.
func TestNotificationTargetDeleted(t *testing.T) {
	t.Parallel()
	fx := startNotify(t)
	ctx := context.Background()
	b := aws.String("orphaned")
	if _, err := fx.s3.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.s3.PutBucketNotificationConfiguration(ctx, &awss3.PutBucketNotificationConfigurationInput{Bucket: b,
		NotificationConfiguration: &types.NotificationConfiguration{TopicConfigurations: []types.TopicConfiguration{
			{TopicArn: &fx.arn, Events: []types.Event{"s3:ObjectCreated:*"}}}}}); err != nil {
		t.Fatal(err)
	}
	if r := fx.e.Do("DELETE", "/api/v1/projects/"+fx.project+"/notification-targets/hook", fx.admin, nil); r.Status != 204 {
		t.Fatalf("delete target: %d %s", r.Status, r.Body)
	}
	if _, err := fx.s3.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	waitNotifyJobsSettled(t, fx)
	var failed struct {
		Items []struct {
			Attempts int    `json:"attempts"`
			Error    string `json:"error"`
		} `json:"items"`
	}
	fx.e.Do("GET", "/api/v1/jobs?kind=s3.notify&state=failed", fx.admin, nil).JSON(t, &failed)
	if len(failed.Items) != 1 || failed.Items[0].Attempts != 1 {
		t.Fatalf("failed deliveries: %+v, want one after one attempt", failed.Items)
	}
	if ds := fx.receiver.Deliveries(); len(ds) != 0 {
		t.Fatalf("a deleted target received %d deliveries", len(ds))
	}
}
