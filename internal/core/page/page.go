// Package page owns keyset pagination shared by every list: a request says
// how many items and after which id to start; the answer carries the cursor
// for the next page. Ids are UUIDv7, so id order is creation order.
package page

import (
	"encoding/base64"
	"encoding/json"

	"github.com/stowage/stowage/internal/errs"
)

const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Request asks for at most Limit items with ids greater than After.
type Request struct {
	Limit int
	After string
}

// Normalize clamps Limit into [1, MaxLimit], using DefaultLimit for zero.
func (r Request) Normalize() Request {
	switch {
	case r.Limit <= 0:
		r.Limit = DefaultLimit
	case r.Limit > MaxLimit:
		r.Limit = MaxLimit
	}
	return r
}

// Result is one page; Next is empty on the last page.
type Result[T any] struct {
	Items []T
	Next  string
}

// Make builds a Result from up to Limit+1 rows fetched by a store: the extra
// row only signals that another page exists.
func Make[T any](rows []T, r Request, id func(T) string) Result[T] {
	if len(rows) > r.Limit {
		rows = rows[:r.Limit]
		return Result[T]{Items: rows, Next: EncodeCursor(id(rows[len(rows)-1]))}
	}
	if rows == nil {
		rows = []T{}
	}
	return Result[T]{Items: rows}
}

type cursor struct {
	After string `json:"a"`
}

// EncodeCursor makes the opaque cursor handed to clients.
func EncodeCursor(after string) string {
	b, _ := json.Marshal(cursor{After: after})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reverses EncodeCursor; anything else is an Invalid error.
func DecodeCursor(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.After == "" {
		return "", errs.Field("cursor", "cursor is not one this server issued")
	}
	return c.After, nil
}
