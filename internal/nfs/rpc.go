package nfs

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
)

// ONC RPC (RFC 5531) over TCP with record marking.
const (
	msgCall  = 0
	msgReply = 1

	msgAccepted = 0
	msgDenied   = 1

	acceptSuccess      = 0
	acceptProgUnavail  = 1
	acceptProgMismatch = 2
	acceptProcUnavail  = 3
	acceptGarbageArgs  = 4
	acceptSystemErr    = 5

	rejectRPCMismatch = 0
	rejectAuthError   = 1
	authRejectedCred  = 2

	authNone = 0
	authUnix = 1

	// maxRecord bounds one call: a 1 MiB WRITE plus headers.
	maxRecord = 1<<20 + 64<<10
)

// call is one decoded RPC call.
type call struct {
	xid, prog, vers, proc uint32
	// The AUTH_UNIX credential as sent; hasUnix is false for AUTH_NONE.
	uid, gid uint32
	gids     []uint32
	hasUnix  bool
	args     reader
	// conn is the connection the call came on (nil when a test calls
	// dispatch directly) and peer the client's address.
	conn *conn
	peer netip.Addr
}

// errRecordTooLarge ends a connection whose record would pass maxRecord.
var errRecordTooLarge = fmt.Errorf("nfs: record of more than %d bytes", maxRecord)

// minChunk is the first read of a fragment's body.
const minChunk = 4 << 10

// readRecord reads one record, joining its fragments. A fragment's
// declared length is a claim, not a size to reserve: the buffer grows
// with the bytes that actually arrive (at most doubling, from minChunk),
// so a client that announces a megabyte and sends nothing costs a few
// kilobytes. A record whose fragments add up to more than maxRecord is
// refused before its body is read, and the caller closes the connection:
// past a bad record mark the stream cannot be resynchronised.
func readRecord(r io.Reader) ([]byte, error) {
	var buf []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h & 0x7fffffff)
		if n > maxRecord-len(buf) {
			return nil, errRecordTooLarge
		}
		for n > 0 {
			chunk := min(n, max(minChunk, len(buf)))
			start := len(buf)
			buf = slices.Grow(buf, chunk)[:start+chunk]
			if _, err := io.ReadFull(r, buf[start:]); err != nil {
				return nil, err
			}
			n -= chunk
		}
		if h&0x80000000 != 0 {
			return buf, nil
		}
	}
}

// parseCall decodes the call header; ok=false means the record is not a
// call at all and is dropped, as RFC 5531 allows.
func parseCall(rec []byte) (c call, ok bool, rejected *writer) {
	r := reader{b: rec}
	c.xid = r.u32()
	if r.u32() != msgCall || r.err != nil {
		return c, false, nil
	}
	if vers := r.u32(); vers != 2 {
		w := replyHeader(c.xid)
		w.u32(msgDenied)
		w.u32(rejectRPCMismatch)
		w.u32(2)
		w.u32(2)
		return c, true, w
	}
	c.prog, c.vers, c.proc = r.u32(), r.u32(), r.u32()
	flavor := r.u32()
	body := r.opaque(400)
	r.u32() // verifier flavor
	r.opaque(400)
	if r.err != nil {
		return c, false, nil
	}
	switch flavor {
	case authNone:
	case authUnix:
		cr := reader{b: body}
		cr.u32()       // stamp
		cr.string(255) // machine name
		c.uid, c.gid = cr.u32(), cr.u32()
		if n := cr.u32(); n <= 16 {
			for range n {
				c.gids = append(c.gids, cr.u32())
			}
		} else {
			cr.err = errGarbage
		}
		if cr.err == nil {
			c.hasUnix = true
		}
	default:
		w := replyHeader(c.xid)
		w.u32(msgDenied)
		w.u32(rejectAuthError)
		w.u32(authRejectedCred)
		return c, true, w
	}
	c.args = r
	return c, true, nil
}

func replyHeader(xid uint32) *writer {
	w := &writer{b: make([]byte, 4, 256)} // room for the record mark
	w.u32(xid)
	w.u32(msgReply)
	return w
}

// acceptedReply starts a reply with the given accept status.
func acceptedReply(xid, stat uint32) *writer {
	w := replyHeader(xid)
	w.u32(msgAccepted)
	w.u32(authNone)
	w.u32(0)
	w.u32(stat)
	return w
}

// record finishes w as one last-fragment record.
func (w *writer) record() []byte {
	binary.BigEndian.PutUint32(w.b[:4], uint32(len(w.b)-4)|0x80000000)
	return w.b
}
