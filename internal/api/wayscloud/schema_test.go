package wayscloud_test

import (
	"os"
	"testing"

	"github.com/stowage/stowage/internal/testenv/jsonschema"
)

// TestMain puts a checker in front of the HTTP client every test of the
// package sends through (testenv uses http.DefaultClient), so every
// WAYSCloud response the suite provokes is validated against
// testdata/schemas.json: field types, required fields, formats, enums, no
// null, and the error body on every status from 400 up.
func TestMain(m *testing.M) {
	os.Exit(jsonschema.Main(m, "wayscloud", []jsonschema.Route{
		{Pattern: "GET /v1/storage/buckets", OK: map[int]string{200: "bucket_list"}},
		{Pattern: "POST /v1/storage/buckets", OK: map[int]string{201: "bucket_created"}},
		{Pattern: "GET /v1/storage/buckets/{bucket_name}", OK: map[int]string{200: "bucket"}},
		{Pattern: "DELETE /v1/storage/buckets/{bucket_name}", OK: map[int]string{200: "bucket_deleted"}},
		{Pattern: "GET /v1/storage/credentials", OK: map[int]string{200: "credentials"}},
		{Pattern: "GET /storage/s3", OK: map[int]string{200: "text/markdown"}},
	}, "error", "/v1/storage/", "/storage/s3"))
}
