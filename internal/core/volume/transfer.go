package volume

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/backup"
	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/diskimage"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// Transfers move volume data to and from the project's buckets: images in
// (raw or qcow2, streamed), images out, and incremental backups (see
// internal/backup and docs/backup-format.md). Bucket access goes through
// the S3 plane as the volume's project, so a project reaches only what its
// own credentials could.

// Buckets is the S3 plane as transfers use it: objects of a bucket, with
// projectID's rights.
type Buckets interface {
	Stat(ctx context.Context, projectID, bucket, key string) (int64, error)
	// Get reads length bytes from off (length < 0: to the end).
	Get(ctx context.Context, projectID, bucket, key string, off, length int64) (io.ReadCloser, error)
	// Put stores size bytes from r (size < 0: unknown), visible whole or
	// not at all; any size, also beyond a single PUT's 5 GiB.
	Put(ctx context.Context, projectID, bucket, key string, r io.Reader, size int64) error
	Delete(ctx context.Context, projectID, bucket, key string) error
	List(ctx context.Context, projectID, bucket, prefix string) ([]string, error)
}

// VolumeIO is an open backend volume or snapshot.
type VolumeIO interface {
	Size() int64
	ReadAt(ctx context.Context, b []byte, off int64) error
	WriteAt(ctx context.Context, b []byte, off int64) error
	Flush(ctx context.Context) error
	Allocated(ctx context.Context, off, length int64) (int64, bool, error)
	Close() error
}

// BlockIO is the data plane as transfers need it beyond Backend.
type BlockIO interface {
	Open(ctx context.Context, backendID string) (VolumeIO, error)
	// Changed lists, ascending, the chunks whose data may differ between
	// two snapshots (from "" means every chunk holding data).
	Changed(ctx context.Context, from, to string) ([]int64, error)
	ChunkSize() int64
	// List returns the backend ids starting with prefix.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Sealer keeps backup keys sealed under the node's master key.
type Sealer interface {
	Seal(plaintext, aad []byte) string
	Open(sealed string, aad []byte) ([]byte, error)
}

// Transfers are what images and backups need; a service without them
// refuses both with errs.Unavailable.
type Transfers struct {
	Buckets Buckets
	Blocks  BlockIO
	Keys    Sealer
}

// UseTransfers enables images and backups; called once at start-up,
// before the job runner starts.
func (s *Service) UseTransfers(t Transfers) { s.xfer = &t }

func (s *Service) transfers() (*Transfers, error) {
	if s.xfer == nil {
		return nil, errs.E(errs.Unavailable, "volume images and backups are not available on this node")
	}
	return s.xfer, nil
}

// Job kinds of transfers.
const (
	jobExport       = "volume.export"
	jobBackup       = "volume.backup"
	jobBackupDelete = "backup.delete"
	jobUploadImage  = "volume.upload_image"
)

// TransferRegistrations returns the transfer jobs' handlers.
func (s *Service) TransferRegistrations() []jobs.Registration {
	// A failed export or backup leaves the volume as it was: nothing to
	// mark; the job's error is the record.
	none := func(context.Context, jobs.Job, error) error { return nil }
	return []jobs.Registration{
		{Kind: jobExport, Handle: s.runExport, OnFailure: none},
		{Kind: jobBackup, Handle: s.runBackup, OnFailure: none},
		{Kind: jobBackupDelete, Handle: s.runBackupDelete, OnFailure: none},
		// A failed import leaves the uploaded file as it was; the new
		// data goes, and the volume shows the error.
		{Kind: jobUploadImage, Handle: s.runUploadImage, OnFailure: func(ctx context.Context, j jobs.Job, err error) error {
			var pl uploadImagePayload
			if derr := decode(j, &pl); derr == nil && pl.NewBackend != "" {
				if derr := s.backend.Delete(ctx, pl.NewBackend); derr != nil {
					return derr
				}
			}
			return s.store.SetVolumeStatus(ctx, j.ResourceID, []Status{Restoring}, Error, errs.Message(err))
		}},
	}
}

// ObjectRef names an object of one of the project's buckets.
type ObjectRef struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Format is raw or qcow2; "" detects on import and means raw on export.
	Format string `json:"format,omitempty"`
}

