package hostile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

const (
	headerTimeout = 500 * time.Millisecond
	bodyTimeout   = time.Second
	idleTimeout   = 700 * time.Millisecond
	// slack covers scheduling on a loaded two-core machine.
	slack = 2 * time.Second
)

func shortTimeouts(c *config.Config) {
	c.HeaderTimeout, c.BodyTimeout, c.IdleTimeout = headerTimeout, bodyTimeout, idleTimeout
}

// closedWithin reads from c until the server closes it and fails the test
// unless that happens within limit. Whatever the server says first (a 408,
// a 400) is fine; holding the connection is not.
func closedWithin(t *testing.T, what string, c net.Conn, start time.Time, limit time.Duration) {
	t.Helper()
	c.SetReadDeadline(start.Add(limit + 5*time.Second))
	_, err := io.Copy(io.Discard, c)
	took := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server still held the connection after %v", what, took)
	}
	if took > limit {
		t.Fatalf("%s: closed after %v, want within %v", what, took, limit)
	}
	t.Logf("%s: closed after %v", what, took.Round(time.Millisecond))
}

// TestSlowClients checks that a client cannot hold a connection on any
// listener by sending nothing, by trickling a request's headers or (on
// the management API) its body, or by idling on a keep-alive connection.
func TestSlowClients(t *testing.T) {
	e := testenv.Start(t, shortTimeouts)
	defer func() {
		if !t.Failed() {
			fmt.Printf("hostile: silent, slowloris and idle clients cut off on the API and S3 listeners, a trickled body on the API, "+
				"silent and trickling NBD handshakes, all within the %v header timeout (+%v slack); 128 KiB of headers answered 431\n",
				headerTimeout, slack)
		}
	}()
	for name, addr := range map[string]string{"api": e.Addrs.API, "s3": e.Addrs.S3} {
		t.Run(name+"/silent", func(t *testing.T) {
			c := dial(t, addr)
			closedWithin(t, "a connection that never speaks", c, time.Now(), headerTimeout+slack)
		})
		t.Run(name+"/slowloris", func(t *testing.T) {
			c := dial(t, addr)
			start := time.Now()
			go trickle(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: 1\r\n")
			closedWithin(t, "a client trickling headers", c, start, headerTimeout+slack)
		})
		t.Run(name+"/idle", func(t *testing.T) {
			c := dial(t, addr)
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			closedWithin(t, "an idle keep-alive connection", c, time.Now(), max(idleTimeout, headerTimeout)+slack)
		})
		t.Run(name+"/huge-headers", func(t *testing.T) {
			c := dial(t, addr)
			req := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 128<<10) + "\r\n\r\n"
			go io.WriteString(c, req)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("128 KiB of headers: %s, want 431", resp.Status)
			}
		})
	}
	t.Run("api/slow-body", func(t *testing.T) {
		c := dial(t, e.Addrs.API)
		start := time.Now()
		go trickle(c, "POST /api/v1/volumes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+e.AdminToken+
			"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", " ")
		closedWithin(t, "a client trickling a body", c, start, bodyTimeout+slack)
	})
	t.Run("nbd/silent", func(t *testing.T) {
		c := dial(t, e.Addrs.NBD)
		closedWithin(t, "an NBD client that never answers the greeting", c, time.Now(), headerTimeout+slack)
	})
	t.Run("nbd/slow-handshake", func(t *testing.T) {
		c := dial(t, e.Addrs.NBD)
		start := time.Now()
		// Client flags (fixed newstyle, no zeroes), then an option header
		// one byte at a time, forever.
		go trickle(c, "\x00\x00\x00\x03", "I")
		closedWithin(t, "an NBD client trickling its options", c, start, headerTimeout+slack)
	})
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// trickle writes first, then drip every 100 ms until a write fails.
func trickle(c net.Conn, first, drip string) {
	if _, err := io.WriteString(c, first); err != nil {
		return
	}
	for {
		time.Sleep(100 * time.Millisecond)
		if _, err := io.WriteString(c, drip); err != nil {
			return
		}
	}
}
