package volume

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/diskimage"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// An upload fills a new volume with an image sent in pieces, in any order
// and over any number of requests, each streamed into the volume's data
// without being held in memory. The volume is created (and its quota
// reserved) for the image's whole size when the upload starts, and is
// uploading until every byte has arrived; then it becomes available. The
// ranges received are recorded after their bytes are durable, so a client
// resumes by sending what is missing, also after a restart.

// Range is a span of bytes.
type Range struct {
	Off int64
	Len int64
}

// End is the offset after the range.
func (r Range) End() int64 { return r.Off + r.Len }

// Upload is an upload in progress.
type Upload struct {
	VolumeID string
	// Total is the image's size; the volume may be larger (its type's
	// minimum, whole sectors).
	Total    int64
	Received []Range // sorted, merged
}

// Has reports whether every byte of r has been received.
func (u Upload) Has(r Range) bool {
	return slices.ContainsFunc(u.Received, func(x Range) bool { return x.Off <= r.Off && r.End() <= x.End() })
}

// overlaps reports whether any byte of r has been received.
func (u Upload) overlaps(r Range) bool {
	return slices.ContainsFunc(u.Received, func(x Range) bool { return x.Off < r.End() && r.Off < x.End() })
}

// Add returns the ranges received with r merged in.
func (u Upload) Add(r Range) []Range {
	out := append(slices.Clone(u.Received), r)
	slices.SortFunc(out, func(a, b Range) int { return int(min(max(a.Off-b.Off, -1), 1)) })
	merged := out[:0]
	for _, x := range out {
		if n := len(merged); n > 0 && x.Off <= merged[n-1].End() {
			merged[n-1].Len = max(merged[n-1].End(), x.End()) - merged[n-1].Off
			continue
		}
		merged = append(merged, x)
	}
	return merged
}

// Complete reports whether ranges cover the whole image.
func (u Upload) Complete() bool { return len(u.Received) == 1 && u.Received[0] == Range{0, u.Total} }

// sector is the granularity of volume sizes in the pool.
const sector = 512

// uploadSize is the size of the volume an image of total bytes goes into:
// whole sectors, and at least the type's minimum (the rest reads as zeros).
func uploadSize(t Type, total int64) int64 {
	return max((total+sector-1)/sector*sector, t.MinSize)
}

// GetUpload returns the upload filling a volume the caller may write.
func (s *Service) GetUpload(ctx context.Context, p identity.Principal, volumeID string) (Upload, error) {
	v, err := s.writable(ctx, p, volumeID)
	if err != nil {
		return Upload{}, err
	}
	if v.Status != Uploading {
		return Upload{}, conflict("volume", v.ID, v.Status, "uploading", []Status{Uploading})
	}
	return s.store.GetVolumeUpload(ctx, v.ID)
}

// WriteUpload streams the bytes of r into rg of an uploading volume. r must
// yield exactly rg.Len bytes; a range with bytes already received is
// refused with errs.Exist, so a retried piece is neither counted twice nor
// allowed to overwrite another. It returns the upload as it stands after.
func (s *Service) WriteUpload(ctx context.Context, p identity.Principal, volumeID string, rg Range, r io.Reader) (Upload, error) {
	u, err := s.GetUpload(ctx, p, volumeID)
	if err != nil {
		return Upload{}, err
	}
	if rg.Off < 0 || rg.Len <= 0 || rg.End() > u.Total {
		return Upload{}, errs.Field("range", "bytes %d-%d are outside the image of %d bytes", rg.Off, rg.End(), u.Total)
	}
	if u.overlaps(rg) {
		return Upload{}, errs.E(errs.Exist, "bytes %d-%d are already uploaded", rg.Off, rg.End())
	}
	v, err := s.store.GetVolume(ctx, p.Scope(), volumeID)
	if err != nil {
		return Upload{}, err
	}
	// The first piece makes the data; Create of what exists is a no-op.
	if err := s.backend.Create(ctx, v.BackendID, v.Size); err != nil {
		return Upload{}, fmt.Errorf("upload to volume %s: %w", v.ID, err)
	}
	body := &headReader{r: io.LimitReader(r, rg.Len)}
	n, err := s.backend.Write(ctx, v.BackendID, rg.Off, body)
	if err != nil {
		return Upload{}, fmt.Errorf("upload to volume %s: %w", v.ID, err)
	}
	// A piece of the wrong length is not recorded: what it wrote is
	// rewritten by the retry.
	if n != rg.Len {
		return Upload{}, errs.Field("range", "the piece has %d bytes; bytes %d-%d need %d", n, rg.Off, rg.End(), rg.Len)
	}
	if k, _ := r.Read(make([]byte, 1)); k > 0 {
		return Upload{}, errs.Field("range", "the piece has more than the %d bytes of %d-%d", rg.Len, rg.Off, rg.End())
	}
	var head []byte
	if rg.Off == 0 {
		head = body.head
	}
	finish, err := s.uploadFinish(ctx, v, u, head)
	if err != nil {
		return Upload{}, fmt.Errorf("upload to volume %s: %w", v.ID, err)
	}
	u, err = s.store.AddVolumeUploadRange(ctx, v.ID, rg, finish)
	if err != nil {
		return Upload{}, fmt.Errorf("upload to volume %s: %w", v.ID, err)
	}
	return u, nil
}

// headReader keeps the first bytes read through it: an image's magic.
type headReader struct {
	r    io.Reader
	head []byte
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if k := min(n, 4-len(h.head)); k > 0 {
		h.head = append(h.head, p[:k]...)
	}
	return n, err
}

// uploadFinish returns the job that ends an upload if it turns out whole
// and may hold a qcow2 image (nil: a raw image, available at once). An
// uploaded qcow2 image is imported (diskimage) into new data of its
// virtual size, as an image from a bucket is, so a drive uploaded as
// qcow2 holds the disk, not the file. head is the image's first bytes
// when this piece holds them; else they are read back if already
// received, and when neither (pieces racing) the job looks.
func (s *Service) uploadFinish(ctx context.Context, v Volume, u Upload, head []byte) (*jobs.Job, error) {
	if s.xfer == nil || u.Total < 4 {
		return nil, nil
	}
	if len(head) < 4 && u.Has(Range{0, 4}) {
		h, err := s.xfer.Blocks.Open(ctx, v.BackendID)
		if err != nil {
			return nil, err
		}
		head = make([]byte, 4)
		err = h.ReadAt(ctx, head, 0)
		h.Close()
		if err != nil {
			return nil, err
		}
	}
	if len(head) >= 4 && !diskimage.IsQcow2(head) {
		return nil, nil
	}
	j, err := jobs.New(jobUploadImage, v.ProjectID, "volume", v.ID,
		uploadImagePayload{OldBackend: v.BackendID, NewBackend: v.ID + "." + NewID(), Total: u.Total}, s.o.Now())
	return &j, err
}
