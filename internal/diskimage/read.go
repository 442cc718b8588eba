package diskimage

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/stowage/stowage/internal/errs"
)

// Formats.
const (
	Raw   = "raw"
	Qcow2 = "qcow2"
)

// Target receives an image's data. Ranges never written read as zeros
// (a new thin volume).
type Target interface {
	WriteAt(ctx context.Context, b []byte, off int64) error
	Flush(ctx context.Context) error
}

// Info describes an image.
type Info struct {
	Format      string
	VirtualSize int64 // bytes the disk holds
}

const (
	qcowMagic = 0x514649fb // "QFI\xfb"
	// readBuf bounds one read from the source: data runs are coalesced up
	// to it, and raw images are read in pieces of it.
	readBuf = 4 << 20
	// maxVirtualSize bounds what a header may claim (64 TiB), far above
	// any volume, so that table sizes computed from it stay sane.
	maxVirtualSize = 64 << 40
)

// qcow2 incompatible feature bits.
const (
	incDirty       = 1 << 0
	incCorrupt     = 1 << 1
	incExternal    = 1 << 2
	incCompression = 1 << 3
	incExtendedL2  = 1 << 4
)

// l2 entry bits.
const (
	entryCopied     = 1 << 63
	entryCompressed = 1 << 62
	entryZero       = 1 << 0
	offsetMask      = 0x00fffffffffffe00
)

type qcowHeader struct {
	version     uint32
	clusterBits uint32
	virtualSize int64
	l1Size      uint32
	l1Offset    int64
}

func invalid(format string, a ...any) error {
	return errs.E(errs.Invalid, "image: "+format, a...)
}

// IsQcow2 reports whether an image starting with head is a qcow2 image
// (by its magic; Probe checks the rest of the header).
func IsQcow2(head []byte) bool {
	return len(head) >= 4 && binary.BigEndian.Uint32(head) == qcowMagic
}

// Probe reads an image's header. format is Raw, Qcow2, or "" to detect
// by the qcow2 magic (anything else is raw).
func Probe(ctx context.Context, src io.ReaderAt, size int64, format string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	switch format {
	case Raw:
		return Info{Format: Raw, VirtualSize: size}, nil
	case Qcow2, "":
	default:
		return Info{}, errs.Field("format", "image format must be raw or qcow2")
	}
	var magic [4]byte
	if _, err := src.ReadAt(magic[:], 0); err != nil && !(format == "" && errors.Is(err, io.EOF)) {
		return Info{}, fmt.Errorf("image: read header: %w", err)
	}
	if !IsQcow2(magic[:]) {
		if format == Qcow2 {
			return Info{}, invalid("not a qcow2 image")
		}
		return Info{Format: Raw, VirtualSize: size}, nil
	}
	h, err := readQcowHeader(src, size)
	if err != nil {
		return Info{}, err
	}
	return Info{Format: Qcow2, VirtualSize: h.virtualSize}, nil
}

func readQcowHeader(src io.ReaderAt, size int64) (qcowHeader, error) {
	var b [104]byte
	n, err := src.ReadAt(b[:], 0)
	if n < 72 {
		return qcowHeader{}, invalid("qcow2 header is truncated: %v", err)
	}
	be := binary.BigEndian
	h := qcowHeader{
		version:     be.Uint32(b[4:]),
		clusterBits: be.Uint32(b[20:]),
		virtualSize: int64(be.Uint64(b[24:])),
		l1Size:      be.Uint32(b[36:]),
		l1Offset:    int64(be.Uint64(b[40:])),
	}
	if h.version != 2 && h.version != 3 {
		return h, invalid("qcow2 version %d is not supported", h.version)
	}
	if be.Uint64(b[8:]) != 0 || be.Uint32(b[16:]) != 0 {
		return h, invalid("qcow2 images with a backing file are not accepted")
	}
	if h.clusterBits < 9 || h.clusterBits > 21 {
		return h, invalid("qcow2 cluster bits %d out of range", h.clusterBits)
	}
	if be.Uint32(b[32:]) != 0 {
		return h, invalid("encrypted qcow2 images are not supported")
	}
	if h.virtualSize < 0 || h.virtualSize > maxVirtualSize {
		return h, invalid("qcow2 virtual size %d out of range", h.virtualSize)
	}
	if h.version == 3 {
		if n < 104 {
			return h, invalid("qcow2 v3 header is truncated")
		}
		inc := be.Uint64(b[72:])
		switch {
		case inc&incCorrupt != 0:
			return h, invalid("the qcow2 image is marked corrupt")
		case inc&incExternal != 0:
			return h, invalid("qcow2 images with an external data file are not accepted")
		case inc&incCompression != 0:
			return h, invalid("qcow2 compression types other than zlib are not supported")
		case inc&incExtendedL2 != 0:
			return h, invalid("qcow2 extended L2 entries are not supported")
		case inc&^uint64(incDirty) != 0:
			return h, invalid("qcow2 incompatible features %#x are not supported", inc)
		}
	}
	cluster := int64(1) << h.clusterBits
	perL2 := cluster / 8
	need := (h.virtualSize + cluster*perL2 - 1) / (cluster * perL2)
	if int64(h.l1Size) < need {
		return h, invalid("qcow2 L1 table of %d entries does not cover the virtual size", h.l1Size)
	}
	// Entries past the virtual size (left by a shrink) map nothing we
	// read; only the ones that matter are loaded, which bounds memory by
	// the virtual size.
	h.l1Size = uint32(need)
	if h.l1Offset%cluster != 0 || h.l1Offset <= 0 || h.l1Offset+int64(h.l1Size)*8 > size {
		return h, invalid("qcow2 L1 table offset %d out of range", h.l1Offset)
	}
	return h, nil
}

