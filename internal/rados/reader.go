//go:build ceph

package rados

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/stowage/stowage/internal/objectstore"
)

// reader returns ranges of blobs (spans), back to back, stripe by
// stripe. Each fetch reads the part of one stripe a span covers, so a
// small range costs one small read; while the caller consumes a stripe,
// the next ones are already being fetched (read-ahead), up to ahead at
// once, across the boundaries between spans (the parts of a multipart
// object).
type reader struct {
	ctx    context.Context
	cancel context.CancelFunc
	s      *Store
	spans  []objectstore.Span // what is still to fetch, the first partly fetched
	queue  []chan fetched
	cur    fetched
	pos    int // read position in cur
	err    error
	ahead  int
}

// fetched is one stripe's bytes, or the error reading them.
type fetched struct {
	buf *[]byte
	n   int
	err error
}

func newReader(ctx context.Context, s *Store, spans []objectstore.Span) *reader {
	ctx, cancel := context.WithCancel(ctx)
	return &reader{ctx: ctx, cancel: cancel, s: s, spans: slices.Clone(spans), ahead: max(s.inFlight/2, 1)}
}

// fill starts fetches until ahead+1 are queued or the spans are covered.
func (r *reader) fill() {
	for len(r.queue) <= r.ahead && len(r.spans) > 0 {
		sp := &r.spans[0]
		if sp.Length <= 0 {
			r.spans = r.spans[1:]
			continue
		}
		id, stripe, off := sp.ID, sp.Offset/StripeSize, sp.Offset%StripeSize
		n := min(StripeSize-off, sp.Length)
		sp.Offset += n
		sp.Length -= n
		ch := make(chan fetched, 1)
		r.queue = append(r.queue, ch)
		go func() {
			buf := r.s.stripes.Get().(*[]byte)
			if r.ctx.Err() != nil {
				ch <- fetched{buf: buf, err: r.ctx.Err()}
				return
			}
			k, err := r.s.io.Read(stripeName(id, stripe), (*buf)[:n], uint64(off))
			if err == nil && int64(k) < n {
				err = fmt.Errorf("rados: stripe %d of %s is %d bytes short: %w", stripe, id, n-int64(k), io.ErrUnexpectedEOF)
			} else if err != nil {
				err = radosErr(fmt.Sprintf("read stripe %d of %s", stripe, id), err)
			}
			ch <- fetched{buf: buf, n: k, err: err}
		}()
	}
}

// advance makes the oldest fetch current, returning the last one's buffer.
func (r *reader) advance() error {
	r.release()
	r.fill()
	if len(r.queue) == 0 {
		return io.EOF
	}
	f := <-r.queue[0]
	r.queue = r.queue[1:]
	r.cur, r.pos = f, 0
	if f.err != nil {
		return f.err
	}
	r.fill() // keep the read-ahead going while this stripe is consumed
	return nil
}

func (r *reader) release() {
	if r.cur.buf != nil {
		r.s.stripes.Put(r.cur.buf)
		r.cur = fetched{}
	}
}

func (r *reader) Read(p []byte) (int, error) {
	for r.err == nil && r.pos >= r.cur.n {
		r.err = r.advance()
	}
	if r.pos < r.cur.n {
		k := copy(p, (*r.cur.buf)[r.pos:r.cur.n])
		r.pos += k
		return k, nil
	}
	return 0, r.err
}

// WriteTo hands each stripe to w whole, without a copy through p.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if r.pos < r.cur.n {
			k, err := w.Write((*r.cur.buf)[r.pos:r.cur.n])
			total += int64(k)
			r.pos += k
			if err != nil {
				return total, err
			}
		}
		if r.err == nil {
			r.err = r.advance()
		}
		if r.err == io.EOF {
			return total, nil
		}
		if r.err != nil {
			return total, r.err
		}
	}
}

// Close stops the read-ahead and waits for the fetches in flight, so that
// no buffer is used after it returns to the pool.
func (r *reader) Close() error {
	r.cancel()
	r.release()
	for _, ch := range r.queue {
		f := <-ch
		r.s.stripes.Put(f.buf)
	}
	r.queue = nil
	if r.err == nil {
		r.err = io.ErrClosedPipe
	}
	return nil
}