func (o ObjectRef) check() error {
	if o.Bucket == "" || strings.Contains(o.Bucket, "/") || len(o.Bucket) > 63 {
		return errs.Field("bucket", "bucket must be a bucket name")
	}
	if o.Key == "" || len(o.Key) > 1024 {
		return errs.Field("key", "key must be 1 to 1024 bytes")
	}
	if o.Format != "" && o.Format != diskimage.Raw && o.Format != diskimage.Qcow2 {
		return errs.Field("format", "format must be raw or qcow2")
	}
	return nil
}

// rangeReader is an image of size bytes as io.ReaderAt, read by ranges
// through read (which fills its buffer or fails): an image is read where
// its tables point, never held whole.
type rangeReader struct {
	size int64
	read func(p []byte, off int64) error
}

func (r rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.size-off)
	if err := r.read(p[:n], off); err != nil {
		return 0, err
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// objectReader reads an object of a project's bucket by ranged GETs.
func objectReader(ctx context.Context, b Buckets, project string, o ObjectRef, size int64) rangeReader {
	return rangeReader{size, func(p []byte, off int64) error {
		rc, err := b.Get(ctx, project, o.Bucket, o.Key, off, int64(len(p)))
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.ReadFull(rc, p)
		return err
	}}
}

// volumeReader reads the first size bytes of a volume or snapshot.
func volumeReader(ctx context.Context, h VolumeIO, size int64) rangeReader {
	return rangeReader{size, func(p []byte, off int64) error { return h.ReadAt(ctx, p, off) }}
}

// probeObject reads an image's header from a bucket.
func (s *Service) probeObject(ctx context.Context, projectID string, o ObjectRef) (diskimage.Info, error) {
	x, err := s.transfers()
	if err != nil {
		return diskimage.Info{}, err
	}
	size, err := x.Buckets.Stat(ctx, projectID, o.Bucket, o.Key)
	if err != nil {
		return diskimage.Info{}, bucketErr(err, o.Bucket)
	}
	return diskimage.Probe(ctx, objectReader(ctx, x.Buckets, projectID, o, size), size, o.Format)
}

// importObject fills a new volume's data from an image in a bucket.
func (s *Service) importObject(ctx context.Context, v Volume, o ObjectRef) error {
	x, err := s.transfers()
	if err != nil {
		return err
	}
	size, err := x.Buckets.Stat(ctx, v.ProjectID, o.Bucket, o.Key)
	if err != nil {
		return fmt.Errorf("image %s/%s: %w", o.Bucket, o.Key, err)
	}
	h, err := x.Blocks.Open(ctx, v.BackendID)
	if err != nil {
		return err
	}
	defer h.Close()
	src := objectReader(ctx, x.Buckets, v.ProjectID, o, size)
	info, err := diskimage.Probe(ctx, src, size, o.Format)
	if err != nil {
		return err
	}
	if info.VirtualSize > h.Size() {
		return errs.E(errs.Invalid, "image of %d bytes does not fit the volume's %d", info.VirtualSize, h.Size())
	}
	_, _, err = diskimage.Import(ctx, src, size, info.Format, h)
	return err
}

// restoreBackup fills new, empty data (a new volume's, or a revert's)
// from a backup of one of the project's buckets, streaming.
func (s *Service) restoreBackup(ctx context.Context, projectID, backendID string, b BackupRef) error {
	set, err := s.backupSet(ctx, projectID, b.Bucket, b.VolumeID, false)
	if err != nil {
		return err
	}
	defer set.Close()
	x, _ := s.transfers()
	h, err := x.Blocks.Open(ctx, backendID)
	if err != nil {
		return err
	}
	defer h.Close()
	_, err = set.Restore(ctx, b.BackupID, h)
	return err
}

// RevertToBackup puts a detached volume back to one of its backups, under
// the rules of a revert to a snapshot (RevertVolume): the volume must be
// available, and it is restoring until the job is done. The backup is
// restored, streaming, into new data that is swapped in when whole, so a
// failed restore never leaves half of it in the volume: the volume is
// available on its own data again (revertBack). The backups stay.
// b.VolumeID defaults to the volume; a backup of another volume is
// refused, as another volume's snapshot is.
func (s *Service) RevertToBackup(ctx context.Context, p identity.Principal, volumeID string, b BackupRef) (Volume, jobs.Job, error) {
	if _, err := s.transfers(); err != nil {
		return Volume{}, jobs.Job{}, err
	}
	v, err := s.writable(ctx, p, volumeID)
	if err != nil {
		return Volume{}, jobs.Job{}, err
	}
	if b.VolumeID == "" {
		b.VolumeID = v.ID
	}
	if b.VolumeID != v.ID {
		return Volume{}, jobs.Job{}, errs.Field("volume_id", "the backups of volume %s are not of volume %s", b.VolumeID, v.ID)
	}
	if err := (ObjectRef{Bucket: b.Bucket, Key: "-"}).check(); err != nil {
		return Volume{}, jobs.Job{}, err
	}
	if b.BackupID == "" || strings.Contains(b.BackupID, "/") {
		return Volume{}, jobs.Job{}, errs.Field("backup_id", "backup_id is required")
	}
	if s.isFilesystem(v) {
		return Volume{}, jobs.Job{}, errs.E(errs.Invalid, "volume %s is a filesystem; backups are of block volumes", v.ID)
	}
	allowed := []Status{Available}
	if v.Status != Available {
		return Volume{}, jobs.Job{}, conflict("volume", v.ID, v.Status, "revert", allowed)
	}
	n, err := s.backupSize(ctx, v.ProjectID, b)
	if err != nil {
		return Volume{}, jobs.Job{}, err
	}
	if n > v.Size {
		return Volume{}, jobs.Job{}, errs.Field("backup_id", "backup %s holds %d bytes, more than the volume's %d", b.BackupID, n, v.Size)
	}
	j, err := jobs.New(jobRevert, v.ProjectID, "volume", v.ID,
		revertPayload{OldBackend: v.BackendID, NewBackend: v.ID + "." + NewID(), Size: v.Size, Backup: &b}, s.o.Now())
	if err != nil {
		return Volume{}, jobs.Job{}, err
	}
	err = s.apply(ctx, Intent{ProjectID: v.ProjectID, VolumeID: v.ID, From: allowed, To: Restoring, Job: &j,
		Event: s.event(p, v.ProjectID, "volume.revert", "volume", v.ID, map[string]any{"bucket": b.Bucket, "backup_id": b.BackupID})})
	if err != nil {
		return Volume{}, jobs.Job{}, fmt.Errorf("revert volume %s: %w", v.ID, err)
	}
	v.Status = Restoring
	return v, j, nil
}

type uploadImagePayload struct {
	OldBackend string `json:"old_backend"` // the uploaded file's bytes
	NewBackend string `json:"new_backend"`
	Total      int64  `json:"total"` // the file's size
}

// runUploadImage ends an upload that may hold a qcow2 image: raw stays
// as uploaded; qcow2 is imported into new data of its virtual size (the
// volume's size and quota follow), swapped in, and the file's bytes go.
func (s *Service) runUploadImage(ctx context.Context, j jobs.Job) (any, error) {
	var pl uploadImagePayload
	if err := decode(j, &pl); err != nil {
		return nil, err
	}
	v, ok, err := s.loadVolume(ctx, j.ResourceID)
	if err != nil || !ok {
		return nil, err
	}
	if v.Status != Restoring {
		if v.BackendID == pl.NewBackend { // swapped in before a crash
			return nil, s.backend.Delete(ctx, pl.OldBackend)
		}
		return nil, nil
	}
	x, err := s.transfers()
	if err != nil {
		return nil, err
	}
	src, err := x.Blocks.Open(ctx, pl.OldBackend)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	r := volumeReader(ctx, src, pl.Total)
	info, err := diskimage.Probe(ctx, r, pl.Total, "")
	if err != nil {
		return nil, err
	}
	if info.Format == diskimage.Raw {
		return nil, s.store.SetVolumeStatus(ctx, v.ID, []Status{Restoring}, Available, "")
	}
	t, err := s.catalog.Type(v.Type)
	if err != nil {
		return nil, err
	}
	size := uploadSize(t, (info.VirtualSize+sector-1)/sector*sector)
	if err := t.checkSize(size); err != nil {
		return nil, err
	}
	if size != v.Size {
		if err := s.apply(ctx, Intent{ProjectID: v.ProjectID, VolumeID: v.ID, From: []Status{Restoring}, NewSize: size,
			Reserve: Usage{StorageBytes: size - v.Size}}); err != nil {
			return nil, err
		}
	}
	// Only the image's data is written into new thin data, so a step run
	// again after a crash writes the same bytes again.
	if err := s.backend.Create(ctx, pl.NewBackend, size); err != nil {
		return nil, err
	}
	dst, err := x.Blocks.Open(ctx, pl.NewBackend)
	if err != nil {
		return nil, err
	}
	_, _, err = diskimage.Import(ctx, r, pl.Total, diskimage.Qcow2, dst)
	dst.Close()
	if err != nil {
		return nil, err
	}
	if err := s.store.SetVolumeBackend(ctx, v.ID, pl.NewBackend, size); err != nil {
		return nil, err
	}
	return nil, s.backend.Delete(ctx, pl.OldBackend)
}

// ExportTo says where and how a volume or snapshot is written out.
type ExportTo struct {
	ObjectRef
	// SnapshotID exports that snapshot of the volume instead of its
	// current data.
	SnapshotID string `json:"snapshot_id,omitempty"`
}

type exportPayload struct {
	To       ExportTo `json:"to"`
	Source   string   `json:"source"`   // backend id to read
	Snapshot bool     `json:"snapshot"` // Source is a snapshot; else one is taken
	Size     int64    `json:"size"`
}

// ExportVolume queues writing a volume (or one of its snapshots) to an
// object of one of the project's buckets. A volume in use is exported as
// of a snapshot taken when the job starts.
func (s *Service) ExportVolume(ctx context.Context, p identity.Principal, volumeID string, to ExportTo) (jobs.Job, error) {
	if _, err := s.transfers(); err != nil {
		return jobs.Job{}, err
	}
	if err := to.check(); err != nil {
		return jobs.Job{}, err
	}
	v, err := s.writable(ctx, p, volumeID)
	if err != nil {
		return jobs.Job{}, err
	}
	if s.isFilesystem(v) {
		return jobs.Job{}, errs.E(errs.Invalid, "volume %s is a filesystem; only block volumes export as images", v.ID)
	}
	pl := exportPayload{To: to, Source: v.BackendID, Size: v.Size}
	if to.SnapshotID != "" {
		sn, err := s.store.GetSnapshot(ctx, p.Scope(), to.SnapshotID)
		if err != nil || sn.VolumeID != v.ID {
			return jobs.Job{}, errs.Field("snapshot_id", "snapshot %s of volume %s not found", to.SnapshotID, v.ID)
		}
		if sn.Status != SnapAvailable {
			return jobs.Job{}, errs.E(errs.Conflict, "snapshot %s is %s; export needs it to be available", sn.ID, sn.Status)
		}
		pl.Source, pl.Snapshot, pl.Size = sn.BackendID, true, sn.Size
	} else if allowed := []Status{Available, InUse}; !slices.Contains(allowed, v.Status) {
		return jobs.Job{}, conflict("volume", v.ID, v.Status, "export", allowed)
	}
	if err := checkBucket(ctx, s.xfer, v.ProjectID, to.Bucket); err != nil {
		return jobs.Job{}, err
	}
	j, err := jobs.New(jobExport, v.ProjectID, "volume", v.ID, pl, s.o.Now())
	if err != nil {
		return jobs.Job{}, err
	}
	if err := s.apply(ctx, Intent{ProjectID: v.ProjectID, Job: &j,
		Event: s.event(p, v.ProjectID, "volume.export", "volume", v.ID, map[string]any{"bucket": to.Bucket, "key": to.Key, "format": to.Format, "snapshot": to.SnapshotID})}); err != nil {
		return jobs.Job{}, fmt.Errorf("export volume %s: %w", v.ID, err)
	}
	return j, nil
}

// checkBucket refuses, before a job is queued, a bucket that is not one
// of the project's own.
func checkBucket(ctx context.Context, x *Transfers, projectID, bucket string) error {
	_, err := x.Buckets.List(ctx, projectID, bucket, backupPrefix+"-")
	return bucketErr(err, bucket)
}

// bucketErr words a refusal of the S3 plane (the bucket is another
// project's, or none) as a problem with the request's bucket.
func bucketErr(err error, bucket string) error {
	if errs.Is(err, errs.Permission) || (errs.Is(err, errs.NotExist) && strings.Contains(errs.Message(err), "NoSuchBucket")) {
		return errs.Field("bucket", "bucket %s is not one of the project's buckets", bucket)
	}
	return err
}

func (s *Service) runExport(ctx context.Context, j jobs.Job) (any, error) {
	var pl exportPayload
	if err := decode(j, &pl); err != nil {
		return nil, err
	}
	x, err := s.transfers()
	if err != nil {
		return nil, err
	}
	src := pl.Source
	if !pl.Snapshot {
		// A point in time of a volume that may be in use.
		src = pl.Source + ".export." + j.ID
		if err := s.backend.Snapshot(ctx, pl.Source, src); err != nil {
			return nil, err
		}
		defer s.backend.Delete(context.WithoutCancel(ctx), src)
	}
	h, err := x.Blocks.Open(ctx, src)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		var err error
		if pl.To.Format == diskimage.Qcow2 {
			_, err = diskimage.ExportQcow2(ctx, h, pw)
		} else {
			_, err = diskimage.ExportRaw(ctx, h, pw)
		}
		pw.CloseWithError(err)
		done <- err
	}()
	size := h.Size()
	if pl.To.Format == diskimage.Qcow2 {
		size = -1
	}
	err = x.Buckets.Put(ctx, j.ProjectID, pl.To.Bucket, pl.To.Key, pr, size)
	pr.CloseWithError(io.ErrClosedPipe) // unblocks the writer if Put gave up
	if werr := <-done; err == nil && werr != nil {
		err = werr
	}
	return nil, err
}

