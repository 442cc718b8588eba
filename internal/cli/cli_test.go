package cli_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stowage/stowage/internal/cli"
	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{
		"stowage": func() int { return cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv) },
	}))
}

// TestScripts runs testdata/script/*.txtar against one in-process server;
// each script gets $ENDPOINT and $ADMIN_TOKEN and a HOME of its own.
func TestScripts(t *testing.T) {
	// Usage is sampled every second so that usage.txtar sees levels soon;
	// notifications.txtar registers webhooks to loopback.
	e := testenv.Start(t, func(c *config.Config) {
		c.MeterInterval, c.MeterFlush = time.Second, 100*time.Millisecond
		c.NotifyAllow = []string{"127.0.0.1"}
	})
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("ENDPOINT", "http://"+e.Addrs.API)
			env.Setenv("ADMIN_TOKEN", e.AdminToken)
			// A binary built with -race sleeps a second before it exits,
			// to let reports flush; every exec would pay it.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
	})
}
