package hostile

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConnectionFlood opens a few thousand connections from one client
// address that never finish what they start on the API, S3 and NBD
// listeners of the real binary: silent ones, requests cut off in their
// headers, headers just under the limit with no end, bodies declared at a
// terabyte and never sent, NBD handshakes that stop after the client flags
// or declare an option of the largest honest size (or a dishonest one) and
// send none of it. While they are held, the node's memory stays within a
// stated bound, /healthz (from another address) answers within 100 ms,
// and the flooding address is told the API is busy rather than queued.
func TestConnectionFlood(t *testing.T) {
	const (
		perListener = 1200
		boundMiB    = 96 // peak growth allowed: what the per-address caps admit, at most
		healthLimit = 100 * time.Millisecond
	)
	n := node(t)
	before := memory(t, n, "VmRSS")
	bigHeader := "X-Big: " + strings.Repeat("a", 60<<10) // under the 64 KiB limit, and never ended
	api := []string{
		"",
		"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\n" + bigHeader,
		"GET /healthz HTTP/1.1\r\nHost: x\r\n" + bigHeader,
		"POST /api/v1/volumes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + n.Token +
			"\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{",
	}
	s3 := []string{
		"",
		"PUT /bucket/key HTTP/1.1\r\nHost: x\r\n",
		"GET /bucket/key HTTP/1.1\r\nHost: x\r\n" + bigHeader,
		"GET /bucket/key HTTP/1.1\r\nHost: x\r\n" + bigHeader,
		"PUT /bucket/key HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000000\r\n\r\n",
	}
	option := func(length uint32) string {
		var b [20]byte
		binary.BigEndian.PutUint32(b[0:], 3) // client flags: fixed newstyle, no zeroes
		binary.BigEndian.PutUint64(b[4:], 0x49484156454F5054)
		binary.BigEndian.PutUint32(b[12:], 1) // NBD_OPT_EXPORT_NAME
		binary.BigEndian.PutUint32(b[16:], length)
		return string(b[:])
	}
	nbd := []string{"", "\x00\x00\x00\x03", option(64 << 10), option(1<<32 - 1)}

	flooder := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, l := range []struct {
		addr  string
		sends []string
	}{{n.Addrs.API, api}, {n.Addrs.S3, s3}, {n.Addrs.NBD, nbd}} {
		for i := 0; i < perListener; i++ {
			c, err := flooder.Dial("tcp", l.addr)
			if err != nil {
				t.Fatalf("connection %d to %s: %v", len(conns), l.addr, err)
			}
			conns = append(conns, c)
			if s := l.sends[i%len(l.sends)]; s != "" {
				// A connection over the cap may be closed before this
				// write; that is the point.
				c.Write([]byte(s))
			}
		}
	}
	// One more from the flooding address hears at once that the API is
	// busy, instead of queueing behind the others.
	busy, err := flooder.Dial("tcp", n.Addrs.API)
	if err != nil {
		t.Fatal(err)
	}
	conns = append(conns, busy)
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(busy).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 503") {
		t.Errorf("a connection past the cap heard %q (%v), want a 503 at once", line, err)
	}
	// While the connections are held (they are cut off only after the
	// header timeout, 10 s by default), probe the health endpoint on a
	// fresh connection each time and watch the resident set.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var slowest time.Duration
	peak := before
	for i := 0; i < 20; i++ {
		start := time.Now()
		resp, err := client.Get("http://" + n.Addrs.API + "/healthz")
		took := time.Since(start)
		if err != nil {
			t.Fatalf("/healthz during the flood: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/healthz during the flood: %s", resp.Status)
		}
		slowest = max(slowest, took)
		peak = max(peak, memory(t, n, "VmRSS"))
		time.Sleep(100 * time.Millisecond) // pacing the probes over a second or two, not synchronising
	}
	peak = max(peak, memory(t, n, "VmHWM"))
	fmt.Printf("hostile: %d connections from one address (%d each on API, S3, NBD: silent, cut-off headers, 60 KiB unended headers, 1 TB bodies never sent, NBD options of 64 KiB and 4 GiB never sent): "+
		"RSS %.0f MiB before, %.0f MiB at most while held (bound: +%d MiB); slowest /healthz %v (bound %v)\n",
		len(conns), perListener, before, peak, boundMiB, slowest.Round(time.Millisecond), healthLimit)
	if peak-before > boundMiB {
		t.Errorf("RSS grew %.0f MiB (from %.0f to %.0f) while %d connections were held; bound %d MiB", peak-before, before, peak, len(conns), boundMiB)
	}
	if slowest > healthLimit {
		t.Errorf("/healthz took %v during the flood; bound %v", slowest, healthLimit)
	}
}
