package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/stowage/stowage/internal/errs"
)

// DecodeJSON reads one JSON value from r's body into dst, refusing bodies
// over limit bytes (TooLarge), malformed JSON, trailing data, wrong types and,
// when strict, unknown fields, each with a message naming the problem.
func DecodeJSON(r *http.Request, limit int64, dst any, strict bool) error {
	body := http.MaxBytesReader(nil, r.Body, limit)
	dec := json.NewDecoder(body)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err, limit)
		}
		return errs.E(errs.Invalid, "request body must hold a single JSON value")
	}
	return nil
}

func jsonError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return errs.E(errs.TooLarge, "request body is larger than %d bytes", limit)
	case errors.Is(err, io.EOF):
		return errs.E(errs.Invalid, "request body is empty; a JSON object is expected")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.E(errs.Invalid, "request body is truncated JSON")
	case errors.As(err, &syn):
		return errs.E(errs.Invalid, "request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errs.E(errs.Invalid, "request body must be a JSON %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return errs.Field(field, "field %q must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.Field(name, "unknown field %q", name)
	}
	return errs.Wrap(errs.Invalid, "request body could not be decoded", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "another type"
}
