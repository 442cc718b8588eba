// Package httpapi owns the HTTP plumbing every management surface shares:
// handlers that return errors, request IDs on every response, the access log
// and request metrics, JSON decoding with size limits, credential extraction
// for each auth scheme, pagination parameters, and the problem+json error
// body of the native API. Each dialect brings its own error renderer; the
// rules about what an error means live in errs and the core.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stowage/stowage/internal/errs"
)

// HandlerFunc is a handler that returns its error instead of writing it, so
// one renderer per surface turns errors into that surface's body.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Renderer writes err as a surface's error response.
type Renderer func(w http.ResponseWriter, r *http.Request, err error)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
)

// RequestID returns the id of the request carried by ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Status maps an error kind to the HTTP status most surfaces use.
func Status(err error) int {
	switch errs.KindOf(err) {
	case errs.Invalid:
		return http.StatusBadRequest
	case errs.NotExist:
		return http.StatusNotFound
	case errs.Exist, errs.Conflict:
		return http.StatusConflict
	case errs.Permission:
		return http.StatusForbidden
	case errs.Unauthorized:
		return http.StatusUnauthorized
	case errs.Quota:
		return http.StatusForbidden
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge
	case errs.RateLimited:
		return http.StatusTooManyRequests
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	case errs.NoSpace:
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// Observer wraps the whole management listener: it assigns the request id,
// sets X-Request-Id, writes one access-log line per request (at debug, or
// warn for a server error), counts requests by route and status, and turns
// panics into a logged 500.
type Observer struct {
	log      *slog.Logger
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewObserver registers its metrics with reg.
func NewObserver(log *slog.Logger, reg prometheus.Registerer) *Observer {
	o := &Observer{
		log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stowage_http_requests_total", Help: "Management API requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "stowage_http_request_duration_seconds", Help: "Management API latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "method"}),
	}
	reg.MustRegister(o.requests, o.latency)
	return o
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Wrap returns next observed.
func (o *Observer) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		r2 := r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				o.log.Error("handler panic", "request_id", id, "panic", p)
				if sw.status == 0 {
					http.Error(sw, "internal error; request id "+id, http.StatusInternalServerError)
				}
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			// Patterns are ours (ServeMux sets the one it routed to); a
			// request that matched none is "other", never its path.
			route := r2.Pattern
			if route == "" {
				route = "other"
			}
			d := time.Since(start)
			method := MetricMethod(r.Method)
			o.requests.WithLabelValues(route, method, strconv.Itoa(sw.status)).Inc()
			o.latency.WithLabelValues(route, method).Observe(d.Seconds())
			// A line per request is for debugging: at the default level a
			// node in a terminal prints its start, warnings and errors, not
			// every poll of a client. Server errors stay visible.
			level := slog.LevelDebug
			if sw.status >= 500 {
				level = slog.LevelWarn
			}
			o.log.Log(r.Context(), level, "request", "request_id", id, "method", r.Method, "path", r.URL.Path, "route", route,
				"status", sw.status, "bytes", sw.bytes, "duration", d, "remote", r.RemoteAddr)
		}()
		next.ServeHTTP(sw, r2)
	})
}

// MetricMethod is a request method as a metric label: the methods HTTP
// defines, and "other" for anything else, so that no client can create a
// series by inventing methods.
func MetricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return writeJSONBody(w, v)
}

func writeJSONBody(w http.ResponseWriter, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// LogError records the internal side of a failed request: client errors at
// debug, server errors with their cause at error level.
func LogError(log *slog.Logger, r *http.Request, status int, err error) {
	if status >= 500 {
		log.Error("request failed", "request_id", RequestID(r.Context()), "status", status, "err", err)
		return
	}
	log.Debug("request refused", "request_id", RequestID(r.Context()), "status", status, "err", err)
}
