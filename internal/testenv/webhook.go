package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/webhook"
)

// Delivery is one request a Receiver took: the event id header, whether
// the signature verified under the receiver's secret, and the records.
type Delivery struct {
	ID       string
	SignedOK bool
	Records  []Record
	// Acked is true once the receiver answered 2xx.
	Acked bool
}

// Record is what the tests read of an S3 event record.
type Record struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	EventName    string `json:"eventName"`
	EventTime    string `json:"eventTime"`
	S3           struct {
		ConfigurationID string `json:"configurationId"`
		Bucket          struct {
			Name string `json:"name"`
			ARN  string `json:"arn"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"eTag"`
			VersionID string `json:"versionId"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

// Receiver is a webhook endpoint on loopback that records every delivery
// it is sent. It answers 500 to the first Fail requests, and holds
// requests while blocked (until Unblock or the test ends).
type Receiver struct {
	URL string

	mu        sync.Mutex
	secret    []byte
	fail      int
	all       []Delivery // every request, in arrival order, answered or not
	blocked   chan struct{}
	isBlocked bool
}

// NewReceiver starts a receiver until the test ends.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{blocked: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = srv.URL
	t.Cleanup(func() {
		r.Unblock()
		srv.Close()
	})
	return r
}

// SetSecret is the secret signatures must verify under.
func (r *Receiver) SetSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = []byte(s)
}

// FailNext makes the next n requests answer 500.
func (r *Receiver) FailNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = n
}

// Block holds every request from now on without answering.
func (r *Receiver) Block() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.isBlocked {
		r.blocked, r.isBlocked = make(chan struct{}), true
	}
}

// Unblock answers held requests and those to come.
func (r *Receiver) Unblock() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.isBlocked {
		close(r.blocked)
		r.isBlocked = false
	}
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var msg struct{ Records []Record }
	_ = json.Unmarshal(body, &msg)
	r.mu.Lock()
	d := Delivery{ID: req.Header.Get(webhook.HeaderEventID), Records: msg.Records,
		SignedOK: webhook.Verify(r.secret, req.Header.Get(webhook.HeaderTimestamp), body, req.Header.Get(webhook.HeaderSignature))}
	r.all = append(r.all, d)
	i := len(r.all) - 1
	failing := r.fail > 0
	if failing {
		r.fail--
	}
	blocked, isBlocked := r.blocked, r.isBlocked
	r.mu.Unlock()
	if isBlocked {
		select {
		case <-blocked:
		case <-req.Context().Done():
			return
		}
	}
	if failing {
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	r.mu.Lock()
	r.all[i].Acked = true
	r.mu.Unlock()
}

// Deliveries returns every request received so far.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.all...)
}

// WaitFor polls until cond holds of the deliveries, failing the test at
// the deadline.
func (r *Receiver) WaitFor(t testing.TB, within time.Duration, what string, cond func([]Delivery) bool) []Delivery {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ds := r.Deliveries()
		if cond(ds) {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver: %s not within %v; got %d deliveries", what, within, len(ds))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
	}
}
