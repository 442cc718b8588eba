// Package client owns the typed Go client of the native API (/api/v1) that
// the command line uses: requests with the bearer token, problem+json
// errors decoded into *Error with the server's message and request id, and
// cursor-paginated lists. It knows nothing of the server's internals.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one endpoint with one token.
type Client struct {
	endpoint string
	token    string
	http     *http.Client
	tls      *tls.Config // nil: the system's roots
}

// New returns a client for endpoint (e.g. http://127.0.0.1:8080).
func New(endpoint, token string) *Client {
	return &Client{endpoint: strings.TrimRight(endpoint, "/"), token: token, http: &http.Client{Timeout: 5 * time.Minute}}
}

// WithTLS makes the client verify the server with cfg (a private CA's
// roots); the CLI's S3 transfers use the same through TLSConfig.
func (c *Client) WithTLS(cfg *tls.Config) *Client {
	if cfg == nil {
		return c
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	c.http.Transport = tr
	c.tls = cfg
	return c
}

// TLSConfig is the configuration WithTLS gave, or nil.
func (c *Client) TLSConfig() *tls.Config { return c.tls }

// Endpoint is the API endpoint the client talks to, without a trailing
// slash.
func (c *Client) Endpoint() string { return c.endpoint }

// Error is a refused request, as the server explained it.
type Error struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	Field     string `json:"field"`
	RequestID string `json:"request_id"`
}

func (e *Error) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.RequestID != "" {
		return fmt.Sprintf("%s (HTTP %d, request %s)", msg, e.Status, e.RequestID)
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
}

// UnreachableError is a request that never reached the server: nothing
// answers at the endpoint's address, or its name does not resolve.
type UnreachableError struct {
	Endpoint string
	Err      error
}

func (e *UnreachableError) Error() string {
	cause := e.Err.Error()
	var oe *net.OpError
	if errors.As(e.Err, &oe) && oe.Err != nil {
		cause = oe.Err.Error()
	}
	return fmt.Sprintf("cannot reach %s (%s): is the server running? check with: curl %s/healthz", e.Endpoint, cause, e.Endpoint)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// IsUnreachable reports whether err is a failure to connect at all, as
// opposed to a connection that broke or a request the server refused.
func IsUnreachable(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// IsCode reports whether err is a server error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Do sends a request with a JSON body (nil for none) and decodes a JSON
// answer into out (nil to discard; a *[]byte takes the body as it is).
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	u := c.endpoint + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if IsUnreachable(err) {
			return &UnreachableError{Endpoint: c.endpoint, Err: err}
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
		_ = json.Unmarshal(b, e)
		return e
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if raw, ok := out.(*[]byte); ok { // a body that is not JSON (CSV)
		*raw = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// List is one page of a list endpoint.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// All fetches every page of a list endpoint.
func All[T any](ctx context.Context, c *Client, path string, query url.Values) ([]T, error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	// An empty list is [] to whoever prints it as JSON, never null.
	out := []T{}
	for {
		var page List[T]
		if err := c.Do(ctx, "GET", path, q, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}
