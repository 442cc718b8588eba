//go:build ceph

package rados

import (
	"context"
	"fmt"
	"io"
)

// reader returns a range of a blob stripe by stripe. Each fetch reads the
// part of one stripe the range covers, so a small range costs one small
// read; while the caller consumes a stripe, the next ones are already
// being fetched (read-ahead), up to ahead at once.
type reader struct {
	ctx    context.Context
	cancel context.CancelFunc
	s      *Store
	id     string
	next   int64 // offset of the next fetch to start
	end    int64 // offset just past the range
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

func newReader(ctx context.Context, s *Store, id string, offset, length int64) *reader {
	ctx, cancel := context.WithCancel(ctx)
	return &reader{ctx: ctx, cancel: cancel, s: s, id: id, next: offset, end: offset + length, ahead: max(s.inFlight/2, 1)}
}

// fill starts fetches until ahead+1 are queued or the range is covered.
func (r *reader) fill() {
	for len(r.queue) <= r.ahead && r.next < r.end {
		stripe := r.next / StripeSize
		off := r.next % StripeSize
		n := min(StripeSize-off, r.end-r.next)
		ch := make(chan fetched, 1)
		r.queue = append(r.queue, ch)
		r.next += n
		go func() {
			buf := r.s.stripes.Get().(*[]byte)
			if r.ctx.Err() != nil {
				ch <- fetched{buf: buf, err: r.ctx.Err()}
				return
			}
			k, err := r.s.io.Read(stripeName(r.id, stripe), (*buf)[:n], uint64(off))
			if err == nil && int64(k) < n {
				err = fmt.Errorf("rados: stripe %d of %s is %d bytes short: %w", stripe, r.id, n-int64(k), io.ErrUnexpectedEOF)
			} else if err != nil {
				err = radosErr(fmt.Sprintf("read stripe %d of %s", stripe, r.id), err)
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
