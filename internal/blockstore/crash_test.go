package blockstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/errs"
)

// The crash test re-executes the test binary as a child that runs a
// deterministic workload on a pool, reporting on stdout which operation it
// starts ("S i") and which commits returned ("D i"). The parent SIGKILLs it
// mid-workload, reopens the pool and checks, block by block, that every
// write acknowledged by a returned commit is there, that nothing appears
// that was never written, that snapshots hold exactly what they held when
// taken, and that fsck is clean.

const (
	crashEnvDir  = "STOWAGE_BLOCKSTORE_CRASH_DIR"
	crashEnvSeed = "STOWAGE_BLOCKSTORE_CRASH_SEED"
	crashBlock   = 4096
	crashBlocks  = 2048 // 8 MiB volumes
	crashChunk   = 16 << 10
)

type crashOpKind int

const (
	cWrite crashOpKind = iota
	cTrim
	cFlush
	cSnapshot
	cClone
	cDelete
)

type crashOp struct {
	kind   crashOpKind
	vol    string // target (write, trim, delete) or source (snapshot, clone)
	newID  string
	blk, n int
}

// crashWorkload generates the same operations in the child and the parent.
type crashWorkload struct {
	rng      *rand.Rand
	writable []string // live writable volumes, "v" first
	snaps    []string
	i        int
}

func newCrashWorkload(seed uint64) *crashWorkload {
	return &crashWorkload{rng: rand.New(rand.NewPCG(seed, 7)), writable: []string{"v"}}
}

func (w *crashWorkload) next() crashOp {
	w.i++
	r := w.rng
	vol := w.writable[r.IntN(len(w.writable))]
	switch k := r.IntN(100); {
	case k < 70:
		n := 1 + r.IntN(8)
		return crashOp{kind: cWrite, vol: vol, blk: r.IntN(crashBlocks - n), n: n}
	case k < 78:
		per := crashChunk / crashBlock
		c := r.IntN(crashBlocks/per - 2)
		return crashOp{kind: cTrim, vol: vol, blk: c * per, n: per * (1 + r.IntN(2))}
	case k < 88:
		return crashOp{kind: cFlush}
	case k < 93:
		id := fmt.Sprintf("s%d", w.i)
		w.snaps = append(w.snaps, id)
		return crashOp{kind: cSnapshot, vol: vol, newID: id}
	case k < 96 && len(w.writable) < 4:
		id := fmt.Sprintf("c%d", w.i)
		src := vol
		if len(w.snaps) > 0 && r.IntN(2) == 0 {
			src = w.snaps[r.IntN(len(w.snaps))]
		}
		w.writable = append(w.writable, id)
		return crashOp{kind: cClone, vol: src, newID: id}
	default:
		if len(w.snaps) > 3 {
			id := w.snaps[0]
			w.snaps = w.snaps[1:]
			return crashOp{kind: cDelete, vol: id}
		}
		if len(w.writable) > 2 {
			j := 1 + r.IntN(len(w.writable)-1)
			id := w.writable[j]
			w.writable = append(w.writable[:j:j], w.writable[j+1:]...)
			return crashOp{kind: cDelete, vol: id}
		}
		return crashOp{kind: cFlush}
	}
}

// blockData fills a block so that any 8 bytes name the op that wrote it.
func blockData(op, blk int) []byte {
	b := make([]byte, crashBlock)
	for j := 0; j < len(b); j += 8 {
		binary.LittleEndian.PutUint64(b[j:], uint64(op)<<32|uint64(blk))
	}
	return b
}

// blockOp returns the op that wrote block blk (0 for zeros), or -1 if the
// block holds anything else.
func blockOp(b []byte, blk int) int {
	// A block repeats one 8-byte word iff shifting it by 8 changes nothing;
	// bytes.Equal keeps this fast under the race detector.
	if !bytes.Equal(b[8:], b[:len(b)-8]) {
		return -1
	}
	first := binary.LittleEndian.Uint64(b)
	if first == 0 {
		return 0
	}
	if int(first&0xffffffff) != blk {
		return -1
	}
	return int(first >> 32)
}

func runCrashChild(dir string, seed uint64) {
	ctx := context.Background()
	out := os.Stdout
	p, err := Open(ctx, dir, Options{ChunkSize: crashChunk, CheckpointBytes: 128 << 10})
	if err != nil {
		fmt.Fprintln(out, "E", err)
		os.Exit(2)
	}
	if err := p.Create(ctx, "v", crashBlocks*crashBlock); err != nil {
		fmt.Fprintln(out, "E", err)
		os.Exit(2)
	}
	fmt.Fprintln(out, "D 0")
	w := newCrashWorkload(seed)
	for {
		op := w.next()
		fmt.Fprintln(out, "S", w.i)
		commit, err := applyCrashOp(ctx, p, w.i, op)
		if err != nil {
			fmt.Fprintln(out, "E", err)
			os.Exit(2)
		}
		if commit {
			fmt.Fprintln(out, "D", w.i)
		}
	}
}