// Import copies the image in src (size bytes; format as for Probe) into t
// and flushes it. Zero and unallocated ranges are not written, so t must
// read as zeros where nothing is written (a new thin volume) and be at
// least VirtualSize bytes. It returns the image's Info and the bytes
// written.
func Import(ctx context.Context, src io.ReaderAt, size int64, format string, t Target) (Info, int64, error) {
	info, err := Probe(ctx, src, size, format)
	if err != nil {
		return info, 0, err
	}
	var written int64
	if info.Format == Raw {
		written, err = importRaw(ctx, src, size, t)
	} else {
		written, err = importQcow2(ctx, src, size, t)
	}
	if err == nil {
		err = t.Flush(ctx)
	}
	if err != nil {
		return info, written, fmt.Errorf("import %s image: %w", info.Format, err)
	}
	return info, written, nil
}

// zeroBlock is the granularity at which data is checked for zeros.
const zeroBlock = 64 << 10

// workers is how many pieces of an image are read and written at once: a
// read from a bucket is a round trip, and a thin volume takes concurrent
// writes to different chunks.
const workers = 4

// IsZero reports whether b holds only zero bytes: such blocks are holes,
// skipped so that volumes stay thin (imports here, backups in
// internal/backup).
func IsZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// writeNonZero writes the parts of b (at off) that are not all zeros.
func writeNonZero(ctx context.Context, t Target, b []byte, off int64) (int64, error) {
	var written int64
	block := func(i int) []byte { return b[i:min(len(b), i+zeroBlock)] }
	for i := 0; i < len(b); {
		if IsZero(block(i)) {
			i += zeroBlock
			continue
		}
		j := i + zeroBlock
		for j < len(b) && !IsZero(block(j)) {
			j += zeroBlock
		}
		j = min(j, len(b))
		if err := t.WriteAt(ctx, b[i:j], off+int64(i)); err != nil {
			return written, err
		}
		written += int64(j - i)
		i = j
	}
	return written, nil
}

// piece is n bytes of the image at host that land at guest in the disk,
// of which valid fall inside the virtual size; or, when compressed, one
// deflated cluster stored in n bytes at host.
type piece struct {
	guest, host, n, valid int64
	compressed            bool
}

// copier copies pieces with several in flight; the first error stops it.
type copier struct {
	ctx     context.Context
	cancel  context.CancelFunc
	src     io.ReaderAt
	size    int64 // the image's bytes
	cluster int64 // inflated size of a compressed piece
	t       Target
	pieces  chan piece
	wg      sync.WaitGroup
	once    sync.Once
	err     error
	written atomic.Int64
}

func newCopier(ctx context.Context, src io.ReaderAt, size, cluster int64, t Target) *copier {
	c := &copier{src: src, size: size, cluster: cluster, t: t, pieces: make(chan piece)}
	c.ctx, c.cancel = context.WithCancel(ctx)
	for range workers {
		c.wg.Add(1)
		go c.work()
	}
	return c
}

func (c *copier) fail(err error) {
	c.once.Do(func() { c.err = err; c.cancel() })
}

