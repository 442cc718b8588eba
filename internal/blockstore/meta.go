package blockstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync/atomic"
)

// The radix map: a root page maps 512 mid pages, a mid page maps 512 leaf
// pages, a leaf page maps 512 chunks. With 64 KiB chunks a leaf covers
// 32 MiB, a mid page 16 GiB and a root 8 TiB.
const (
	fanoutBits = 9
	fanout     = 1 << fanoutBits
	levels     = 3 // root = level 2, mid = 1, leaf = 0
	idMask     = 1<<40 - 1
)

// page is one 4 KiB map page: 512 entries of 8 bytes. The low 40 bits of an
// entry are a page or chunk id; 0 means unmapped. The high 24 bits are
// reserved for flags (a future sub-chunk written mask).
type page [fanout]uint64

// volRec is a volume, snapshot or clone. All three are peers: each owns one
// reference to its root page and nothing else distinguishes them but
// readOnly.
type volRec struct {
	name     string
	num      uint64 // stable internal number; spreads lock stripes
	root     uint64
	readOnly bool
	size     atomic.Int64
	deleted  atomic.Bool
}

// state is the part of the metadata that is persisted.
type state struct {
	txid    uint64
	hwm     uint64 // ids below hwm have been handed out at least once; id 0 is never used
	nextNum uint64
	vols    map[string]*volRec
	pages   map[uint64]*page
	refs    []uint32
}

func newState() *state {
	return &state{hwm: 1, nextNum: 1, vols: map[string]*volRec{}, pages: map[uint64]*page{}}
}

func (s *state) ref(id uint64) uint32 {
	if id >= uint64(len(s.refs)) {
		return 0
	}
	return s.refs[id]
}

func (s *state) setRef(id uint64, v uint32) {
	for id >= uint64(len(s.refs)) {
		n := len(s.refs) * 2
		if n < 1024 {
			n = 1024
		}
		grown := make([]uint32, n)
		copy(grown, s.refs)
		s.refs = grown
	}
	s.refs[id] = v
}

// Journal records and checkpoints share one framing: magic, payload length,
// CRC32C of the payload, payload. A record whose frame or checksum does not
// verify ends the journal.
const (
	recMagic  = 0x53574131 // "SWA1"
	recHeader = 12
	maxRecord = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func frame(payload []byte) []byte {
	out := make([]byte, recHeader, recHeader+len(payload))
	binary.LittleEndian.PutUint32(out[0:], recMagic)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(out[8:], crc32.Checksum(payload, castagnoli))
	return append(out, payload...)
}

// unframe returns the payload of the record at the start of b and the
// record's total length, or ok=false if b does not start with a whole,
// valid record.
func unframe(b []byte) (payload []byte, n int, ok bool) {
	if len(b) < recHeader || binary.LittleEndian.Uint32(b[0:]) != recMagic {
		return nil, 0, false
	}
	l := int(binary.LittleEndian.Uint32(b[4:]))
	if l > maxRecord || len(b)-recHeader < l {
		return nil, 0, false
	}
	payload = b[recHeader : recHeader+l]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[8:]) {
		return nil, 0, false
	}
	return payload, recHeader + l, true
}

// delta is one transaction: the absolute new values of everything it
// changed. Replaying a delta twice is harmless, which keeps recovery simple.
type delta struct {
	txid    uint64
	hwm     uint64
	nextNum uint64
	putVols []*volRec
	delVols []string
	refs    map[uint64]uint32
	pages   map[uint64]*page // nil value: page freed
}

const (
	opPutVol = 1
	opDelVol = 2
)

func (d *delta) encode() []byte {
	b := make([]byte, 0, 64+len(d.refs)*12+len(d.pages)*64)
	le := binary.LittleEndian
	b = le.AppendUint64(b, d.txid)
	b = le.AppendUint64(b, d.hwm)
	b = le.AppendUint64(b, d.nextNum)
	b = le.AppendUint32(b, uint32(len(d.putVols)+len(d.delVols)))
	for _, v := range d.putVols {
		b = append(b, opPutVol)
		b = le.AppendUint16(b, uint16(len(v.name)))
		b = append(b, v.name...)
		b = le.AppendUint64(b, v.num)
		b = le.AppendUint64(b, v.root)
		b = le.AppendUint64(b, uint64(v.size.Load()))
		ro := byte(0)
		if v.readOnly {
			ro = 1
		}
		b = append(b, ro)
	}
	for _, name := range d.delVols {
		b = append(b, opDelVol)
		b = le.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
	}
	b = le.AppendUint32(b, uint32(len(d.refs)))
	for id, r := range d.refs {
		b = le.AppendUint64(b, id)
		b = le.AppendUint32(b, r)
	}
	b = le.AppendUint32(b, uint32(len(d.pages)))
	for id, pg := range d.pages {
		b = le.AppendUint64(b, id)
		if pg == nil {
			b = le.AppendUint16(b, 0xffff) // freed
			continue
		}
		n := 0
		for _, e := range pg {
			if e != 0 {
				n++
			}
		}
		b = le.AppendUint16(b, uint16(n))
		for i, e := range pg {
			if e != 0 {
				b = le.AppendUint16(b, uint16(i))
				b = le.AppendUint64(b, e)
			}
		}
	}
	return b
}

var errShort = errors.New("short record")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.err = errShort
		return make([]byte, n)
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}
func (d *decoder) u8() byte    { return d.take(1)[0] }
func (d *decoder) u16() uint16 { return binary.LittleEndian.Uint16(d.take(2)) }
func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.take(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.take(8)) }

// apply decodes a delta payload and applies it to s.
func (s *state) apply(payload []byte) error {
	d := &decoder{b: payload}
	s.txid = d.u64()
	s.hwm = d.u64()
	s.nextNum = d.u64()
	nv := d.u32()
	for i := uint32(0); i < nv && d.err == nil; i++ {
		op := d.u8()
		name := string(d.take(int(d.u16())))
		switch op {
		case opPutVol:
			v := &volRec{name: name, num: d.u64(), root: d.u64()}
			v.size.Store(int64(d.u64()))
			v.readOnly = d.u8() == 1
			s.vols[name] = v
		case opDelVol:
			delete(s.vols, name)
		default:
			return fmt.Errorf("bad volume op %d", op)
		}
	}
	nr := d.u32()
	for i := uint32(0); i < nr && d.err == nil; i++ {
		id := d.u64()
		s.setRef(id, d.u32())
	}
	np := d.u32()
	for i := uint32(0); i < np && d.err == nil; i++ {
		id := d.u64()
		n := d.u16()
		if n == 0xffff {
			delete(s.pages, id)
			continue
		}
		if n > fanout {
			return fmt.Errorf("page %d: %d entries", id, n)
		}
		pg := new(page)
		for j := uint16(0); j < n && d.err == nil; j++ {
			idx := d.u16()
			if idx >= fanout {
				return fmt.Errorf("page %d: index %d", id, idx)
			}
			pg[idx] = d.u64()
		}
		s.pages[id] = pg
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return nil
}

// full returns a delta that recreates the whole state from nothing; it is
// what a checkpoint holds.
func (s *state) full() *delta {
	d := &delta{txid: s.txid, hwm: s.hwm, nextNum: s.nextNum, refs: map[uint64]uint32{}, pages: make(map[uint64]*page, len(s.pages))}
	for _, v := range s.vols {
		d.putVols = append(d.putVols, v)
	}
	for id, r := range s.refs {
		if r != 0 {
			d.refs[uint64(id)] = r
		}
	}
	for id, pg := range s.pages {
		d.pages[id] = pg
	}
	return d
}
