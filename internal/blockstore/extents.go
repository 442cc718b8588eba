package blockstore

import (
	"context"
	"fmt"

	"github.com/stowage/stowage/internal/errs"
)

// Allocated reports whether the byte at off is backed by a chunk of the
// pool, and for how many bytes from off (at most n, at least one) that
// stays so. Unallocated bytes read as zeros; allocated ones may hold zeros
// too. This is what lets NBD clients (qemu-img, nbdcopy) skip holes, and it
// answers from the map in RAM without touching the data file.
func (h *Volume) Allocated(ctx context.Context, off, n int64) (int64, bool, error) {
	if n <= 0 {
		return 0, false, fmt.Errorf("allocation of volume %s: %w", h.v.name, errs.E(errs.Invalid, "empty range at %d", off))
	}
	if err := h.begin(ctx, "allocation query", off, n, false); err != nil {
		return 0, false, fmt.Errorf("allocation of volume %s: %w", h.v.name, err)
	}
	defer h.p.ioMu.RUnlock()
	p := h.p
	end := off + n
	first := uint64(off >> p.shift)
	last := uint64((end - 1) >> p.shift)
	p.mu.RLock()
	mapped := p.mapped(h.v, first) != 0
	c := first + 1
	for c <= last {
		if !mapped {
			// Skip whole unmapped leaf and mid pages: a large sparse
			// volume is answered in a few steps.
			if skip := p.unmappedSpan(h.v, c); skip > 0 {
				c += skip
				continue
			}
		}
		if (p.mapped(h.v, c) != 0) != mapped {
			break
		}
		c++
	}
	p.mu.RUnlock()
	return min(end, int64(c)<<p.shift) - off, mapped, nil
}

// unmappedSpan returns how many chunks from c (aligned down to its page)
// lie under a missing leaf or mid page, or 0 if c's leaf page exists.
// Needs p.mu held for reading.
func (p *Pool) unmappedSpan(v *volRec, c uint64) uint64 {
	ri, mi, _ := split(c)
	mid := p.st.pages[v.root][ri] & idMask
	if mid == 0 {
		span := uint64(fanout * fanout)
		return span - c%span
	}
	if p.st.pages[mid][mi]&idMask == 0 {
		return fanout - c%fanout
	}
	return 0
}

// Changed returns, in ascending order, the chunk indexes whose mapping
// differs between the volumes (or snapshots) from and to: the chunks a
// reader of to must copy to turn a copy of from into a copy of to. An
// empty from means every chunk mapped in to. Map pages the two still share
// are skipped whole, so the cost follows the changes, not the size. A
// chunk index c covers bytes [c*ChunkSize, (c+1)*ChunkSize).
func (p *Pool) Changed(ctx context.Context, from, to string) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := p.checkOpen(); err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", from, to, err)
	}
	tv, ok := p.st.vols[to]
	if !ok {
		return nil, fmt.Errorf("diff %s..%s: %w", from, to, errs.E(errs.NotExist, "volume %s not found", to))
	}
	var fromRoot uint64
	if from != "" {
		fv, ok := p.st.vols[from]
		if !ok {
			return nil, fmt.Errorf("diff %s..%s: %w", from, to, errs.E(errs.NotExist, "volume %s not found", from))
		}
		fromRoot = fv.root
	}
	var out []int64
	var walk func(a, b uint64, level int, base uint64)
	walk = func(a, b uint64, level int, base uint64) {
		if a == b {
			return // shared page (or both absent): nothing differs below
		}
		var pa, pb page
		if a != 0 {
			pa = *p.st.pages[a]
		}
		if b != 0 {
			pb = *p.st.pages[b]
		}
		for i := range fanout {
			ea, eb := pa[i]&idMask, pb[i]&idMask
			if ea == eb {
				continue
			}
			c := base<<fanoutBits | uint64(i)
			if level > 0 {
				walk(ea, eb, level-1, c)
				continue
			}
			out = append(out, int64(c))
		}
	}
	walk(fromRoot, tv.root, levels-1, 0)
	size := tv.size.Load()
	for len(out) > 0 && out[len(out)-1]<<p.shift >= size {
		out = out[:len(out)-1]
	}
	return out, nil
}
