package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/config"
)

func TestConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stowage.toml")
	if err := os.WriteFile(path, []byte(`# as /etc/stowage/stowage.toml
data_dir = "/var/lib/stowage"
listen = "0.0.0.0:8080"
s3-listen = "0.0.0.0:9000"
region = "from-file"
zones = ["from-file-a", "from-file-b"]
s3_sigv2 = false
shutdown_timeout = "45s"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"STOWAGE_CONFIG": path, "STOWAGE_REGION": "from-env"}
	c, err := config.Parse([]string{"--listen", "127.0.0.1:0"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// The file fills what nothing else gave; a flag and a variable win.
	if c.DataDir != "/var/lib/stowage" || c.S3Listen != "0.0.0.0:9000" || c.S3SigV2 || c.ShutdownTimeout.String() != "45s" ||
		strings.Join(c.Zones, ",") != "from-file-a,from-file-b" {
		t.Errorf("file settings not applied: %+v", c)
	}
	if c.Listen != "127.0.0.1:0" || c.Region != "from-env" {
		t.Errorf("listen %q (want the flag's), region %q (want the variable's)", c.Listen, c.Region)
	}
	// --config names the file as well.
	if c, err := config.Parse([]string{"--config", path}, func(string) string { return "" }); err != nil || c.Region != "from-file" {
		t.Errorf("--config: %v %q", err, c.Region)
	}

	for body, want := range map[string]string{
		`data_dri = "/x"`:    `unknown setting "data_dri"`,
		`listen = [1, 2]`:    "list of strings",
		`region = "Bad!"`:    "--region",
		`listen = "x" = "y"`: "config file",
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse([]string{"--config", path}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", body, err, want)
		}
	}
}
