package blockstore

import (
	"context"
	"fmt"
	"slices"
)

// FsckReport is what Fsck found. A clean pool has no Problems.
type FsckReport struct {
	Volumes  int
	Pages    int
	Chunks   int
	Problems []string // each names the id and what is wrong with it
}

// Clean reports whether Fsck found nothing wrong.
func (r FsckReport) Clean() bool { return len(r.Problems) == 0 }

// Fsck recomputes every refcount from the volume maps and compares it with
// the stored one. A stored count above the computed one is a leak, below it
// a double reference waiting to corrupt data; it also checks that map
// entries point at pages that exist and that no free id is referenced. It
// runs with I/O paused and is cheap: one walk over the pages.
func (p *Pool) Fsck(ctx context.Context) (FsckReport, error) {
	if err := ctx.Err(); err != nil {
		return FsckReport{}, err
	}
	p.ioMu.Lock()
	defer p.ioMu.Unlock()
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := p.checkOpen(); err != nil {
		return FsckReport{}, fmt.Errorf("fsck: %w", err)
	}
	st := p.st
	var r FsckReport
	problem := func(format string, args ...any) {
		if len(r.Problems) < 100 {
			r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
		}
	}
	count := make([]uint32, st.hwm)
	isPage := make([]bool, st.hwm)
	var walk func(id uint64, level int)
	walk = func(id uint64, level int) {
		pg, ok := st.pages[id]
		if !ok {
			problem("page %d is referenced but does not exist", id)
			return
		}
		for i, e := range pg {
			c := e & idMask
			if c == 0 {
				continue
			}
			if c >= st.hwm {
				problem("page %d entry %d points at id %d beyond the high-water mark %d", id, i, c, st.hwm)
				continue
			}
			count[c]++
			if level > 0 {
				isPage[c] = true
				if count[c] == 1 { // shared pages are walked once
					walk(c, level-1)
				}
			} else if _, ok := st.pages[c]; ok {
				problem("page %d entry %d points at page %d where a chunk belongs", id, i, c)
			}
		}
	}
	for name, v := range st.vols {
		r.Volumes++
		if v.root == 0 || v.root >= st.hwm {
			problem("volume %s has bad root %d", name, v.root)
			continue
		}
		isPage[v.root] = true
		count[v.root]++
		if count[v.root] == 1 {
			walk(v.root, levels-1)
		}
	}
	for id := uint64(1); id < st.hwm; id++ {
		got, want := st.ref(id), count[id]
		switch {
		case got > want:
			problem("id %d: stored refcount %d > %d references (leak)", id, got, want)
		case got < want:
			problem("id %d: stored refcount %d < %d references (double reference)", id, got, want)
		}
		if want > 0 {
			if isPage[id] {
				r.Pages++
			} else {
				r.Chunks++
			}
		}
	}
	for id := range st.pages {
		if id >= st.hwm || count[id] == 0 {
			problem("page %d exists but nothing references it", id)
		}
	}
	for _, id := range slices.Concat(p.free, p.freeChunks, p.freePages) {
		if id < st.hwm && count[id] > 0 {
			problem("id %d is on a free list but referenced", id)
		}
	}
	return r, nil
}
