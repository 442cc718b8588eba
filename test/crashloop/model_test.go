package crashloop

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"sync"
)

// content returns size deterministic bytes for seed, so that the model
// keeps digests rather than bodies.
func content(seed uint64, size int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, size)
	rand.NewChaCha8(key).Read(b)
	return b
}

// objState is what a key reads as: absent, or bytes of a size and digest.
type objState struct {
	size int64
	sum  [32]byte
}

var absent = objState{size: -1}

func stateOf(b []byte) objState { return objState{size: int64(len(b)), sum: sha256.Sum256(b)} }

// keyModel tracks one key, written by one client at a time: the last state
// the server acknowledged, and the states of requests whose outcome is
// unknown (in flight at the kill, or failed) since then. After a restart
// the key must read as one of them.
type keyModel struct {
	acked     objState
	pending   []objState
	ackedSome bool // a write was acknowledged since the last check
}

// s3Model is the oracle for every key of the workload.
type s3Model struct {
	mu                    sync.Mutex
	keys                  map[string]*keyModel
	acked, verified, lost int
}

func newS3Model() *s3Model { return &s3Model{keys: map[string]*keyModel{}} }

func (m *s3Model) key(k string) *keyModel {
	km, ok := m.keys[k]
	if !ok {
		km = &keyModel{acked: absent}
		m.keys[k] = km
	}
	return km
}

// begin records a request about to be sent.
func (m *s3Model) begin(k string, st objState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	km := m.key(k)
	km.pending = append(km.pending, st)
}

// ack records that the server acknowledged st; whatever was pending on
// the key happened before it and is superseded.
func (m *s3Model) ack(k string, st objState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	km := m.key(k)
	km.acked, km.pending, km.ackedSome = st, nil, true
	m.acked++
}

// settled returns the key's state when no request on it has an unknown
// outcome (a copy needs to know what it copies).
func (m *s3Model) settled(k string) (objState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	km := m.key(k)
	return km.acked, len(km.pending) == 0
}

// check compares what a key reads as after a restart with what may be
// there, then makes the observation the new truth.
func (m *s3Model) check(k string, seen objState) (ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	km := m.key(k)
	ok = seen == km.acked || slices.Contains(km.pending, seen)
	switch {
	case !ok:
		m.lost++
	case km.ackedSome:
		m.verified++
	}
	km.acked, km.pending, km.ackedSome = seen, nil, false
	return ok
}

// nbdModel is the oracle for one volume: blocks of blockSize at a stride,
// each holding a tagged pattern. durable is what each block must hold at
// least (the last write acknowledged before a completed FLUSH, or with
// FUA); since lists what was written after it, acknowledged or not.
type nbdModel struct {
	vol                         int
	durable                     []uint64
	since                       [][]uint64
	durableWrites, verified     int
	lost, corrupt, writesIssued int
}

const (
	blockSize = 4096
	blocks    = 256
	stride    = 256 << 10 // spreads the blocks over a 64 MiB volume
)

func newNBDModel(vol int) *nbdModel {
	return &nbdModel{vol: vol, durable: make([]uint64, blocks), since: make([][]uint64, blocks)}
}

// block is the content of block b written with tag: the tag, the block
// number (so a misplaced write shows), then a pattern derived from both.
func block(b int, tag uint64) []byte {
	if tag == 0 {
		return make([]byte, blockSize)
	}
	out := content(tag^uint64(b)<<48, blockSize)
	binary.BigEndian.PutUint64(out, tag)
	binary.BigEndian.PutUint64(out[8:], uint64(b))
	return out
}

// parse returns the tag a block holds, and false if it is not exactly a
// block the workload wrote (torn, misplaced or garbage).
func parse(b int, data []byte) (uint64, bool) {
	tag := binary.BigEndian.Uint64(data)
	return tag, bytes.Equal(data, block(b, tag))
}

// wrote records a write about to be sent.
func (m *nbdModel) wrote(b int, tag uint64) {
	m.since[b] = append(m.since[b], tag)
	m.writesIssued++
}

// fua records an acknowledged FUA write: durable at once.
func (m *nbdModel) fua(b int, tag uint64) {
	m.durable[b], m.since[b] = tag, nil
	m.durableWrites++
}

// flushed records a completed FLUSH: every write acknowledged before it is
// durable. The client is synchronous, so all of since is acknowledged.
func (m *nbdModel) flushed() {
	for b, s := range m.since {
		if len(s) > 0 {
			m.durable[b] = s[len(s)-1]
			m.durableWrites += len(s)
			m.since[b] = nil
		}
	}
}

// check compares block b after a restart.
func (m *nbdModel) check(b int, data []byte) (ok bool, why string) {
	tag, whole := parse(b, data)
	defer func() { m.durable[b], m.since[b] = tag, nil }()
	switch {
	case !whole:
		m.corrupt++
		m.lost++
		return false, "torn or foreign content"
	case tag != m.durable[b] && !slices.Contains(m.since[b], tag):
		m.lost++
		return false, "a write acknowledged before a completed flush is missing"
	}
	if m.durable[b] != 0 {
		m.verified++
	}
	return true, ""
}
