package testenv

import (
	"net"
	"net/http"
	"time"
)

// ClientFrom is an HTTP client whose connections come from the loopback
// address ip (any of 127.0.0.0/8 works on Linux), so that one test can be
// many clients to limits kept per client address.
func ClientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}
