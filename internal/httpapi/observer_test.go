package httpapi_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stowage/stowage/internal/httpapi"
)

// TestObserverLogLevels: at the default level (info) a served request
// writes no access-log line, so `make run &` does not flood the terminal
// a tour runs in; a server error still does, at warn; at debug every
// request does, with its request id.
func TestObserverLogLevels(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	})
	serve := func(level slog.Level, path string) (log string, requestID string) {
		var buf bytes.Buffer
		o := httpapi.NewObserver(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})), prometheus.NewRegistry())
		srv := httptest.NewServer(o.Wrap(handler))
		defer srv.Close()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close() // the line is written once the handler returns
		return buf.String(), resp.Header.Get("X-Request-Id")
	}
	if log, _ := serve(slog.LevelInfo, "/ok"); log != "" {
		t.Errorf("a 200 at the default level logged %q", log)
	}
	if log, id := serve(slog.LevelInfo, "/fail"); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "status=500") || !strings.Contains(log, id) {
		t.Errorf("a 500 at the default level logged %q, want a warning with request id %s", log, id)
	}
	if log, id := serve(slog.LevelDebug, "/ok"); !strings.Contains(log, "level=DEBUG msg=request") || !strings.Contains(log, id) {
		t.Errorf("a 200 at debug logged %q, want the request with id %s", log, id)
	}
}
