package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFlagsWinOverEnvWhichWinsOverDefaults(t *testing.T) {
	c, err := Parse([]string{"--listen", "127.0.0.1:0"}, env(map[string]string{
		"STOWAGE_LISTEN": "127.0.0.1:1", "STOWAGE_DATA_DIR": "/srv/stowage", "STOWAGE_REGION": "eu-2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:0" || c.DataDir != "/srv/stowage" || c.Region != "eu-2" || c.S3Listen != "127.0.0.1:9000" {
		t.Fatalf("got %+v", c)
	}
	if len(c.Zones) != 1 || c.Zones[0] != "eu-2a" {
		t.Fatalf("default zones %v", c.Zones)
	}
	if c.DatabaseDSN() != "sqlite:/srv/stowage/stowage.db" {
		t.Fatalf("dsn %s", c.DatabaseDSN())
	}
}

func TestValidationReportsEveryProblem(t *testing.T) {
	_, err := Parse([]string{"--listen", "nope", "--region", "Bad Region", "--database", "mysql://x"}, env(nil))
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"--listen", "--region", "--database"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := Parse([]string{"stray"}, env(nil)); err == nil {
		t.Error("stray argument accepted")
	}
	if _, err := Parse([]string{"--log-level", "chatty"}, env(nil)); err == nil {
		t.Error("bad log level accepted")
	}
}

func TestPublicURLAllowedHostsAndWaldurActionStatus(t *testing.T) {
	c, err := Parse(nil, env(nil))
	if err != nil || c.PublicURL != "" || c.AllowedHosts != nil || c.WaldurActionStatus != 200 {
		t.Fatalf("defaults: %v %+v", err, c)
	}
	c, err = Parse([]string{"--waldur-action-status", "202"}, env(map[string]string{
		"STOWAGE_PUBLIC_URL": "https://cloud.example.com/stowage/", "STOWAGE_ALLOWED_HOSTS": "Cloud.example.com, .example.org",
		"STOWAGE_WALDUR_ACTION_STATUS": "200",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "https://cloud.example.com/stowage" || strings.Join(c.AllowedHosts, " ") != "cloud.example.com .example.org" ||
		c.WaldurActionStatus != 202 {
		t.Fatalf("got %q %q %d", c.PublicURL, c.AllowedHosts, c.WaldurActionStatus)
	}
	for _, args := range [][]string{{"--waldur-action-status", "201"}, {"--public-url", "ftp://x"}, {"--public-url", "https://x/?a=b"}} {
		if _, err := Parse(args, env(nil)); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestCephFlagsAndEnvironment(t *testing.T) {
	c, err := Parse(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ceph != "" || c.CephUser != "client.admin" || c.RBDPool != "stowage-volumes" {
		t.Fatalf("defaults %q %q %q", c.Ceph, c.CephUser, c.RBDPool)
	}
	c, err = Parse([]string{"--ceph", "/etc/ceph/ceph.conf", "--rbd-pool", "vols"}, env(map[string]string{
		"STOWAGE_CEPH": "/other.conf", "STOWAGE_CEPH_USER": "client.stowage", "STOWAGE_RBD_POOL": "ignored",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ceph != "/etc/ceph/ceph.conf" || c.CephUser != "client.stowage" || c.RBDPool != "vols" {
		t.Fatalf("got %q %q %q", c.Ceph, c.CephUser, c.RBDPool)
	}
	if _, err := Parse([]string{"--ceph", "/c", "--rbd-pool", ""}, env(nil)); err == nil || !strings.Contains(err.Error(), "--rbd-pool") {
		t.Fatalf("empty pool: %v", err)
	}
}

// --cephfs (or STOWAGE_CEPHFS) names the file system for filesystem
// volumes, and only with --ceph.
func TestCephFSFlag(t *testing.T) {
	c, err := Parse([]string{"--ceph", "/c"}, env(map[string]string{"STOWAGE_CEPHFS": "fs1"}))
	if err != nil || c.CephFS != "fs1" {
		t.Fatalf("STOWAGE_CEPHFS: %q %v", c.CephFS, err)
	}
	if c, err = Parse([]string{"--ceph", "/c", "--cephfs", "fs2"}, env(nil)); err != nil || c.CephFS != "fs2" {
		t.Fatalf("--cephfs: %q %v", c.CephFS, err)
	}
	if _, err := Parse([]string{"--cephfs", "fs2"}, env(nil)); err == nil || !strings.Contains(err.Error(), "--cephfs needs --ceph") {
		t.Fatalf("--cephfs without --ceph: %v", err)
	}
}

func TestNodeNameAndAdvertisedAddresses(t *testing.T) {
	c, err := Parse([]string{"--node-name", "n1", "--advertise-nbd", "10.0.0.1:10809"}, env(map[string]string{
		"STOWAGE_ADVERTISE_API": "api.example:443", "STOWAGE_ADVERTISE_NBD": "ignored:1", "STOWAGE_ADVERTISE_S3": "s3.example:443",
		"STOWAGE_ADVERTISE_NFS": "10.0.0.1:2049",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "n1" || c.AdvertiseNBD != "10.0.0.1:10809" || c.AdvertiseAPI != "api.example:443" || c.AdvertiseS3 != "s3.example:443" ||
		c.AdvertiseNFS != "10.0.0.1:2049" {
		t.Fatalf("got %+v", c)
	}
	for _, bad := range [][]string{{"--advertise-nbd", "nohost"}, {"--advertise-s3", "host:0"}, {"--advertise-api", ":8080"}, {"--node-name", "a b"}} {
		if _, err := Parse(bad, env(nil)); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
