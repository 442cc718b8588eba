package wayscloud_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stowage/stowage/internal/testenv/jsonschema"
)

// TestMain puts a checker in front of the HTTP client every test of the
// package sends through (testenv uses http.DefaultClient), so every
// WAYSCloud response the suite provokes is validated against
// testdata/schemas.json: field types, required fields, formats, enums, no
// null, and the error body on every status from 400 up.
func TestMain(m *testing.M) {
	set, err := jsonschema.Load(filepath.Join("testdata", "schemas.json"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	routes := []jsonschema.Route{
		{Pattern: "GET /v1/storage/buckets", OK: map[int]string{200: "bucket_list"}},
		{Pattern: "POST /v1/storage/buckets", OK: map[int]string{201: "bucket_created"}},
		{Pattern: "GET /v1/storage/buckets/{bucket_name}", OK: map[int]string{200: "bucket"}},
		{Pattern: "DELETE /v1/storage/buckets/{bucket_name}", OK: map[int]string{200: "bucket_deleted"}},
		{Pattern: "GET /v1/storage/credentials", OK: map[int]string{200: "credentials"}},
		{Pattern: "GET /storage/s3", OK: map[int]string{200: "text/markdown"}},
	}
	check, err := set.Table(routes, "error")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	checker := &jsonschema.Checker{Next: http.DefaultTransport, Prefix: []string{"/v1/storage/", "/storage/s3"}, Check: check}
	http.DefaultClient.Transport = checker
	code := m.Run()
	table := make([]string, 0, len(routes))
	for _, r := range routes {
		table = append(table, r.Pattern)
	}
	if !checker.Report(os.Stdout, "wayscloud", table) && code == 0 {
		code = 1
	}
	os.Exit(code)
}
