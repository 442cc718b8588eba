package diskimage

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// Source is a volume as export needs it (a *blockstore.Volume is one):
// ranges it reports unallocated read as zeros and are not read.
type Source interface {
	Size() int64
	ReadAt(ctx context.Context, b []byte, off int64) error
	Allocated(ctx context.Context, off, length int64) (int64, bool, error)
}

// extent is a run of bytes from off that is (or is not) allocated.
type extent struct {
	off, n    int64
	allocated bool
}

// extents lists src's allocation, merged, aligned out to align bytes
// (a partly allocated aligned block counts as allocated).
func extents(ctx context.Context, src Source, align int64) ([]extent, error) {
	size := src.Size()
	var out []extent
	for off := int64(0); off < size; {
		n, allocated, err := src.Allocated(ctx, off, size-off)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, fmt.Errorf("allocation query at %d returned %d bytes", off, n)
		}
		start, end := off, off+n
		if allocated {
			start = start &^ (align - 1)
			end = min(size, (end+align-1)&^(align-1))
		}
		if k := len(out); k > 0 && out[k-1].allocated == allocated {
			out[k-1].n = end - out[k-1].off
		} else if k > 0 && start < out[k-1].off+out[k-1].n {
			// An allocated run swallowed the tail of a hole.
			out[k-1].n = start - out[k-1].off
			if out[k-1].n == 0 {
				out = out[:k-1]
			}
			if k := len(out); k > 0 && out[k-1].allocated {
				out[k-1].n = end - out[k-1].off
			} else {
				out = append(out, extent{start, end - start, true})
			}
		} else {
			out = append(out, extent{start, end - start, allocated})
		}
		off = max(off+n, end)
	}
	return out, nil
}

// sparseFile is a destination that can skip holes (an *os.File).
type sparseFile interface {
	io.Seeker
	Truncate(size int64) error
}

// ExportRaw writes src to w as a raw image and returns the bytes read
// from src. Unallocated ranges are not read; when w can seek and truncate
// (a file) they are skipped, leaving holes, otherwise they are written as
// zeros (a bucket object has no holes).
func ExportRaw(ctx context.Context, src Source, w io.Writer) (int64, error) {
	exts, err := extents(ctx, src, 1)
	if err != nil {
		return 0, fmt.Errorf("export raw: %w", err)
	}
	sf, sparse := w.(sparseFile)
	buf := make([]byte, readBuf)
	var read int64
	for _, e := range exts {
		if !e.allocated && sparse {
			if _, err := sf.Seek(e.n, io.SeekCurrent); err != nil {
				return read, fmt.Errorf("export raw: %w", err)
			}
			continue
		}
		for off, end := e.off, e.off+e.n; off < end; {
			if err := ctx.Err(); err != nil {
				return read, err
			}
			b := buf[:min(int64(len(buf)), end-off)]
			if e.allocated {
				if err := src.ReadAt(ctx, b, off); err != nil {
					return read, fmt.Errorf("export raw: %w", err)
				}
				read += int64(len(b))
			} else {
				clear(b)
			}
			if _, err := w.Write(b); err != nil {
				return read, fmt.Errorf("export raw: %w", err)
			}
			off += int64(len(b))
		}
	}
	if sparse {
		if err := sf.Truncate(src.Size()); err != nil {
			return read, fmt.Errorf("export raw: %w", err)
		}
	}
	return read, nil
}

// qcow2 output geometry: 64 KiB clusters, 16-bit refcounts.
const (
	outClusterBits = 16
	outCluster     = 1 << outClusterBits
	outPerL2       = outCluster / 8
	outPerRefBlock = outCluster / 2
)

// ExportQcow2 writes src to w as a qcow2 (version 3) image holding only
// the allocated clusters, in one sequential pass: the layout is computed
// from the allocation map before any data is read, so w may be a stream
// (a bucket upload). It returns the image's size in bytes.
//
// Layout: header, L1 table, refcount table, refcount blocks, L2 tables,
// then the data clusters in guest order.
func ExportQcow2(ctx context.Context, src Source, w io.Writer) (int64, error) {
	n, err := exportQcow2(ctx, src, w)
	if err != nil {
		return n, fmt.Errorf("export qcow2: %w", err)
	}
	return n, nil
}

