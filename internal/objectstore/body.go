package objectstore

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/stowage/stowage/internal/checksum"
	"github.com/stowage/stowage/internal/errs"
)

// Body is a request body on its way into a store: read in the chunks the
// store wants, counted against PutOptions.Limit, hashed (MD5 and the
// requested checksums) and then encrypted when asked, in one pass. Every
// backend's Put reads through it, so what a blob's digests and limits mean
// does not depend on where its bytes go.
type Body struct {
	r      io.Reader
	o      PutOptions
	etag   hash.Hash // MD5, the ETag of a single-part PUT
	hashes []hash.Hash
	sums   map[checksum.Algorithm]hash.Hash
	n      int64
	eof    bool
	inline []byte
}

// NewBody prepares to read r as o says; an unknown checksum algorithm is
// errs.Invalid.
func NewBody(r io.Reader, o PutOptions) (*Body, error) {
	return newBody(r, o, md5.New())
}

// newBody is NewBody with the MD5 to compute the ETag with.
func newBody(r io.Reader, o PutOptions, etag hash.Hash) (*Body, error) {
	b := &Body{r: r, o: o, etag: etag, sums: make(map[checksum.Algorithm]hash.Hash, len(o.Checksums))}
	b.hashes = append(b.hashes, b.etag)
	for _, a := range o.Checksums {
		if _, dup := b.sums[a]; dup {
			continue
		}
		h := a.New()
		if h == nil {
			return nil, errs.E(errs.Invalid, "unsupported checksum algorithm %q", a)
		}
		b.sums[a] = h
		b.hashes = append(b.hashes, h)
	}
	return b, nil
}

// Head reads the first bytes into buf (which must hold more than
// o.InlineMax) and decides: a body that ends within InlineMax is inline,
// kept for Blob; a longer one is returned as head, the first bytes to
// store. Without InlineMax it reads nothing.
func (b *Body) Head(ctx context.Context, buf []byte) (head []byte, inline bool, err error) {
	if b.o.InlineMax <= 0 {
		return nil, false, nil
	}
	k, err := b.Fill(ctx, buf[:min(b.o.InlineMax, len(buf)-1)+1])
	switch {
	case err == io.EOF:
		b.inline = append(make([]byte, 0, k), buf[:k]...)
		return nil, true, nil
	case err != nil:
		return nil, false, err
	}
	return buf[:k], false, nil
}

// Fill reads the next bytes into p, as they are to be stored, filling it
// unless the body ends; at the end it returns io.EOF (with the last bytes,
// if any, and on every later call). A body longer than o.Limit is
// errs.TooLarge; the reader's own errors are wrapped intact for errors.As.
func (b *Body) Fill(ctx context.Context, p []byte) (int, error) {
	k, err := b.Receive(ctx, p)
	b.Digest(p[:k])
	return k, err
}

// Receive is Fill without Digest: it reads and counts the bytes as they
// came. A store that hashes one buffer while it receives the next calls
// Digest on each buffer Receive filled, in order, before storing it;
// the two may run on different goroutines, Receive for buffer n+1
// beside Digest for buffer n, as they share no state.
func (b *Body) Receive(ctx context.Context, p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("objectstore: write: %w", err)
	}
	k, rerr := io.ReadFull(b.r, p)
	if k > 0 {
		b.n += int64(k)
		if b.o.Limit > 0 && b.n > b.o.Limit {
			return 0, errs.E(errs.TooLarge, "the body is larger than the %d bytes allowed", b.o.Limit)
		}
	}
	if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
		b.eof = true
		return k, io.EOF
	}
	if rerr != nil {
		return k, fmt.Errorf("objectstore: read body: %w", rerr)
	}
	return k, nil
}

// Digest adds received bytes to the MD5 and checksums, then turns them
// into what is stored (encrypts them in place when asked).
func (b *Body) Digest(p []byte) {
	if len(p) == 0 {
		return
	}
	for _, h := range b.hashes {
		h.Write(p)
	}
	if b.o.Encrypt != nil {
		b.o.Encrypt.XORKeyStream(p, p)
	}
}

// Blob describes what was read: stored under id, or inline when Head said
// so (id is then "").
func (b *Body) Blob(id string) Blob {
	out := Blob{ID: id, Size: b.n, MD5: b.etag.Sum(nil), Checksums: make(map[checksum.Algorithm][]byte, len(b.sums))}
	if id == "" {
		out.Inline = b.inline
		if out.Inline == nil {
			out.Inline = []byte{}
		}
	}
	for a, h := range b.sums {
		out.Checksums[a] = h.Sum(nil)
	}
	return out
}
