package blockstore

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ViewAt lets a caller send cached data from the page cache without
// reading it into a buffer first: it calls send with the data of
// [off, off+n) as slices of a read-only mapping of the pool's data file
// (unallocated ranges as slices of zeros), holding the chunks steady (no
// write to them, no reuse of their space) until send returns, and reports
// true. Without waiting for anything it returns false, having called
// nothing, when a lock is taken, the range is invalid or not all in the
// page cache, or n is over maxView; the caller then reads.
//
// send must not keep the slices and must touch them only through system
// calls (a writev to a socket): a page the kernel could not read then fails
// the call with EFAULT rather than faulting the process. The NBD server
// sends cached reads this way, which saves the copy into a buffer: a third
// of the server's CPU per byte of a sequential stream.
func (h *Volume) ViewAt(off int64, n int, send func(views [][]byte)) bool {
	p := h.p
	if n <= 0 || n > maxView || !p.ioMu.TryRLock() {
		return false
	}
	defer p.ioMu.RUnlock()
	if h.check("read", off, int64(n), false) != nil {
		return false
	}
	ok, _ := h.holding(off, int64(n), true, func(ids []uint64) (bool, error) {
		var viewBuf [8][]byte
		views := viewBuf[:0]
		in, left := off&(p.chunk-1), int64(n)
		for i := 0; i < len(ids); {
			j := runEnd(ids, i)
			l := min(left, int64(j-i)*p.chunk-in)
			if ids[i] == 0 {
				for z := l; z > 0; z -= p.chunk {
					views = append(views, p.zeros[:min(z, p.chunk)])
				}
			} else {
				var ok bool
				if views, ok = p.view.cached(views, int64(ids[i])<<p.shift+in, l); !ok {
					return false, nil
				}
			}
			left, in, i = left-l, 0, j
		}
		send(views)
		return true, nil
	})
	return ok
}

// maxView is the largest range ViewAt serves: a 1 MiB READ, and a residency
// vector that fits on the stack.
const maxView = 2 << 20

// fileView is a file mapped read-only in segments of viewSeg bytes, each
// mapped when first used and unmapped by close, for ViewAt. Mapping in
// segments keeps the process's address space near the file's size, which
// grows, instead of reserving a maximum up front.
type fileView struct {
	fd   int
	mu   sync.Mutex               // held while mapping a segment
	segs atomic.Pointer[[][]byte] // by index; nil where not mapped yet
	bad  atomic.Bool              // mapping failed: ViewAt reads instead
}

const viewSeg = 1 << 30

// cached appends to views the file's bytes [off, off+n) as slices of the
// mapping and reports true if they are all in the page cache; otherwise
// it returns false, views being undefined.
func (f *fileView) cached(views [][]byte, off, n int64) ([][]byte, bool) {
	for n > 0 {
		seg, in := off/viewSeg, off%viewSeg
		m := f.segment(int(seg))
		if m == nil {
			return views, false
		}
		l := min(n, viewSeg-in)
		v := m[in : in+l]
		if !resident(m, in, l) {
			return views, false
		}
		views = append(views, v)
		off, n = off+l, n-l
	}
	return views, true
}

// resident reports whether the pages of m[in:in+l] are all in the page
// cache, so that reading them waits for no disk and, being within the
// file, cannot fault.
func resident(m []byte, in, l int64) bool {
	page := int64(unix.Getpagesize())
	start := in &^ (page - 1)
	end := in + l
	var vecBuf [maxView/4096 + 2]byte
	pages := (end - start + page - 1) / page
	if pages > int64(len(vecBuf)) {
		return false
	}
	vec := vecBuf[:pages]
	// x/sys/unix has no mincore; the mapping is page aligned, and a
	// segment's length a multiple of the page size.
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[start])), uintptr(pages*page), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return false
	}
	for _, b := range vec {
		if b&1 == 0 {
			return false
		}
	}
	return true
}

// segment returns segment i, mapping it on first use, or nil if it cannot
// be mapped.
func (f *fileView) segment(i int) []byte {
	if s := f.segs.Load(); s != nil && i < len(*s) && (*s)[i] != nil {
		return (*s)[i]
	}
	if f.bad.Load() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var segs [][]byte
	if s := f.segs.Load(); s != nil {
		if i < len(*s) && (*s)[i] != nil {
			return (*s)[i]
		}
		segs = *s
	}
	m, err := unix.Mmap(f.fd, int64(i)*viewSeg, viewSeg, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		f.bad.Store(true)
		return nil
	}
	next := make([][]byte, max(len(segs), i+1))
	copy(next, segs)
	next[i] = m
	f.segs.Store(&next)
	return m
}

// close unmaps every segment; the caller makes sure that no ViewAt runs.
func (f *fileView) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.segs.Load(); s != nil {
		for _, m := range *s {
			if m != nil {
				unix.Munmap(m)
			}
		}
	}
	f.segs.Store(nil)
	f.bad.Store(true)
}