// put hands a piece to a worker; it fails once the copy has.
func (c *copier) put(p piece) error {
	select {
	case c.pieces <- p:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// wait ends the copy and returns the bytes written and the first error.
func (c *copier) wait() (int64, error) {
	close(c.pieces)
	c.wg.Wait()
	c.cancel()
	return c.written.Load(), c.err
}

func (c *copier) work() {
	defer c.wg.Done()
	var buf, out []byte
	var fr io.ReadCloser // one inflater per worker, reset per cluster
	for p := range c.pieces {
		if c.ctx.Err() != nil {
			continue // drain
		}
		if int64(cap(buf)) < p.n {
			buf = make([]byte, max(p.n, readBuf))
		}
		b := buf[:p.n]
		if k, err := c.src.ReadAt(b, p.host); err != nil && !(errors.Is(err, io.EOF) && (k == len(b) || p.compressed)) {
			c.fail(fmt.Errorf("read at %d: %w", p.host, err))
			continue
		} else if p.compressed {
			b = b[:k]
		}
		data := b[:p.valid]
		if p.compressed {
			if out == nil {
				out = make([]byte, c.cluster)
			}
			if fr == nil {
				fr = flate.NewReader(bytes.NewReader(b))
			} else if err := fr.(flate.Resetter).Reset(bytes.NewReader(b), nil); err != nil {
				c.fail(err)
				continue
			}
			k, err := io.ReadFull(fr, out)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				c.fail(invalid("qcow2 compressed cluster at %d: %v", p.host, err))
				continue
			}
			clear(out[k:])
			data = out[:p.valid]
		}
		w, err := writeNonZero(c.ctx, c.t, data, p.guest)
		c.written.Add(w)
		if err != nil {
			c.fail(err)
		}
	}
}

func importRaw(ctx context.Context, src io.ReaderAt, size int64, t Target) (int64, error) {
	c := newCopier(ctx, src, size, 0, t)
	for off := int64(0); off < size; off += readBuf {
		n := min(readBuf, size-off)
		if c.put(piece{guest: off, host: off, n: n, valid: n}) != nil {
			break
		}
	}
	return c.wait()
}

// run is a stretch of guest clusters stored contiguously in the image.
type run struct {
	guest, host, n int64
}

func importQcow2(ctx context.Context, src io.ReaderAt, size int64, t Target) (int64, error) {
	h, err := readQcowHeader(src, size)
	if err != nil {
		return 0, err
	}
	cluster := int64(1) << h.clusterBits
	l1 := make([]byte, int64(h.l1Size)*8)
	if _, err := src.ReadAt(l1, h.l1Offset); err != nil {
		return 0, fmt.Errorf("read L1 table: %w", err)
	}
	l2 := make([]byte, cluster)
	c := newCopier(ctx, src, size, cluster, t)
	err = walkQcow2(h, src, size, l1, l2, c)
	n, cerr := c.wait()
	if err == nil {
		err = cerr
	}
	return n, err
}

// walkQcow2 hands c every stored range of the image, in guest order:
// runs of contiguous data clusters in pieces of up to readBuf, and
// compressed clusters one by one.
func walkQcow2(h qcowHeader, src io.ReaderAt, size int64, l1, l2 []byte, c *copier) error {
	cluster := int64(1) << h.clusterBits
	perL2 := cluster / 8
	var pending run
	flush := func() error {
		for pending.n > 0 {
			n := min(pending.n, max(readBuf, cluster))
			if err := c.put(piece{guest: pending.guest, host: pending.host, n: n, valid: min(n, h.virtualSize-pending.guest)}); err != nil {
				return err
			}
			pending.guest, pending.host, pending.n = pending.guest+n, pending.host+n, pending.n-n
		}
		return nil
	}
	for i := range int64(h.l1Size) {
		l2Off := int64(binary.BigEndian.Uint64(l1[i*8:]) & offsetMask)
		if l2Off == 0 {
			continue
		}
		if l2Off%cluster != 0 || l2Off+cluster > size {
			return invalid("qcow2 L2 table offset %d out of range", l2Off)
		}
		if _, err := src.ReadAt(l2, l2Off); err != nil {
			return fmt.Errorf("read L2 table: %w", err)
		}
		for j := range perL2 {
			guest := (i*perL2 + j) * cluster
			if guest >= h.virtualSize {
				break
			}
			e := binary.BigEndian.Uint64(l2[j*8:])
			if e&entryCompressed != 0 {
				if err := flush(); err != nil {
					return err
				}
				p, err := compressedPiece(h, e, size, guest)
				if err != nil {
					return err
				}
				if err := c.put(p); err != nil {
					return err
				}
				continue
			}
			host := int64(e & offsetMask)
			if host == 0 || (h.version == 3 && e&entryZero != 0) {
				continue // unallocated (no backing file: zeros) or a zero cluster
			}
			if host%cluster != 0 || host+min(cluster, h.virtualSize-guest) > size {
				return invalid("qcow2 data cluster offset %d out of range", host)
			}
			if pending.n > 0 && pending.guest+pending.n == guest && pending.host+pending.n == host {
				pending.n += cluster
				continue
			}
			if err := flush(); err != nil {
				return err
			}
			pending = run{guest, host, cluster}
		}
	}
	return flush()
}

// compressedPiece locates one compressed cluster (zlib deflate, no
// header) from its L2 entry.
func compressedPiece(h qcowHeader, e uint64, size, guest int64) (piece, error) {
	x := 62 - (h.clusterBits - 8)
	host := int64(e & (1<<x - 1))
	sectors := int64((e>>x)&(1<<(62-x)-1)) + 1
	n := sectors*512 - host%512
	if host <= 0 || n <= 0 || host >= size || host+n > size+512 { // the last sector may be short
		return piece{}, invalid("qcow2 compressed cluster at %d out of range", host)
	}
	cluster := int64(1) << h.clusterBits
	return piece{guest: guest, host: host, n: min(n, size-host), valid: min(cluster, h.virtualSize-guest), compressed: true}, nil
}
