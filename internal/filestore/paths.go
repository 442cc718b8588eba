package filestore

import (
	"strings"
	"sync"
)

// Paths remembers where the files in use are, by inode number, so that a
// store serving files by id finds one without walking its tree; a miss
// (after a restart) is the store's to resolve. Its zero value is empty
// and ready.
type Paths struct {
	mu sync.Mutex
	m  map[uint64]string
}

// Remember records that ino is at p.
func (ps *Paths) Remember(ino uint64, p string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[uint64]string{}
	}
	ps.m[ino] = p
}

// Forget drops what is known of ino.
func (ps *Paths) Forget(ino uint64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.m, ino)
}

// Get returns where ino was last seen.
func (ps *Paths) Get(ino uint64) (string, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.m[ino]
	return p, ok
}

// Moved records a rename of ino from oldP to newP; what a directory
// holds moves with it.
func (ps *Paths) Moved(ino uint64, oldP, newP string, isDir bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[uint64]string{}
	}
	ps.m[ino] = newP
	if !isDir {
		return
	}
	for i, p := range ps.m {
		if strings.HasPrefix(p, oldP+"/") {
			ps.m[i] = newP + p[len(oldP):]
		}
	}
}
