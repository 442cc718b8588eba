package hpcai_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stowage/stowage/internal/testenv/jsonschema"
)

// TestMain puts a checker in front of the HTTP client every test of the
// package sends through (testenv uses http.DefaultClient), so every HPC-AI
// response the suite provokes is validated against testdata/schemas.json,
// errors ({"message"}) included.
func TestMain(m *testing.M) {
	set, err := jsonschema.Load(filepath.Join("testdata", "schemas.json"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	routes := []jsonschema.Route{
		{Pattern: "POST /api/user/login", OK: map[int]string{200: "login"}},
		{Pattern: "POST /api/region/list", OK: map[int]string{200: "region_list"}},
		{Pattern: "POST /api/storage/volume/create", OK: map[int]string{200: "volume_answer"}},
		{Pattern: "POST /api/storage/volume/list", OK: map[int]string{200: "volume_list"}},
		{Pattern: "POST /api/storage/volume/detail", OK: map[int]string{200: "volume_answer"}},
		{Pattern: "POST /api/storage/volume/resize", OK: map[int]string{200: "volume_answer"}},
		{Pattern: "POST /api/storage/volume/delete", OK: map[int]string{200: "empty"}},
	}
	check, err := set.Table(routes, "error")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	checker := &jsonschema.Checker{Next: http.DefaultTransport,
		Prefix: []string{"/api/user/", "/api/region/", "/api/storage/", "/api/instance/"}, Check: check}
	http.DefaultClient.Transport = checker
	code := m.Run()
	table := make([]string, 0, len(routes))
	for _, r := range routes {
		table = append(table, r.Pattern)
	}
	if !checker.Report(os.Stdout, "hpcai", table) && code == 0 {
		code = 1
	}
	os.Exit(code)
}