// Backups.

// BackupRef names one backup: the bucket, the volume whose backup set it
// belongs to (which may since have been deleted) and its id.
type BackupRef struct {
	Bucket   string `json:"bucket"`
	VolumeID string `json:"volume_id"`
	BackupID string `json:"backup_id"`
}

// Backup describes a complete backup.
type Backup struct {
	ID       string
	VolumeID string
	Bucket   string
	Parent   string
	Created  time.Time
	Size     int64 // the volume's bytes
	Stored   int64 // bytes this backup wrote
	Chunks   int64
}

const backupPrefix = "stowage-backups/"

func setPrefix(volumeID string) string { return backupPrefix + volumeID + "/" }

// keyAAD binds a sealed backup key to its project and volume, so another
// project that copies the key object into its bucket cannot open it.
func keyAAD(projectID, volumeID string) []byte {
	return []byte("stowage backup set key v1\x00" + projectID + "\x00" + volumeID)
}

// bucketStore is one project's bucket as backup.Store.
type bucketStore struct {
	b       Buckets
	project string
	bucket  string
}

func (st bucketStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return st.b.Put(ctx, st.project, st.bucket, key, r, size)
}
func (st bucketStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	return st.b.Get(ctx, st.project, st.bucket, key, off, length)
}
func (st bucketStore) Delete(ctx context.Context, key string) error {
	return st.b.Delete(ctx, st.project, st.bucket, key)
}
func (st bucketStore) List(ctx context.Context, prefix string) ([]string, error) {
	return st.b.List(ctx, st.project, st.bucket, prefix)
}

