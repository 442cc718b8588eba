package server

import (
	"net"
	"net/http"
	"strings"
)

// allowHosts answers 400 to a request whose Host is not one the operator
// listed (Django's ALLOWED_HOSTS), so links built from Host cannot be
// steered by a client. An entry with a leading dot also allows its
// subdomains; no entries allow every Host. Health probes, which often
// reach a node by its address, are exempt.
func allowHosts(hosts []string, next http.Handler) http.Handler {
	if len(hosts) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || hostAllowed(hosts, r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"detail":"Bad Request (400): the Host header names no host this server answers for."}` + "\n"))
	})
}

func hostAllowed(hosts []string, host string) bool {
	h := strings.ToLower(host)
	if name, _, err := net.SplitHostPort(h); err == nil {
		h = name
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	for _, a := range hosts {
		a = strings.Trim(a, "[]")
		if a == h || (strings.HasPrefix(a, ".") && (strings.HasSuffix(h, a) || h == a[1:])) {
			return true
		}
	}
	return false
}
