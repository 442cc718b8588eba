package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/webhook"
)

func TestPolicyAddresses(t *testing.T) {
	p, err := webhook.ParsePolicy([]string{"public", "10.1.0.0/16", "192.168.7.7", " ", "hooks.internal"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:4700::1111": true, // public
		"10.1.2.3": true, "192.168.7.7": true, // named by the operator
		"10.2.0.1": false, "192.168.7.8": false, "127.0.0.1": false, "::1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "fe80::1": false, "fd00::1": false, "::ffff:127.0.0.1": false,
		"::ffff:10.1.0.1": true, "64:ff9b::a01:101": false, "224.0.0.1": false,
	} {
		if got := p.AllowsAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowsAddr(%s) = %v, want %v", addr, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "not a host!", "http://x"} {
		if _, err := webhook.ParsePolicy([]string{bad}); err == nil {
			t.Errorf("ParsePolicy(%q) accepted", bad)
		}
	}
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	none, _ := webhook.ParsePolicy(nil)
	if err := none.CheckURL(ctx, "https://93.184.216.34/x"); !errors.Is(err, webhook.ErrNotAllowed) {
		t.Errorf("an empty policy: %v, want ErrNotAllowed", err)
	}
	loop, _ := webhook.ParsePolicy([]string{"127.0.0.1"})
	for u, ok := range map[string]bool{
		"http://127.0.0.1:9/x": true, "https://127.0.0.1/": true,
		"http://10.0.0.1/x":        false,
		"ftp://127.0.0.1/x":        false,
		"http://user:pw@127.0.0.1": false,
		"/relative":                false,
		"http://127.0.0.1/#frag":   false,
	} {
		err := loop.CheckURL(ctx, u)
		if (err == nil) != ok {
			t.Errorf("CheckURL(%s): %v, want allowed=%v", u, err, ok)
		}
	}
	byName, _ := webhook.ParsePolicy([]string{"localhost"})
	if err := byName.CheckURL(ctx, "http://localhost:9/x"); err != nil {
		t.Errorf("a host the operator names: %v", err)
	}
}

// TestClientDialsOnlyAllowed: the check is on the address dialled, not
// on the URL registered: a name that resolves to a refused address (as a
// rebinding DNS would answer after registration) reaches nothing, and no
// connection is made.
func TestClientDialsOnlyAllowed(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/latest", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]

	public, _ := webhook.ParsePolicy([]string{"public"})
	for _, host := range []string{"localhost", "127.0.0.1"} {
		_, err := public.Client(5 * time.Second).Get("http://" + net.JoinHostPort(host, port) + "/")
		if !errors.Is(err, webhook.ErrNotAllowed) {
			t.Errorf("%s under a public-only policy: %v, want ErrNotAllowed", host, err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the refused address", n)
	}

	loop, _ := webhook.ParsePolicy([]string{"127.0.0.0/8"})
	resp, err := loop.Client(5 * time.Second).Get("http://" + net.JoinHostPort("localhost", port) + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("a redirect was followed: %d", resp.StatusCode)
	}
}

func TestSignature(t *testing.T) {
	secret := []byte("s3cr3t")
	body := []byte(`{"Records":[]}`)
	sig := webhook.Sign(secret, 1700000000, body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("signature %q", sig)
	}
	if !webhook.Verify(secret, "1700000000", body, sig) {
		t.Error("a good signature does not verify")
	}
	for name, ok := range map[string]bool{
		"other body":      webhook.Verify(secret, "1700000000", []byte(`{}`), sig),
		"other timestamp": webhook.Verify(secret, "1700000001", body, sig),
		"other secret":    webhook.Verify([]byte("x"), "1700000000", body, sig),
	} {
		if ok {
			t.Errorf("%s verifies", name)
		}
	}
}