// backupSet opens the backup set of volumeID in a project's bucket; with
// create it makes the set's key when there is none.
func (s *Service) backupSet(ctx context.Context, projectID, bucket, volumeID string, create bool) (*backup.Set, error) {
	x, err := s.transfers()
	if err != nil {
		return nil, err
	}
	st := bucketStore{x.Buckets, projectID, bucket}
	keyObj := setPrefix(volumeID) + "key"
	rc, err := st.Get(ctx, keyObj, 0, -1)
	err = bucketErr(err, bucket)
	var key []byte
	switch {
	case err == nil:
		sealed, rerr := io.ReadAll(io.LimitReader(rc, 4096))
		rc.Close()
		if rerr != nil {
			return nil, rerr
		}
		if key, err = x.Keys.Open(string(sealed), keyAAD(projectID, volumeID)); err != nil {
			return nil, errs.Wrap(errs.Invalid, "the backup key in bucket "+bucket+" does not belong to this project and volume", err)
		}
	case errs.Is(err, errs.NotExist) && create:
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		sealed := x.Keys.Seal(key, keyAAD(projectID, volumeID))
		if err := st.Put(ctx, keyObj, strings.NewReader(sealed), int64(len(sealed))); err != nil {
			return nil, fmt.Errorf("store backup key: %w", err)
		}
	case errs.Is(err, errs.NotExist):
		return nil, errs.E(errs.NotExist, "volume %s has no backups in bucket %s", volumeID, bucket)
	default:
		return nil, err
	}
	return backup.Open(st, setPrefix(volumeID), volumeID, key)
}

