package testenv

import (
	"fmt"
	"net/url"
	"testing"
)

// LibnfsURL turns connection_info's nfs://HOST:PORT/EXPORT into the form
// libnfs's tools (nfs-cp, nfs-ls, nfs-cat) take, with the ports as
// arguments, and appends path.
func LibnfsURL(t testing.TB, uri, path string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "nfs" || u.Port() == "" {
		t.Fatalf("connection_info uri %q", uri)
	}
	return fmt.Sprintf("nfs://%s%s%s?nfsport=%s&mountport=%s&version=3", u.Hostname(), u.Path, path, u.Port(), u.Port())
}