func exportQcow2(ctx context.Context, src Source, w io.Writer) (int64, error) {
	size := src.Size()
	exts, err := extents(ctx, src, outCluster)
	if err != nil {
		return 0, err
	}
	var data []int64 // guest cluster indexes, ascending
	for _, e := range exts {
		if e.allocated {
			for c := e.off / outCluster; c*outCluster < e.off+e.n; c++ {
				data = append(data, c)
			}
		}
	}
	l1Size := (size + outCluster*outPerL2 - 1) / (outCluster * outPerL2)
	l1Clusters := ceilDiv(l1Size*8, outCluster)
	var l2s []int64 // L1 indexes that need an L2 table
	for _, c := range data {
		if i := c / outPerL2; len(l2s) == 0 || l2s[len(l2s)-1] != i {
			l2s = append(l2s, i)
		}
	}
	// The refcount structures count themselves: grow them until they
	// cover every cluster of the file.
	var rtClusters, rbClusters int64 = 1, 1
	var total int64
	for {
		total = 1 + l1Clusters + rtClusters + rbClusters + int64(len(l2s)) + int64(len(data))
		rb := ceilDiv(total, outPerRefBlock)
		rt := ceilDiv(rb*8, outCluster)
		if rb <= rbClusters && rt <= rtClusters {
			break
		}
		rbClusters, rtClusters = max(rb, rbClusters), max(rt, rtClusters)
	}
	l1At := int64(1)
	rtAt := l1At + l1Clusters
	rbAt := rtAt + rtClusters
	l2At := rbAt + rbClusters
	dataAt := l2At + int64(len(l2s))

	hdr := make([]byte, outCluster)
	be := binary.BigEndian
	be.PutUint32(hdr[0:], qcowMagic)
	be.PutUint32(hdr[4:], 3)
	be.PutUint32(hdr[20:], outClusterBits)
	be.PutUint64(hdr[24:], uint64(size))
	be.PutUint32(hdr[36:], uint32(l1Size))
	be.PutUint64(hdr[40:], uint64(l1At*outCluster))
	be.PutUint64(hdr[48:], uint64(rtAt*outCluster))
	be.PutUint32(hdr[56:], uint32(rtClusters))
	be.PutUint32(hdr[96:], 4)    // refcount_order: 16 bits
	be.PutUint32(hdr[100:], 104) // header_length
	// The end-of-extensions marker is the zero padding after the header.
	if _, err := w.Write(hdr); err != nil {
		return 0, err
	}
	written := int64(outCluster)
	put := func(b []byte) error {
		_, err := w.Write(b)
		written += int64(len(b))
		return err
	}
	l1 := make([]byte, l1Clusters*outCluster)
	for k, i := range l2s {
		be.PutUint64(l1[i*8:], uint64((l2At+int64(k))*outCluster)|entryCopied)
	}
	if err := put(l1); err != nil {
		return written, err
	}
	rt := make([]byte, rtClusters*outCluster)
	for k := range rbClusters {
		be.PutUint64(rt[k*8:], uint64((rbAt+k)*outCluster))
	}
	if err := put(rt); err != nil {
		return written, err
	}
	rb := make([]byte, rbClusters*outCluster)
	for c := range total {
		be.PutUint16(rb[c*2:], 1)
	}
	if err := put(rb); err != nil {
		return written, err
	}
	l2 := make([]byte, outCluster)
	next := 0
	for _, i := range l2s {
		clear(l2)
		for next < len(data) && data[next]/outPerL2 == i {
			be.PutUint64(l2[(data[next]%outPerL2)*8:], uint64((dataAt+int64(next))*outCluster)|entryCopied)
			next++
		}
		if err := put(l2); err != nil {
			return written, err
		}
	}
	// Data: runs of consecutive guest clusters read in one request.
	buf := make([]byte, readBuf)
	for i := 0; i < len(data); {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		j := i + 1
		for j < len(data) && data[j] == data[j-1]+1 && int64(j-i) < readBuf/outCluster {
			j++
		}
		off := data[i] * outCluster
		b := buf[:int64(j-i)*outCluster]
		valid := min(int64(len(b)), size-off) // the last cluster may pass the end
		if err := src.ReadAt(ctx, b[:valid], off); err != nil {
			return written, err
		}
		clear(b[valid:])
		if err := put(b); err != nil {
			return written, err
		}
		i = j
	}
	return written, nil
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