type backupPayload struct {
	Bucket   string `json:"bucket"`
	BackupID string `json:"backup_id"`
}

// BackupVolume queues an incremental backup of a volume into one of its
// project's buckets and returns the backup's id.
func (s *Service) BackupVolume(ctx context.Context, p identity.Principal, volumeID, bucket string) (string, jobs.Job, error) {
	x, err := s.transfers()
	if err != nil {
		return "", jobs.Job{}, err
	}
	if err := (ObjectRef{Bucket: bucket, Key: "-"}).check(); err != nil {
		return "", jobs.Job{}, err
	}
	v, err := s.writable(ctx, p, volumeID)
	if err != nil {
		return "", jobs.Job{}, err
	}
	if s.isFilesystem(v) {
		return "", jobs.Job{}, errs.E(errs.Invalid, "volume %s is a filesystem; backups are of block volumes", v.ID)
	}
	if allowed := []Status{Available, InUse}; !slices.Contains(allowed, v.Status) {
		return "", jobs.Job{}, conflict("volume", v.ID, v.Status, "backup", allowed)
	}
	if err := checkBucket(ctx, x, v.ProjectID, bucket); err != nil {
		return "", jobs.Job{}, err
	}
	id := backup.NewID(s.o.Now())
	j, err := jobs.New(jobBackup, v.ProjectID, "volume", v.ID, backupPayload{Bucket: bucket, BackupID: id}, s.o.Now())
	if err != nil {
		return "", jobs.Job{}, err
	}
	if err := s.apply(ctx, Intent{ProjectID: v.ProjectID, Job: &j,
		Event: s.event(p, v.ProjectID, "volume.backup", "volume", v.ID, map[string]any{"bucket": bucket, "backup_id": id})}); err != nil {
		return "", jobs.Job{}, fmt.Errorf("backup volume %s: %w", v.ID, err)
	}
	return id, j, nil
}

