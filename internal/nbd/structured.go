package nbd

import (
	"context"
	"encoding/binary"
	"strings"
)

// Structured replies and block status (NBD_OPT_STRUCTURED_REPLY, the meta
// context options and NBD_CMD_BLOCK_STATUS). A client that negotiates them
// learns which ranges of an export are holes, so qemu-img convert, nbdcopy
// and qemu-img map skip them instead of reading zeros.
const (
	optStructuredReply = 8
	optListMetaContext = 9
	optSetMetaContext  = 10

	repMetaContext = 4

	magicStructuredRep = 0x668e33ef

	replyFlagDone = 1 << 0

	replyTypeNone        = 0
	replyTypeOffsetData  = 1
	replyTypeBlockStatus = 5
	replyTypeError       = 1<<15 + 1

	cmdBlockStatus = 7
	cmdFlagReqOne  = 1 << 3

	// base:allocation flags; qemu:allocation-depth counts layers, and a
	// thin pool volume has one: its own map.
	stateHole = 1 << 0
	stateZero = 1 << 1

	ctxBaseAllocation = "base:allocation"
	ctxAllocDepth     = "qemu:allocation-depth"

	// Context ids are fixed per name, so one connection can never confuse
	// them; 0 means "not selected".
	ctxIDBaseAllocation = 1
	ctxIDAllocDepth     = 2

	// maxExtents bounds one BLOCK_STATUS reply: a request over a badly
	// fragmented range answers its first part, and the client asks again
	// from where the reply ended.
	maxExtents = 8192
)

// metaContexts is what a connection negotiated with SET_META_CONTEXT: the
// export it was for and which contexts are on.
type metaContexts struct {
	export     string
	allocation bool
	depth      bool
}

func (m metaContexts) any() bool { return m.allocation || m.depth }

// contextsFor answers the queries of a LIST or SET: the known contexts
// matching them, by id. With no query LIST lists every context; SET needs
// exact names (a namespace alone selects nothing).
func contextsFor(queries []string, list bool) []uint32 {
	known := []struct {
		id   uint32
		name string
	}{{ctxIDBaseAllocation, ctxBaseAllocation}, {ctxIDAllocDepth, ctxAllocDepth}}
	var out []uint32
	for _, k := range known {
		ns, leaf, _ := strings.Cut(k.name, ":")
		for _, q := range queries {
			qns, qleaf, _ := strings.Cut(q, ":")
			if q == k.name || (list && qns == ns && (qleaf == "" || qleaf == leaf)) {
				out = append(out, k.id)
				break
			}
		}
		if list && len(queries) == 0 {
			out = append(out, k.id)
		}
	}
	return out
}

func contextName(id uint32) string {
	if id == ctxIDAllocDepth {
		return ctxAllocDepth
	}
	return ctxBaseAllocation
}

// metaContextOption handles LIST_META_CONTEXT and SET_META_CONTEXT. The
// export name is not resolved here: the contexts are the same for every
// export, and a SET for one name does not carry over to GO for another.
func (c *conn) metaContextOption(opt uint32, data []byte) error {
	if opt == optSetMetaContext && !c.structured {
		return c.optReply(opt, repErrInvalid, []byte("structured replies not negotiated"))
	}
	bad := func() error { return c.optReply(opt, repErrInvalid, []byte("malformed meta context request")) }
	if len(data) < 4 {
		return bad()
	}
	nl := binary.BigEndian.Uint32(data)
	if uint64(nl)+8 > uint64(len(data)) {
		return bad()
	}
	export := string(data[4 : 4+nl])
	rest := data[4+nl:]
	nq := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	var queries []string
	for range nq {
		if len(rest) < 4 {
			return bad()
		}
		ql := binary.BigEndian.Uint32(rest)
		if uint64(ql)+4 > uint64(len(rest)) {
			return bad()
		}
		queries = append(queries, string(rest[4:4+ql]))
		rest = rest[4+ql:]
	}
	if len(rest) != 0 {
		return bad()
	}
	ids := contextsFor(queries, opt == optListMetaContext)
	if opt == optSetMetaContext {
		// Each SET replaces the previous selection.
		c.meta = metaContexts{export: export}
	}
	for _, id := range ids {
		if opt == optSetMetaContext {
			switch id {
			case ctxIDBaseAllocation:
				c.meta.allocation = true
			case ctxIDAllocDepth:
				c.meta.depth = true
			}
		}
		b := binary.BigEndian.AppendUint32(nil, id)
		if err := c.optReply(opt, repMetaContext, append(b, contextName(id)...)); err != nil {
			return err
		}
	}
	return c.optReply(opt, repAck, nil)
}

