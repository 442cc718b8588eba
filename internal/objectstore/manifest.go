package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Opener opens a range of one blob; Store.Open and every other backend's
// Open have this shape.
type Opener interface {
	Open(ctx context.Context, id string, offset, length int64) (io.ReadCloser, error)
}

// OpenManifest reads length bytes from offset of the blobs ids (whose
// sizes are sizes) as if they were one: the bytes of a multipart object
// whose parts stayed where they were written. Only the parts the range
// touches are opened, one at a time as reading reaches them, so a ranged
// read or a ?partNumber read costs what it would on one blob. It is the
// one reader of manifests, whichever backend holds the parts.
func OpenManifest(ctx context.Context, o Opener, ids []string, sizes []int64, offset, length int64) (io.ReadCloser, error) {
	if len(ids) != len(sizes) {
		return nil, fmt.Errorf("objectstore: manifest of %d blobs has %d sizes", len(ids), len(sizes))
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	if offset < 0 || offset > total || length > total-offset {
		return nil, fmt.Errorf("objectstore: range %d+%d outside a manifest of %d bytes", offset, length, total)
	}
	if length < 0 {
		length = total - offset
	}
	m := &manifestReader{ctx: ctx, o: o, ids: ids, sizes: sizes, left: length}
	// Skip the parts wholly before offset.
	for m.next < len(sizes) && offset >= sizes[m.next] {
		offset -= sizes[m.next]
		m.next++
	}
	m.skip = offset
	return m, nil
}

// manifestReader walks the parts of a manifest in order.
type manifestReader struct {
	ctx   context.Context
	o     Opener
	ids   []string
	sizes []int64
	next  int           // index of the next part to open
	skip  int64         // bytes to skip in the next part (the range's start)
	left  int64         // bytes still to return
	cur   io.ReadCloser // open part, nil between parts
}

// advance opens the next part, reading at most what remains of the range.
func (m *manifestReader) advance() error {
	for m.next < len(m.ids) && m.sizes[m.next]-m.skip <= 0 {
		m.skip = 0 // an empty part
		m.next++
	}
	if m.next >= len(m.ids) {
		return fmt.Errorf("objectstore: manifest ended %d bytes short", m.left)
	}
	n := min(m.sizes[m.next]-m.skip, m.left)
	rc, err := m.o.Open(m.ctx, m.ids[m.next], m.skip, n)
	if err != nil {
		return fmt.Errorf("objectstore: open part %d of manifest: %w", m.next+1, err)
	}
	m.cur, m.skip = &partReader{rc: rc, n: n, part: m.next + 1}, 0
	m.next++
	return nil
}

func (m *manifestReader) Read(p []byte) (int, error) {
	for {
		if m.left == 0 {
			return 0, io.EOF
		}
		if m.cur == nil {
			if err := m.advance(); err != nil {
				return 0, err
			}
		}
		k, err := m.cur.Read(p[:min(int64(len(p)), m.left)])
		m.left -= int64(k)
		if errors.Is(err, io.EOF) {
			m.cur.Close()
			m.cur, err = nil, nil
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// WriteTo copies part after part with io.Copy, so that each part's own
// WriteTo (sendfile for files) does the work.
func (m *manifestReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for m.left > 0 {
		if m.cur == nil {
			if err := m.advance(); err != nil {
				return total, err
			}
		}
		k, err := io.Copy(w, m.cur)
		total += k
		m.left -= k
		m.cur.Close()
		m.cur = nil
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (m *manifestReader) Close() error {
	if m.cur != nil {
		err := m.cur.Close()
		m.cur = nil
		return err
	}
	return nil
}

// partReader checks that a part yields exactly the bytes its manifest
// says: a short part is corruption, never a quietly shorter object.
type partReader struct {
	rc   io.ReadCloser
	n    int64
	part int
}

func (p *partReader) Read(b []byte) (int, error) {
	k, err := p.rc.Read(b)
	p.n -= int64(k)
	if errors.Is(err, io.EOF) && p.n > 0 {
		return k, fmt.Errorf("objectstore: part %d of manifest is %d bytes short: %w", p.part, p.n, io.ErrUnexpectedEOF)
	}
	return k, err
}

func (p *partReader) WriteTo(w io.Writer) (int64, error) {
	k, err := io.Copy(w, p.rc)
	p.n -= k
	if err == nil && p.n > 0 {
		err = fmt.Errorf("objectstore: part %d of manifest is %d bytes short: %w", p.part, p.n, io.ErrUnexpectedEOF)
	}
	return k, err
}

func (p *partReader) Close() error { return p.rc.Close() }
