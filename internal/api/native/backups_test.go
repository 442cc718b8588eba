package native_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

func qemuImg(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// s3For gives a tenant a bucket and a minio-go client with a key of its
// project.
func s3For(t *testing.T, e *testenv.Env, tn tenant, bucket string) *minio.Client {
	t.Helper()
	auth := testenv.Bearer(tn.token)
	wantStatus(t, e.Do("POST", "/api/v1/projects/"+tn.project+"/buckets", auth, map[string]any{"name": bucket}), 201)
	var k struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	r := e.Do("POST", "/api/v1/projects/"+tn.project+"/credentials", auth, map[string]any{"description": "images"})
	wantStatus(t, r, 201)
	r.JSON(t, &k)
	c, err := minio.New(e.Addrs.S3, &minio.Options{Creds: miniocreds.NewStaticV4(k.AccessKeyID, k.SecretAccessKey, ""),
		Region: e.Config.Region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// imageTenant makes a tenant with a bucket, a minio-go client for it and
// an instance to attach volumes to.
func imageTenant(t *testing.T, e *testenv.Env, name, bucket string) (tenant, client, *minio.Client, string) {
	t.Helper()
	tn := newTenant(t, e, name)
	c := client{t: t, e: e, auth: testenv.Bearer(tn.token)}
	return tn, c, s3For(t, e, tn, bucket), c.instance(tn.project, "vm")
}

// waitJobFailed polls a job that must fail and returns it.
func (c client) waitJobFailed(id string) jobOut {
	c.t.Helper()
	var j jobOut
	for deadline := time.Now().Add(20 * time.Second); j.State != "failed"; {
		c.do("GET", "/api/v1/jobs/"+id, nil).JSON(c.t, &j)
		if j.State == "succeeded" || time.Now().After(deadline) {
			c.t.Fatalf("job %s: %+v, want it failed", id, j)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	return j
}

type backupListOut struct {
	Items []struct {
		ID          string  `json:"id"`
		Parent      *string `json:"parent"`
		StoredBytes int64   `json:"stored_bytes"`
		Chunks      int64   `json:"chunks"`
		Size        int64   `json:"size"`
	} `json:"items"`
}

// TestImagesAndBackups goes through the real server: a qcow2 made by
// qemu-img is uploaded with minio-go and imported into a volume; the
// volume is exported as qcow2 and raw and downloaded; it is backed up
// twice (full, then incremental), each backup is restored into a new
// volume, and every result is checked with qemu-img compare against the
// NBD export of an attached volume or a local reference. Deleting the
// first backup leaves the second restorable; another tenant sees none of
// it.
func TestImagesAndBackups(t *testing.T) { testImagesAndBackups(t, thinPool) }

func testImagesAndBackups(t *testing.T, b backend) {
	e := b.start(t)
	alice, c, s3c, inst := imageTenant(t, e, "alice-img", "alice-images")
	ctx := context.Background()
	dir := t.TempDir()

	// Import.
	ref := filepath.Join(dir, "ref.raw")
	qemuImg(t, "create", "-f", "raw", ref, "40M")
	mustQemuIO(t, ref, "write -P 0x11 0 1M", "write -P 0x22 5000000 70000", "write -P 0x33 39M 1M")
	img := filepath.Join(dir, "disk.qcow2")
	qemuImg(t, "convert", "-f", "raw", "-O", "qcow2", "-c", ref, img)
	if _, err := s3c.FPutObject(ctx, "alice-images", "disk.qcow2", img, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	r := c.do("POST", "/api/v1/volumes", map[string]any{"project_id": alice.project, "name": "imported",
		"image_object": map[string]any{"bucket": "alice-images", "key": "disk.qcow2"}})
	wantStatus(t, r, 202)
	var a acceptedOut
	r.JSON(t, &a)
	c.waitJob(a.Job.ID)
	v := c.wantVolumeStatus(a.Volume.ID, "available")
	if v.Size < 40*mib {
		t.Fatalf("imported volume of %d bytes", v.Size)
	}
	att := c.attach(v.ID, inst)
	uri := att.ConnectionInfo.URI
	qemuImg(t, "compare", "-f", "qcow2", "-F", "raw", img, uri)

	// Export as qcow2 and raw, download, compare with the live volume.
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/export", map[string]any{"bucket": "alice-images", "key": "out.qcow2", "format": "qcow2"})
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/export", map[string]any{"bucket": "alice-images", "key": "out.raw"})
	for _, f := range []struct{ key, format string }{{"out.qcow2", "qcow2"}, {"out.raw", "raw"}} {
		p := filepath.Join(dir, f.key)
		if err := s3c.FGetObject(ctx, "alice-images", f.key, p, minio.GetObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		qemuImg(t, "compare", "-f", f.format, "-F", "raw", p, uri)
	}
	if out := qemuImg(t, "check", filepath.Join(dir, "out.qcow2")); !strings.Contains(out, "No errors") {
		t.Fatalf("exported qcow2:\n%s", out)
	}

	// Two backups, the second incremental.
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/backups", map[string]any{"bucket": "alice-images"})
	ref1 := filepath.Join(dir, "ref1.raw")
	qemuImg(t, "convert", "-f", "raw", "-O", "raw", uri, ref1)
	mustQemuIO(t, uri, "write -P 0x44 8M 64k", "write -z 0 64k", "flush")
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/backups", map[string]any{"bucket": "alice-images"})
	ref2 := filepath.Join(dir, "ref2.raw")
	qemuImg(t, "convert", "-f", "raw", "-O", "raw", uri, ref2)
	list := func(auth string, project string) (int, backupListOut) {
		r := e.Do("GET", "/api/v1/backups?project_id="+project+"&bucket=alice-images&volume_id="+v.ID, auth, nil)
		var out backupListOut
		if r.Status == 200 {
			r.JSON(t, &out)
		}
		return r.Status, out
	}
	_, bl := list(c.auth, alice.project)
	if len(bl.Items) != 2 || bl.Items[1].Parent == nil || *bl.Items[1].Parent != bl.Items[0].ID {
		t.Fatalf("backups: %+v", bl)
	}
	if bl.Items[1].StoredBytes > 2*b.chunk {
		t.Errorf("incremental backup stored %d bytes for one changed chunk", bl.Items[1].StoredBytes)
	}
	restore := func(id, want string) {
		t.Helper()
		r := c.do("POST", "/api/v1/volumes", map[string]any{"project_id": alice.project, "name": "restored",
			"backup": map[string]any{"bucket": "alice-images", "volume_id": v.ID, "backup_id": id}})
		wantStatus(t, r, 202)
		var a acceptedOut
		r.JSON(t, &a)
		c.waitJob(a.Job.ID)
		rv := c.wantVolumeStatus(a.Volume.ID, "available")
		att := c.attach(rv.ID, inst)
		qemuImg(t, "compare", "-f", "raw", "-F", "raw", want, att.ConnectionInfo.URI)
	}
	restore(bl.Items[0].ID, ref1)
	restore(bl.Items[1].ID, ref2)

	// Another tenant reaches none of it, even naming everything.
	bob := newTenant(t, e, "bob-img")
	if st, _ := list(testenv.Bearer(bob.token), alice.project); st != 404 && st != 403 {
		t.Errorf("bob lists alice's backups: %d", st)
	}
	if st, out := list(testenv.Bearer(bob.token), bob.project); st == 200 && len(out.Items) > 0 {
		t.Errorf("bob lists alice's backups through his own project: %+v", out)
	}
	wantStatus(t, e.Do("POST", "/api/v1/volumes", testenv.Bearer(bob.token), map[string]any{"project_id": bob.project,
		"backup": map[string]any{"bucket": "alice-images", "volume_id": v.ID, "backup_id": bl.Items[0].ID}}), 400)

	// Delete the first backup; the second still restores.
	r = c.do("DELETE", "/api/v1/backups/"+bl.Items[0].ID+"?project_id="+alice.project+"&bucket=alice-images&volume_id="+v.ID, nil)
	wantStatus(t, r, 202)
	r.JSON(t, &a)
	c.waitJob(a.Job.ID)
	if _, bl2 := list(c.auth, alice.project); len(bl2.Items) != 1 || bl2.Items[0].ID != bl.Items[1].ID {
		t.Fatalf("after delete: %+v", bl2)
	}
	restore(bl.Items[1].ID, ref2)
	if _, err := os.Stat(ref2); err != nil {
		t.Fatal(err)
	}
}

// TestBackupPolicy sets a policy on a volume: the scheduler queues its
// first backup, and every later backup prunes to the newest keep_last;
// deleting the policy stops it and keeps the backups.
func TestBackupPolicy(t *testing.T) { testBackupPolicy(t, thinPool) }

func testBackupPolicy(t *testing.T, b backend) {
	e := b.start(t, func(c *config.Config) { c.RetentionInterval = 50 * time.Millisecond })
	alice := newTenant(t, e, "alice-pol")
	c := client{t: t, e: e, auth: testenv.Bearer(alice.token)}
	s3For(t, e, alice, "alice-backups")
	v := c.createVolume(map[string]any{"project_id": alice.project, "name": "db", "size": 16 * mib})
	path := "/api/v1/volumes/" + v.ID + "/backup-policy"
	wantProblem(t, c.do("PUT", path, map[string]any{"bucket": "alice-backups", "every_hours": 0, "keep_last": 2}), 400, "invalid")
	wantProblem(t, c.do("PUT", path, map[string]any{"bucket": "nobody-has-this", "every_hours": 24, "keep_last": 2}), 400, "invalid")
	var off struct {
		Enabled bool `json:"enabled"`
	}
	c.do("GET", path, nil).JSON(t, &off)
	if off.Enabled {
		t.Fatal("a new volume has scheduled backups")
	}
	r := c.do("PUT", path, map[string]any{"bucket": "alice-backups", "every_hours": 24, "keep_last": 2})
	wantStatus(t, r, 200)
	list := func() []string {
		var out backupListOut
		r := c.do("GET", "/api/v1/backups?project_id="+alice.project+"&bucket=alice-backups&volume_id="+v.ID, nil)
		wantStatus(t, r, 200)
		r.JSON(t, &out)
		ids := []string{}
		for _, b := range out.Items {
			ids = append(ids, b.ID)
		}
		return ids
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(list()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the policy's first backup never appeared")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	var pol struct {
		NextRunAt string `json:"next_run_at"`
		KeepLast  int    `json:"keep_last"`
	}
	c.do("GET", path, nil).JSON(t, &pol)
	if next, _ := time.Parse(time.RFC3339Nano, pol.NextRunAt); time.Until(next) < 23*time.Hour || pol.KeepLast != 2 {
		t.Fatalf("policy after its run: %+v", pol)
	}
	var ids []string
	for range 2 {
		var a acceptedOut
		r := c.do("POST", "/api/v1/volumes/"+v.ID+"/backups", map[string]any{"bucket": "alice-backups"})
		wantStatus(t, r, 202)
		r.JSON(t, &a)
		c.waitJob(a.Job.ID)
		ids = list()
	}
	if len(ids) != 2 {
		t.Fatalf("keep_last 2 kept %v", ids)
	}
	wantStatus(t, c.do("DELETE", path, nil), 204)
	c.do("GET", path, nil).JSON(t, &off)
	if off.Enabled {
		t.Fatal("the policy is still on after DELETE")
	}
	wantStatus(t, c.do("DELETE", path, nil), 404)
	if got := list(); len(got) != 2 {
		t.Fatalf("deleting the policy changed the backups: %v", got)
	}
}

// TestRevertToBackup reverts a volume to a backup through the real
// server: refused while attached, as a revert to a snapshot is; the
// volume keeps its id and its grown size, reads back (qemu-img compare
// over NBD) exactly as it was when backed up, with what was written since
// gone; bad references are refused and another tenant cannot revert to a
// backup in alice's bucket; a revert whose restore fails (its packs are
// gone) leaves the volume available on its own data.
func TestRevertToBackup(t *testing.T) { testRevertToBackup(t, thinPool) }

func testRevertToBackup(t *testing.T, bk backend) {
	e := bk.start(t)
	alice, c, s3c, inst := imageTenant(t, e, "alice-rev", "alice-rev")
	ctx := context.Background()
	dir := t.TempDir()
	v := c.createVolume(map[string]any{"project_id": alice.project, "name": "db", "size": 16 * mib})
	other := c.createVolume(map[string]any{"project_id": alice.project, "name": "other", "size": 16 * mib})
	uri := c.attach(v.ID, inst).ConnectionInfo.URI
	mustQemuIO(t, uri, "write -P 0x61 0 1M", "write -P 0x62 9M 300k", "flush")
	var b struct {
		Backup struct {
			ID string `json:"id"`
		} `json:"backup"`
	}
	r := c.do("POST", "/api/v1/volumes/"+v.ID+"/backups", map[string]any{"bucket": "alice-rev"})
	wantStatus(t, r, 202)
	r.JSON(t, &b)
	var a acceptedOut
	r.JSON(t, &a)
	c.waitJob(a.Job.ID)
	ref := filepath.Join(dir, "ref.raw")
	qemuImg(t, "convert", "-f", "raw", "-O", "raw", uri, ref)
	// What comes after the backup must go: new data, overwritten data.
	mustQemuIO(t, uri, "write -P 0x71 4M 2M", "write -P 0x72 0 64k", "flush")
	// A second backup whose own packs are then lost: reverting to it fails.
	packs := func() map[string]bool {
		out := map[string]bool{}
		for o := range s3c.ListObjects(ctx, "alice-rev", minio.ListObjectsOptions{Prefix: "stowage-backups/" + v.ID + "/packs/", Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			out[o.Key] = true
		}
		return out
	}
	before := packs()
	r = c.do("POST", "/api/v1/volumes/"+v.ID+"/backups", map[string]any{"bucket": "alice-rev"})
	wantStatus(t, r, 202)
	var lost struct {
		Backup struct {
			ID string `json:"id"`
		} `json:"backup"`
	}
	r.JSON(t, &lost)
	r.JSON(t, &a)
	c.waitJob(a.Job.ID)
	for k := range packs() {
		if !before[k] {
			if err := s3c.RemoveObject(ctx, "alice-rev", k, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	revert := func(auth string, id string, body map[string]any) testenv.Response {
		return e.Do("POST", "/api/v1/volumes/"+id+"/revert", auth, body)
	}
	ref1 := map[string]any{"bucket": "alice-rev", "backup_id": b.Backup.ID}
	wantProblem(t, revert(c.auth, v.ID, map[string]any{"backup": ref1}), 409, "conflict")
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/extend", map[string]any{"size": 24 * mib})

	for _, bad := range []map[string]any{
		{"backup": map[string]any{"bucket": "alice-rev"}},
		{"backup": map[string]any{"bucket": "alice-rev", "backup_id": b.Backup.ID, "volume_id": other.ID}},
		{"backup": ref1, "snapshot_id": "x"},
		{"backup": map[string]any{"bucket": "no-such-bucket", "backup_id": b.Backup.ID}},
	} {
		wantProblem(t, revert(c.auth, v.ID, bad), 400, "invalid")
	}
	wantStatus(t, revert(c.auth, v.ID, map[string]any{"backup": map[string]any{"bucket": "alice-rev", "backup_id": "20000101T000000Z-none"}}), 404)
	bob := newTenant(t, e, "bob-rev")
	bc := client{t: t, e: e, auth: testenv.Bearer(bob.token)}
	bv := bc.createVolume(map[string]any{"project_id": bob.project, "name": "b", "size": 16 * mib})
	wantProblem(t, revert(bc.auth, bv.ID, map[string]any{"backup": map[string]any{"bucket": "alice-rev", "backup_id": b.Backup.ID, "volume_id": bv.ID}}), 400, "invalid")
	if st := revert(bc.auth, v.ID, map[string]any{"backup": ref1}).Status; st != 404 {
		t.Fatalf("bob reverting alice's volume: %d", st)
	}

	// The failed revert costs the volume nothing: available, its own data.
	r = revert(c.auth, v.ID, map[string]any{"backup": map[string]any{"bucket": "alice-rev", "backup_id": lost.Backup.ID}})
	wantStatus(t, r, 202)
	r.JSON(t, &a)
	t.Logf("revert to a backup without its packs: %s", c.waitJobFailed(a.Job.ID).Error)
	c.wantVolumeStatus(v.ID, "available")
	uri = c.attach(v.ID, inst).ConnectionInfo.URI
	mustQemuIO(t, uri, "-r", "read -P 0x72 0 64k", "read -P 0x71 4M 2M")
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})

	r = revert(c.auth, v.ID, map[string]any{"backup": ref1})
	wantStatus(t, r, 202)
	r.JSON(t, &a)
	if a.Volume == nil || a.Volume.Status != "restoring" {
		t.Fatalf("revert answered %+v", a.Volume)
	}
	c.waitJob(a.Job.ID)
	if got := c.wantVolumeStatus(v.ID, "available"); got.Size != 24*mib {
		t.Fatalf("size after revert %d", got.Size)
	}
	uri = c.attach(v.ID, inst).ConnectionInfo.URI
	mustQemuIO(t, uri, "-r", "read -P 0 16M 8M")
	qemuImg(t, "resize", "-f", "raw", ref, "24M")
	qemuImg(t, "compare", "-f", "raw", "-F", "raw", ref, uri)
	// The volume goes on: backed up again, the backups are both listed.
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/backups", map[string]any{"bucket": "alice-rev"})
	var bl backupListOut
	c.do("GET", "/api/v1/backups?project_id="+alice.project+"&bucket=alice-rev&volume_id="+v.ID, nil).JSON(t, &bl)
	if len(bl.Items) != 3 || bl.Items[2].Size != 24*mib {
		t.Fatalf("backups after the revert: %+v", bl)
	}
}

// TestExportMultipart exports volumes larger than a part (forced down to
// S3's 5 MiB minimum, as a 5 GiB object would be above the single-PUT
// limit) through the same in-process S3 path: raw (size known) and qcow2
// (size unknown) land as multipart objects that minio-go downloads and
// qemu-img compares equal to the volume over NBD. An export the quota
// stops half way leaves neither an object nor an upload behind.
func TestExportMultipart(t *testing.T) {
	e := testenv.Start(t, func(c *config.Config) { c.TransferPartSize = 5 << 20 })
	alice, c, s3c, inst := imageTenant(t, e, "alice-mp", "alice-mp")
	ctx := context.Background()
	dir := t.TempDir()
	v := c.createVolume(map[string]any{"project_id": alice.project, "name": "big", "size": 24 * mib})
	uri := c.attach(v.ID, inst).ConnectionInfo.URI
	mustQemuIO(t, uri, "write -P 0x31 0 6M", "write -P 0x32 9M 1M", "write -P 0x33 20M 4M", "flush")
	for _, f := range []struct{ key, format, parts string }{{"big.raw", "raw", "-5"}, {"big.qcow2", "qcow2", "-"}} {
		c.accepted("POST", "/api/v1/volumes/"+v.ID+"/export", map[string]any{"bucket": "alice-mp", "key": f.key, "format": f.format})
		st, err := s3c.StatObject(ctx, "alice-mp", f.key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(st.ETag, f.parts) {
			t.Errorf("%s: ETag %q is not a multipart upload's (%s)", f.key, st.ETag, f.parts)
		}
		p := filepath.Join(dir, f.key)
		if err := s3c.FGetObject(ctx, "alice-mp", f.key, p, minio.GetObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		qemuImg(t, "compare", "-f", f.format, "-F", "raw", p, uri)
	}

	// Room for two parts only: the raw export fails and is cleaned up.
	admin := testenv.Bearer(e.AdminToken)
	var q struct {
		Usage struct {
			StorageBytes int64 `json:"storage_bytes"`
		} `json:"usage"`
	}
	e.Do("GET", "/api/v1/projects/"+alice.project+"/quotas", admin, nil).JSON(t, &q)
	wantStatus(t, e.Do("PUT", "/api/v1/projects/"+alice.project+"/quotas", admin, map[string]any{"storage_bytes": q.Usage.StorageBytes + 12*mib}), 200)
	r := c.do("POST", "/api/v1/volumes/"+v.ID+"/export", map[string]any{"bucket": "alice-mp", "key": "over.raw"})
	wantStatus(t, r, 202)
	var a acceptedOut
	r.JSON(t, &a)
	if j := c.waitJobFailed(a.Job.ID); !strings.Contains(j.Error, "uota") {
		t.Errorf("export past the quota failed with %q", j.Error)
	}
	if _, err := s3c.StatObject(ctx, "alice-mp", "over.raw", minio.StatObjectOptions{}); err == nil {
		t.Error("a failed export left its object")
	}
	for u := range s3c.ListIncompleteUploads(ctx, "alice-mp", "", true) {
		t.Errorf("a failed export left upload %+v", u)
	}
}
