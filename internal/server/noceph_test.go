//go:build !ceph

package server_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/server"
)

// A binary built without the ceph tag refuses --ceph and says how to get
// one that has it, instead of silently keeping volumes on local disk.
func TestServeRefusesCephWithoutTheTag(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.S3Listen, cfg.NBDListen, cfg.NFSListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Ceph = "/etc/ceph/ceph.conf"
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		s.Close()
		t.Fatal("a binary without Ceph support started with --ceph")
	}
	if !strings.Contains(err.Error(), "make build-ceph") {
		t.Fatalf("error %q does not say how to get a binary with Ceph", err)
	}
	// Refused before the first start's bootstrap wrote anything.
	if ents, err := os.ReadDir(cfg.DataDir); err != nil || len(ents) != 0 {
		t.Fatalf("data dir after refusal: %v, %v", ents, err)
	}
}
