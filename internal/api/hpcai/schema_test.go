package hpcai_test

import (
	"os"
	"testing"

	"github.com/stowage/stowage/internal/testenv/jsonschema"
)

// TestMain puts a checker in front of the HTTP client every test of the
// package sends through (testenv uses http.DefaultClient), so every HPC-AI
// response the suite provokes is validated against testdata/schemas.json,
// errors ({"message"}) included.
func TestMain(m *testing.M) {
	os.Exit(jsonschema.Main(m, "hpcai", []jsonschema.Route{
		{Pattern: "POST /api/user/login", OK: map[int]string{200: "login"}},
		{Pattern: "POST /api/region/list", OK: map[int]string{200: "region_list"}},
		{Pattern: "POST /api/storage/volume/create", OK: map[int]string{200: "volume_answer"}},
		{Pattern: "POST /api/storage/volume/list", OK: map[int]string{200: "volume_list"}},
		{Pattern: "POST /api/storage/volume/detail", OK: map[int]string{200: "volume_answer"}},
		{Pattern: "POST /api/storage/volume/resize", OK: map[int]string{200: "volume_answer"}},
		{Pattern: "POST /api/storage/volume/delete", OK: map[int]string{200: "empty"}},
	}, "error", "/api/user/", "/api/region/", "/api/storage/", "/api/instance/"))
}