// chunkHeader is the header of one structured reply chunk.
func chunkHeader(flags, typ uint16, handle uint64, length int) []byte {
	h := make([]byte, 20, 32)
	binary.BigEndian.PutUint32(h[0:], magicStructuredRep)
	binary.BigEndian.PutUint16(h[4:], flags)
	binary.BigEndian.PutUint16(h[6:], typ)
	binary.BigEndian.PutUint64(h[8:], handle)
	binary.BigEndian.PutUint32(h[16:], uint32(length))
	return h
}

// replyRead answers a successful READ: a simple reply with the data, or
// once structured replies are negotiated one OFFSET_DATA chunk (or NONE
// for an empty read). It hands buf back to the pool once sent; mode is
// as in enqueue.
func (c *conn) replyRead(handle, off uint64, data []byte, buf *[]byte, mode sendMode) error {
	if c.structured && len(data) == 0 && buf != nil {
		c.s.bufs.put(buf)
		buf = nil
	}
	return c.enqueue(c.readHeader(handle, off, len(data)), data, buf, mode)
}

// readHeader is the header of the reply to a READ at off that sends n
// bytes of data after it.
func (c *conn) readHeader(handle, off uint64, n int) []byte {
	switch {
	case !c.structured:
		return simpleHeader(handle, 0)
	case n == 0:
		return chunkHeader(replyFlagDone, replyTypeNone, handle, 0)
	}
	return binary.BigEndian.AppendUint64(chunkHeader(replyFlagDone, replyTypeOffsetData, handle, 8+n), off)
}

// replyError answers a request with a structured ERROR chunk.
func (c *conn) replyError(handle uint64, e uint32) error {
	return c.send(errorChunk(handle, e), nil, nil)
}

func errorChunk(handle uint64, e uint32) []byte {
	h := binary.BigEndian.AppendUint32(chunkHeader(replyFlagDone, replyTypeError, handle, 6), e)
	return binary.BigEndian.AppendUint16(h, 0) // no message
}

// blockStatus answers BLOCK_STATUS with one chunk per selected context,
// describing the range from off as a run of extents. The range was
// validated against the export's size.
func (c *conn) blockStatus(ctx context.Context, exp Export, r request) error {
	if !c.meta.any() {
		return c.reply(r.handle, errInval)
	}
	if r.length == 0 {
		return c.replyError(r.handle, errInval)
	}
	type extent struct {
		n         uint32
		allocated bool
	}
	var exts []extent
	off, end := int64(r.off), int64(r.off)+int64(r.length)
	for off < end && len(exts) < maxExtents {
		n, allocated, err := exp.Allocated(ctx, off, end-off)
		if err != nil {
			c.s.log.Warn("nbd block status failed", "remote", c.nc.RemoteAddr().String(),
				"offset", off, "length", end-off, "err", err)
			return c.replyError(r.handle, errno(err))
		}
		if n <= 0 || n > end-off {
			return c.replyError(r.handle, errIO) // the export broke its contract
		}
		if k := len(exts); k > 0 && exts[k-1].allocated == allocated {
			exts[k-1].n += uint32(n)
		} else {
			exts = append(exts, extent{uint32(n), allocated})
		}
		off += n
		if r.flags&cmdFlagReqOne != 0 {
			break
		}
	}
	ids := make([]uint32, 0, 2)
	if c.meta.allocation {
		ids = append(ids, ctxIDBaseAllocation)
	}
	if c.meta.depth {
		ids = append(ids, ctxIDAllocDepth)
	}
	for i, id := range ids {
		flags := uint16(0)
		if i == len(ids)-1 {
			flags = replyFlagDone
		}
		body := binary.BigEndian.AppendUint32(make([]byte, 0, 4+8*len(exts)), id)
		for _, e := range exts {
			var st uint32
			switch {
			case id == ctxIDBaseAllocation && !e.allocated:
				st = stateHole | stateZero
			case id == ctxIDAllocDepth && e.allocated:
				st = 1
			}
			body = binary.BigEndian.AppendUint32(body, e.n)
			body = binary.BigEndian.AppendUint32(body, st)
		}
		if err := c.send(chunkHeader(flags, replyTypeBlockStatus, r.handle, len(body)), body, nil); err != nil {
			return err
		}
	}
	return nil
}