// applyCrashOp runs op number i and reports whether it committed.
func applyCrashOp(ctx context.Context, p *Pool, i int, op crashOp) (commit bool, err error) {
	switch op.kind {
	case cWrite:
		var v *Volume
		if v, err = p.Volume(ctx, op.vol); err == nil {
			buf := make([]byte, 0, op.n*crashBlock)
			for b := op.blk; b < op.blk+op.n; b++ {
				buf = append(buf, blockData(i, b)...)
			}
			err = v.WriteAt(ctx, buf, int64(op.blk)*crashBlock)
		}
		return false, err
	case cTrim:
		var v *Volume
		if v, err = p.Volume(ctx, op.vol); err == nil {
			err = v.Trim(ctx, int64(op.blk)*crashBlock, int64(op.n)*crashBlock)
		}
		return false, err
	case cFlush:
		return true, p.Flush(ctx)
	case cSnapshot:
		return true, p.Snapshot(ctx, op.vol, op.newID)
	case cClone:
		return true, p.Clone(ctx, op.vol, op.newID)
	case cDelete:
		return true, p.Delete(ctx, op.vol)
	}
	return false, fmt.Errorf("unknown op %d", op.kind)
}

// crashModel replays the workload: per volume, the op that last wrote each
// block, plus, for the ops after the last acknowledged commit, every value
// a block may have taken.
type crashModel struct {
	at     map[string][]int                // value at the last acknowledged commit
	later  map[string]map[int]map[int]bool // volume -> block -> values seen after it
	snapAt map[string][]int                // snapshot contents when taken
	maybe  map[string]bool                 // volumes created or deleted after the commit
}

func buildCrashModel(seed uint64, durable, started int) *crashModel {
	m := &crashModel{at: map[string][]int{"v": make([]int, crashBlocks)}, later: map[string]map[int]map[int]bool{},
		snapAt: map[string][]int{}, maybe: map[string]bool{}}
	cur := map[string][]int{"v": make([]int, crashBlocks)}
	note := func(vol string, blk, val int, i int) {
		if i <= durable {
			return
		}
		if m.later[vol] == nil {
			m.later[vol] = map[int]map[int]bool{}
		}
		if m.later[vol][blk] == nil {
			m.later[vol][blk] = map[int]bool{}
		}
		m.later[vol][blk][val] = true
	}
	w := newCrashWorkload(seed)
	for w.i < started {
		op := w.next()
		i := w.i
		switch op.kind {
		case cWrite:
			for b := op.blk; b < op.blk+op.n; b++ {
				cur[op.vol][b] = i
				note(op.vol, b, i, i)
			}
		case cTrim:
			for b := op.blk; b < op.blk+op.n; b++ {
				cur[op.vol][b] = 0
				note(op.vol, b, 0, i)
			}
		case cSnapshot, cClone:
			cur[op.newID] = append([]int(nil), cur[op.vol]...)
			if op.kind == cSnapshot {
				m.snapAt[op.newID] = cur[op.newID]
			}
			if i > durable {
				// If it exists after the crash, its commit was durable
				// and it started as the source was at op i.
				m.maybe[op.newID] = true
				m.at[op.newID] = append([]int(nil), cur[op.vol]...)
			}
		case cDelete:
			delete(cur, op.vol)
			if i > durable {
				m.maybe[op.vol] = true
			}
		}
		if i == durable {
			for id, blocks := range cur {
				m.at[id] = append([]int(nil), blocks...)
			}
			for id := range m.at {
				if _, ok := cur[id]; !ok {
					delete(m.at, id)
				}
			}
		}
	}
	return m
}

func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashEnvDir); dir != "" {
		seed, _ := strconv.ParseUint(os.Getenv(crashEnvSeed), 10, 64)
		runCrashChild(dir, seed)
		return
	}
	// Each run kills the child once it has made some number of commits
	// durable, after a short delay that lands the kill mid-operation.
	for run, k := range []struct {
		durable int
		delay   time.Duration
	}{{20, 3 * time.Millisecond}, {60, 17 * time.Millisecond}, {150, 41 * time.Millisecond}, {400, 90 * time.Millisecond}} {
		seed := uint64(100 + run)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			dir := t.TempDir()
			durable, started := crashChild(t, dir, seed, k.durable, k.delay)
			t.Logf("killed after op %d started, op %d durable", started, durable)
			verifyCrash(t, dir, seed, durable, started)
		})
	}
}

