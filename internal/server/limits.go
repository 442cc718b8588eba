package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// hashMemory is the memory the node lets password hashing hold at once:
// a sixteenth of the machine's memory (or of GOMEMLIMIT, when that is
// lower), so that a flood of logins cannot take the node's memory, while
// a real burst of logins still finds several slots.
func hashMemory() int64 {
	mem := int64(1 << 30) // when /proc/meminfo says nothing: assume a small machine
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kib int64
			if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kib); n == 1 {
				mem = kib << 10
				break
			}
		}
		f.Close()
	}
	if limit := debug.SetMemoryLimit(-1); limit < mem {
		mem = limit
	}
	return mem / 16
}

// Connection caps. Each HTTP connection that has not yet sent a whole
// request holds up to the header limit in buffers until the header
// timeout cuts it off, and each NBD connection a goroutine and its
// buffers; without a cap, memory grows with whatever number of
// connections a client cares to open. One client address may hold a
// generous share (a hypervisor host holds one NBD connection per attached
// volume, hence more there); all together are capped too.
const (
	maxConnsPerAddr    = 256
	maxNBDConnsPerAddr = 1024
	maxConns           = 4096
)

// httpBusy is what an HTTP client over a cap hears before the connection
// closes.
var httpBusy = []byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

// connCap counts the connections a listener holds, per client address and
// in total.
type connCap struct {
	perAddr, total int

	mu     sync.Mutex
	n      int
	byAddr map[string]int
}

func newConnCap(perAddr, total int) *connCap {
	return &connCap{perAddr: perAddr, total: total, byAddr: map[string]int{}}
}

// admit counts c if it fits under both caps and returns the function that
// gives its place back; it must be called exactly once.
func (k *connCap) admit(c net.Conn) (release func(), ok bool) {
	addr := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n >= k.total || k.byAddr[addr] >= k.perAddr {
		return nil, false
	}
	k.n++
	k.byAddr[addr]++
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.n--
		if k.byAddr[addr]--; k.byAddr[addr] <= 0 {
			delete(k.byAddr, addr)
		}
	}, true
}

// capListener hands an HTTP server only the connections its cap admits.
// One over the cap is accepted, told it is busy and closed at once, so
// that it neither waits in the kernel's backlog nor costs more than that.
type capListener struct {
	net.Listener
	cap *connCap
}

func (l capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if release, ok := l.cap.admit(c); ok {
			return &cappedConn{Conn: c, release: release}, nil
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(httpBusy)
		c.Close()
	}
}

// cappedConn gives its place back once, however often it is closed.
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ReadFrom keeps the kernel's zero-copy paths (sendfile, splice) that
// net/http uses for response bodies when the connection offers them.
func (c *cappedConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }
