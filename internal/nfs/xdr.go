package nfs

import (
	"encoding/binary"
	"errors"
)

// errGarbage is a call whose arguments do not decode.
var errGarbage = errors.New("nfs: undecodable arguments")

// reader decodes XDR (RFC 4506) from one record; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errGarbage
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 { return uint64(r.u32())<<32 | uint64(r.u32()) }

func (r *reader) bool() bool { return r.u32() != 0 }

// opaque reads variable-length opaque data of at most max bytes. The
// result aliases the record.
func (r *reader) opaque(max int) []byte {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if int64(n) > int64(max) || int(n) > len(r.b) {
		r.err = errGarbage
		return nil
	}
	pad := (4 - n%4) % 4
	if int(n+pad) > len(r.b) {
		r.err = errGarbage
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n+pad:]
	return v
}

func (r *reader) fixed(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errGarbage
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string(max int) string { return string(r.opaque(max)) }

// writer encodes XDR into a growing buffer.
type writer struct{ b []byte }

func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

func (w *writer) bool(v bool) {
	if v {
		w.u32(1)
	} else {
		w.u32(0)
	}
}

func (w *writer) opaque(v []byte) {
	w.u32(uint32(len(v)))
	w.b = append(w.b, v...)
	for i := len(v) % 4; i != 0 && i < 4; i++ {
		w.b = append(w.b, 0)
	}
}

func (w *writer) fixed(v []byte) { w.b = append(w.b, v...) }

func (w *writer) string(v string) { w.opaque([]byte(v)) }
