package httpapi

import (
	"net/http"
	"strconv"

	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

// ParsePage reads `limit` and the opaque `cursor` query parameters.
func ParsePage(r *http.Request) (page.Request, error) {
	q := r.URL.Query()
	var pr page.Request
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > page.MaxLimit {
			return pr, errs.Field("limit", "limit must be an integer from 1 to %d", page.MaxLimit)
		}
		pr.Limit = n
	}
	after, err := page.DecodeCursor(q.Get("cursor"))
	if err != nil {
		return pr, err
	}
	pr.After = after
	return pr, nil
}