// baseName is the pool snapshot a backup leaves behind for the next one
// to diff against.
func baseName(backendID, backupID string) string { return backendID + ".backup." + backupID }

func (s *Service) runBackup(ctx context.Context, j jobs.Job) (any, error) {
	var pl backupPayload
	if err := decode(j, &pl); err != nil {
		return nil, err
	}
	x, err := s.transfers()
	if err != nil {
		return nil, err
	}
	v, ok, err := s.loadVolume(ctx, j.ResourceID)
	if err != nil || !ok {
		return nil, err
	}
	set, err := s.backupSet(ctx, v.ProjectID, pl.Bucket, v.ID, true)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	snap := baseName(v.BackendID, pl.BackupID)
	if err := s.backend.Snapshot(ctx, v.BackendID, snap); err != nil {
		return nil, err
	}
	ids, err := set.List(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(ids, pl.BackupID) { // not done by an earlier attempt
		parent := ""
		if k := len(ids); k > 0 {
			parent = ids[k-1]
		}
		from := ""
		if parent != "" {
			if bases, err := x.Blocks.List(ctx, baseName(v.BackendID, parent)); err == nil && slices.Contains(bases, baseName(v.BackendID, parent)) {
				from = baseName(v.BackendID, parent)
			} else {
				parent = "" // its base is gone: a full backup
			}
		}
		changed, err := x.Blocks.Changed(ctx, from, snap)
		if err != nil {
			return nil, err
		}
		h, err := x.Blocks.Open(ctx, snap)
		if err != nil {
			return nil, err
		}
		_, err = set.Backup(ctx, h, backup.Options{ID: pl.BackupID, Now: s.o.Now(), Parent: parent, Changed: changed, ChunkSize: x.Blocks.ChunkSize()})
		h.Close()
		if err != nil {
			return nil, err
		}
	}
	// Only this backup's snapshot is kept, as the next one's base.
	if err := s.dropBackupBases(ctx, v.BackendID, snap); err != nil {
		return nil, err
	}
	return nil, s.prune(ctx, v, pl.Bucket)
}

// dropBackupBases deletes a volume's backup snapshots except keep.
func (s *Service) dropBackupBases(ctx context.Context, backendID, keep string) error {
	if s.xfer == nil {
		return nil
	}
	bases, err := s.xfer.Blocks.List(ctx, backendID+".backup.")
	if err != nil {
		return err
	}
	for _, b := range bases {
		if b != keep {
			if err := s.backend.Delete(ctx, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// requireBucketRole checks the caller's role on the project whose bucket
// holds backups.
func (s *Service) backupProject(ctx context.Context, p identity.Principal, projectID string, min access.Role) (string, error) {
	if projectID == "" {
		projectID = p.BoundProject
	}
	if projectID == "" {
		return "", errs.Field("project_id", "project_id is required")
	}
	if _, err := s.projects.GetProject(ctx, p, projectID); err != nil {
		return "", err
	}
	return projectID, s.projects.RequireProjectRole(ctx, p, projectID, min)
}

// ListBackups lists the complete backups of a volume (which may have been
// deleted) held in one of the project's buckets, oldest first.
func (s *Service) ListBackups(ctx context.Context, p identity.Principal, projectID, bucket, volumeID string) ([]Backup, error) {
	projectID, err := s.backupProject(ctx, p, projectID, access.Viewer)
	if err != nil {
		return nil, err
	}
	if err := (ObjectRef{Bucket: bucket, Key: "-"}).check(); err != nil {
		return nil, err
	}
	if volumeID == "" || strings.Contains(volumeID, "/") {
		return nil, errs.Field("volume_id", "volume_id is required")
	}
	set, err := s.backupSet(ctx, projectID, bucket, volumeID, false)
	if errs.Is(err, errs.NotExist) {
		return []Backup{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer set.Close()
	ids, err := set.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Backup, 0, len(ids))
	for _, id := range ids {
		m, err := set.Manifest(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, Backup{ID: id, VolumeID: volumeID, Bucket: bucket, Parent: m.Parent, Created: m.Created,
			Size: m.Size, Stored: m.Stored, Chunks: m.Chunks})
	}
	return out, nil
}

// backupSize checks a backup exists and returns its volume size; restore
// uses it to size the new volume.
func (s *Service) backupSize(ctx context.Context, projectID string, b BackupRef) (int64, error) {
	set, err := s.backupSet(ctx, projectID, b.Bucket, b.VolumeID, false)
	if err != nil {
		return 0, err
	}
	defer set.Close()
	m, err := set.Manifest(ctx, b.BackupID)
	if err != nil {
		return 0, err
	}
	return m.Size, nil
}

// DeleteBackup queues deleting one backup; later backups stay restorable.
func (s *Service) DeleteBackup(ctx context.Context, p identity.Principal, projectID string, b BackupRef) (jobs.Job, error) {
	projectID, err := s.backupProject(ctx, p, projectID, access.Member)
	if err != nil {
		return jobs.Job{}, err
	}
	if _, err := s.backupSize(ctx, projectID, b); err != nil {
		return jobs.Job{}, err
	}
	j, err := jobs.New(jobBackupDelete, projectID, "volume", b.VolumeID, b, s.o.Now())
	if err != nil {
		return jobs.Job{}, err
	}
	if err := s.apply(ctx, Intent{ProjectID: projectID, Job: &j,
		Event: s.event(p, projectID, "backup.delete", "volume", b.VolumeID, map[string]any{"bucket": b.Bucket, "backup_id": b.BackupID})}); err != nil {
		return jobs.Job{}, fmt.Errorf("delete backup %s: %w", b.BackupID, err)
	}
	return j, nil
}

func (s *Service) runBackupDelete(ctx context.Context, j jobs.Job) (any, error) {
	var b BackupRef
	if err := decode(j, &b); err != nil {
		return nil, err
	}
	set, err := s.backupSet(ctx, j.ProjectID, b.Bucket, b.VolumeID, false)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	return nil, set.Delete(ctx, b.BackupID)
}