func crashChild(t *testing.T, dir string, seed uint64, minDurable int, killAfter time.Duration) (durable, started int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, crashEnvSeed+"="+strconv.FormatUint(seed, 10))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var timer <-chan time.Time
	killed := false
	durable = -1
	for lines != nil {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				break
			}
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && f[0] == "S":
				started, _ = strconv.Atoi(f[1])
			case len(f) == 2 && f[0] == "D":
				durable, _ = strconv.Atoi(f[1])
				if timer == nil && durable >= minDurable && !killed {
					timer = time.After(killAfter)
				}
			case len(f) > 0 && f[0] == "E":
				t.Errorf("child: %s", l)
			}
		case <-timer:
			timer, killed = nil, true
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child did not die by SIGKILL: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return durable, started
}

func verifyCrash(t *testing.T, dir string, seed uint64, durable, started int) {
	ctx := context.Background()
	p := openPool(t, dir, Options{})
	defer p.Close()
	checkFsck(t, p)
	m := buildCrashModel(seed, durable, started)
	names, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
		if _, ok := m.at[n]; !ok && !m.maybe[n] {
			t.Errorf("volume %s exists but was never durably created", n)
		}
	}
	for n := range m.at {
		if !present[n] && !m.maybe[n] {
			t.Errorf("volume %s was durably created but is missing", n)
		}
	}
	buf := make([]byte, crashBlocks*crashBlock)
	for _, n := range names {
		v, err := p.Volume(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.ReadAt(ctx, buf, 0); err != nil {
			t.Fatal(err)
		}
		snap, isSnap := m.snapAt[n]
		base := m.at[n]
		bad := 0
		for b := 0; b < crashBlocks && bad < 5; b++ {
			got := blockOp(buf[b*crashBlock:(b+1)*crashBlock], b)
			switch {
			case isSnap:
				if got != snap[b] {
					t.Errorf("snapshot %s block %d: op %d, want op %d", n, b, got, snap[b])
					bad++
				}
			case base != nil && got == base[b]:
			case m.later[n][b][got]:
			default:
				t.Errorf("volume %s block %d: op %d; durable value op %d, later values %v", n, b, got, base[b], m.later[n][b])
				bad++
			}
		}
	}
	// The recovered pool must keep working: write, flush, fsck.
	v, err := p.Volume(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.WriteAt(ctx, blockData(1, 1), crashBlock); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Volume(ctx, "no-such"); !errs.Is(err, errs.NotExist) {
		t.Fatal(err)
	}
	checkFsck(t, p)
}

// TestJournalCut runs the crash workload in-process and, after every
// commit, copies the pool as a crash at that moment would leave it. Each
// copy is recovered twice: as it is, and with the start of the next journal
// record appended (a torn append). Both must recover to exactly the
// commits made so far, with fsck clean.
func TestJournalCut(t *testing.T) {
	ctx := context.Background()
	const seed = 200
	dir := t.TempDir()
	// No checkpoints: every commit stays in the journal.
	p := openPool(t, dir, Options{ChunkSize: crashChunk, CheckpointBytes: 1 << 40})
	defer p.Close()
	if err := p.Create(ctx, "v", crashBlocks*crashBlock); err != nil {
		t.Fatal(err)
	}
	type cut struct {
		op   int
		dir  string
		size int64
	}
	var cuts []cut
	save := func(op int) {
		cp := t.TempDir()
		copyPool(t, dir, cp)
		cuts = append(cuts, cut{op, cp, p.walSize})
	}
	save(0)
	w := newCrashWorkload(seed)
	for w.i < 150 {
		op := w.next()
		commit, err := applyCrashOp(ctx, p, w.i, op)
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			save(w.i)
		}
	}
	started := w.i
	wal, err := os.ReadFile(filepath.Join(dir, walName))
	if err != nil {
		t.Fatal(err)
	}
	for k, c := range cuts {
		// Make the torn copies first: recovery and verification change
		// the directory they run on.
		torn := map[int]string{}
		if k+1 < len(cuts) && cuts[k+1].size > c.size {
			next := wal[c.size:cuts[k+1].size]
			for _, n := range []int{5, len(next) / 2} {
				cp := t.TempDir()
				copyPool(t, c.dir, cp)
				f, err := os.OpenFile(filepath.Join(cp, walName), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.Write(next[:n]); err != nil {
					t.Fatal(err)
				}
				f.Close()
				torn[n] = cp
			}
		}
		t.Run(fmt.Sprintf("op%d", c.op), func(t *testing.T) {
			// Each cut recovers its own copy of the pool.
			t.Parallel()
			verifyCrash(t, c.dir, seed, c.op, started)
		})
		for n, cp := range torn {
			t.Run(fmt.Sprintf("op%d-torn%d", c.op, n), func(t *testing.T) {
				t.Parallel()
				verifyCrash(t, cp, seed, c.op, started)
			})
		}
	}
}

func copyPool(t *testing.T, from, to string) {
	t.Helper()
	files, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name() == "lock" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
