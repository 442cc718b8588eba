package s3

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts requests, bytes and latency per S3 operation.
type metrics struct {
	requests *prometheus.CounterVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stowage_s3_requests_total", Help: "S3 requests by operation and HTTP status.",
		}, []string{"op", "code"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stowage_s3_received_bytes_total", Help: "Payload bytes received by S3 operation.",
		}, []string{"op"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stowage_s3_sent_bytes_total", Help: "Body bytes sent by S3 operation.",
		}, []string{"op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "stowage_s3_request_duration_seconds", Help: "S3 request latency by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"op"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.bytesIn, m.bytesOut, m.latency} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("s3: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(op string, status int, in, out int64, d time.Duration) {
	m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	if in > 0 {
		m.bytesIn.WithLabelValues(op).Add(float64(in))
	}
	if out > 0 {
		m.bytesOut.WithLabelValues(op).Add(float64(out))
	}
	m.latency.WithLabelValues(op).Observe(d.Seconds())
}
