package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// Backend is the data plane of volumes: the local thin pool now, Ceph RBD
// later. Every method must be idempotent, because a job step may run again
// after a crash: creating what exists with the same shape succeeds, and
// deleting what is gone succeeds.
type Backend interface {
	Create(ctx context.Context, id string, size int64) error
	// Snapshot makes a read-only copy; Clone a writable one. The source may
	// be a volume or a snapshot.
	Snapshot(ctx context.Context, srcID, newID string) error
	Clone(ctx context.Context, srcID, newID string) error
	Grow(ctx context.Context, id string, size int64) error
	// Write streams what r yields into id at off and makes it durable
	// before returning the count, holding at most a bounded buffer.
	Write(ctx context.Context, id string, off int64, r io.Reader) (int64, error)
	Delete(ctx context.Context, id string) error
	// Usage reports bytes allocated to id and bytes only id holds.
	Usage(ctx context.Context, id string) (allocated, exclusive int64, err error)
}

// Flattener is a Backend whose clones read through their parents (RBD).
// Flatten cuts clone id from a chain of parents grown too deep to read
// through cheaply, and does nothing otherwise; it must be idempotent.
// The service runs it in a job of its own after each clone, so that the
// clone is usable before its data is copied.
type Flattener interface {
	Flatten(ctx context.Context, id string) error
}

// Files stores filesystem volumes: directory trees with a byte quota
// equal to the volume's size.
type Files interface {
	Create(ctx context.Context, id string, size int64) error
	Grow(ctx context.Context, id string, size int64) error
	Delete(ctx context.Context, id string) error
	// Usage reports the bytes the volume's files hold.
	Usage(ctx context.Context, id string) (used, quota int64, err error)
}

// Exports is the NBD side the service must reach: after an attachment
// stops being served, Revoke disconnects every client still using it.
type Exports interface {
	Revoke(ctx context.Context, exportName string)
}

// Projects is what the service needs from identity: visibility of a
// project and the caller's role on it.
type Projects interface {
	GetProject(ctx context.Context, p identity.Principal, id string) (identity.Project, error)
	RequireProjectRole(ctx context.Context, p identity.Principal, projectID string, min access.Role) error
}

// Intent is one state change recorded in a single transaction: a status
// compare-and-set on a volume and/or a snapshot, new rows, a quota
// reservation checked against the project's limits, the job that carries
// the change out, and its audit event.
type Intent struct {
	ProjectID string
	// VolumeID, when set, must be in one of From; it moves to To (unless To
	// is empty) and takes NewSize when that is positive.
	VolumeID string
	From     []Status
	To       Status
	NewSize  int64
	// At is when the intent happens (zero: now, by the store's clock).
	At time.Time
	// SnapshotID, when set, must be in one of SnapFrom and moves to SnapTo
	// (unless empty).
	SnapshotID string
	SnapFrom   []SnapshotStatus
	SnapTo     SnapshotStatus
	// RestoredTo is appended to the snapshot's restorations.
	RestoredTo string
	NewVolume  *Volume
	// NewUpload starts an upload into NewVolume.
	NewUpload     *Upload
	NewSnapshot   *Snapshot
	NewAttachment *Attachment
	// DetachID moves that attachment to detaching.
	DetachID string
	// Reserve is added to the project's usage; a positive part that would
	// exceed its limit fails the whole intent with errs.Quota.
	Reserve Usage
	Job     *jobs.Job
	Event   *Event
}

// Filter narrows volume lists. Empty fields do not filter.
type Filter struct {
	ProjectID    string
	Name         string
	NameContains string
	Status       Status
	Type         string
	Zone         string
	InstanceID   string
	Tag          string
}

// SnapshotFilter narrows snapshot lists.
type SnapshotFilter struct {
	ProjectID string
	VolumeID  string
	Name      string
	Status    SnapshotStatus
	// Public, when set, keeps only images (true) or only the others.
	Public *bool
}

// EventFilter narrows the audit log.
type EventFilter struct {
	ProjectID    string
	ResourceType string
	ResourceID   string
	Action       string
}

// Store is what the service needs from persistence. Every get and list of
// tenant data filters by the caller's scope in the query. Methods that
// change state are transactions; compare-and-set failures are errs.Conflict.
type Store interface {
	Apply(ctx context.Context, in Intent) error

	GetVolume(ctx context.Context, sc access.Scope, id string) (Volume, error)
	ListVolumes(ctx context.Context, sc access.Scope, f Filter, r page.Request) ([]Volume, error)
	// UpdateVolume writes the mutable fields (and the type) if the status
	// is one of allowed (any when allowed is empty).
	UpdateVolume(ctx context.Context, v Volume, allowed []Status, e Event) error
	// SetVolumeStatus moves a volume from one of from to to.
	SetVolumeStatus(ctx context.Context, id string, from []Status, to Status, errMsg string) error
	// SetVolumeBackend points a restoring volume at new data and makes it
	// available.
	SetVolumeBackend(ctx context.Context, id, backendID string, size int64) error
	// CompleteAttach marks the attachment attached and the volume in use.
	CompleteAttach(ctx context.Context, attachmentID string) error
	// CompleteDetach removes the attachment; the volume becomes available,
	// or stays in use when other attachments remain.
	CompleteDetach(ctx context.Context, volumeID, attachmentID string) error
	// RemoveVolume deletes the volume's row and attachments and releases
	// its usage. Removing a missing volume succeeds.
	RemoveVolume(ctx context.Context, id string) error
	ListAttachments(ctx context.Context, volumeID, snapshotID string) ([]Attachment, error)
	CreateExport(ctx context.Context, a Attachment, e Event) error
	// RemoveAttachment deletes an attachment, recording e when it is set.
	RemoveAttachment(ctx context.Context, id string, e *Event) error
	ExportByName(ctx context.Context, name string) (Export, error)
	// ProjectAttachments lists a project's attachments and snapshot
	// exports in any state; RenameExports gives them new names (skipping
	// any whose name is no longer Old) with events, in one transaction.
	ProjectAttachments(ctx context.Context, projectID string) ([]Attachment, error)
	RenameExports(ctx context.Context, renames []Rename, events []Event) error

	GetSnapshot(ctx context.Context, sc access.Scope, id string) (Snapshot, error)
	ListSnapshots(ctx context.Context, sc access.Scope, f SnapshotFilter, r page.Request) ([]Snapshot, error)
	UpdateSnapshot(ctx context.Context, s Snapshot, e Event) error
	SetSnapshotStatus(ctx context.Context, id string, from []SnapshotStatus, to SnapshotStatus) error
	RemoveSnapshot(ctx context.Context, id string) error
	// SetSnapshotExclusive records a measurement of a snapshot's exclusive
	// bytes and moves the project's storage usage by the difference.
	SetSnapshotExclusive(ctx context.Context, id string, bytes int64) error
	ExpiredSnapshots(ctx context.Context, now time.Time, limit int) ([]Snapshot, error)

	CreateInstance(ctx context.Context, in Instance, e Event) error
	GetInstance(ctx context.Context, sc access.Scope, id string) (Instance, error)
	ListInstances(ctx context.Context, sc access.Scope, projectID string, r page.Request) ([]Instance, error)
	UpdateInstance(ctx context.Context, in Instance, e Event) error
	// DeleteInstance fails with errs.Conflict while volumes are attached.
	DeleteInstance(ctx context.Context, id string, e Event) error

	GetQuota(ctx context.Context, projectID string) (Limits, Usage, error)
	SetQuota(ctx context.Context, projectID string, l Limits, e Event) error

	ListEvents(ctx context.Context, sc access.Scope, f EventFilter, r page.Request) ([]Event, error)

	// GetVolumeUpload returns a volume's upload in progress.
	GetVolumeUpload(ctx context.Context, volumeID string) (Upload, error)
	// AddVolumeUploadRange records received bytes (errs.Exist when some were
	// already) and, when the image is whole, ends the upload: the volume
	// becomes available, or, given finish, restoring with finish queued.
	AddVolumeUploadRange(ctx context.Context, volumeID string, r Range, finish *jobs.Job) (Upload, error)
}

// Options configure a Service.
type Options struct {
	// NBDAddress and NFSAddress are the host:port put into
	// connection_info URIs of block and filesystem volumes.
	NBDAddress string
	NFSAddress string
	// NBDTLS makes block volumes' URIs nbds://: the NBD listener offers
	// STARTTLS.
	NBDTLS bool
	// Files holds filesystem volumes; without it they cannot be made.
	Files Files
	// Wake, when set, tells the job runner new work is queued.
	Wake func()
	Now  func() time.Time
}

// Service applies the block service's rules.
type Service struct {
	store    Store
	backend  Backend
	exports  Exports
	projects Projects
	catalog  *Catalog
	o        Options
	xfer     *Transfers // images and backups; nil until UseTransfers
}

// NewService builds a service. exports may be nil until the NBD server
// exists; then revocation only stops new connections.
func NewService(store Store, backend Backend, exports Exports, projects Projects, catalog *Catalog, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Wake == nil {
		o.Wake = func() {}
	}
	return &Service{store: store, backend: backend, exports: exports, projects: projects, catalog: catalog, o: o}
}

// Catalog returns the types and zones.
func (s *Service) Catalog() *Catalog { return s.catalog }

// NewID returns a time-ordered id.
func NewID() string { return identity.NewID() }

// NFSExportPrefix starts the export names of filesystem volumes, which
// the NFS server takes; block exports start with "att-".
const NFSExportPrefix = "fs-"

// newExportName is unguessable: 128 random bits, so knowing the NBD or
// NFS address is not enough to reach a volume.
func newExportName(kind string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	if kind == KindFilesystem {
		return NFSExportPrefix + hex.EncodeToString(b)
	}
	return "att-" + hex.EncodeToString(b)
}

// ConnectionInfo is what a hypervisor needs to open an attachment.
type ConnectionInfo struct {
	Driver string
	URI    string
}

// ConnectionInfo returns the NBD or NFS URI of an attachment; none when
// its export name was withheld from the caller.
func (s *Service) ConnectionInfo(a Attachment) ConnectionInfo {
	if a.ExportName == "" {
		return ConnectionInfo{}
	}
	if strings.HasPrefix(a.ExportName, NFSExportPrefix) {
		return ConnectionInfo{Driver: "nfs", URI: "nfs://" + s.o.NFSAddress + "/" + a.ExportName}
	}
	scheme := "nbd://"
	if s.o.NBDTLS {
		scheme = "nbds://"
	}
	return ConnectionInfo{Driver: "nbd", URI: scheme + s.o.NBDAddress + "/" + a.ExportName}
}

func (s *Service) event(p identity.Principal, projectID, action, rtype, rid string, detail map[string]any) *Event {
	return &Event{ID: NewID(), ProjectID: projectID, UserID: p.User.ID, Action: action, ResourceType: rtype,
		ResourceID: rid, Detail: detail, Created: s.o.Now().UTC()}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,127}$`)

func checkName(v string) error {
	if !nameRE.MatchString(v) {
		return errs.Field("name", "name must be 1-128 characters: letters, digits, spaces, '.', '_', ':' or '-', starting with a letter or digit")
	}
	return nil
}

func checkDescription(v string) error {
	if len(v) > 1024 {
		return errs.Field("description", "description must be at most 1024 bytes")
	}
	return nil
}

func checkMetadata(m map[string]string, tags []string) error {
	if len(m) > 64 {
		return errs.Field("metadata", "at most 64 metadata keys")
	}
	for k, v := range m {
		if k == "" || len(k) > 255 || len(v) > 1024 {
			return errs.Field("metadata", "metadata keys must be 1-255 bytes and values at most 1024 bytes")
		}
	}
	if len(tags) > 64 {
		return errs.Field("tags", "at most 64 tags")
	}
	for _, t := range tags {
		if t == "" || len(t) > 128 {
			return errs.Field("tags", "tags must be 1-128 bytes")
		}
	}
	return nil
}

func checkMedia(m string) error {
	if m != MediaDisk && m != MediaCDROM {
		return errs.Field("media", "media must be disk or cdrom")
	}
	return nil
}

// CheckCreate applies the request-only rules of CreateVolume for a volume
// without a source (name, description, metadata, tags, media, type and
// size), so an edge that creates several volumes at once can refuse the
// whole batch before recording any of them.
func (s *Service) CheckCreate(c Create) error {
	if err := checkName(c.Name); err != nil {
		return err
	}
	if err := checkDescription(c.Description); err != nil {
		return err
	}
	if err := checkMetadata(c.Metadata, c.Tags); err != nil {
		return err
	}
	if c.Media != "" {
		if err := checkMedia(c.Media); err != nil {
			return err
		}
	}
	typ := c.Type
	if typ == "" {
		typ = s.catalog.types[0].Name
	}
	t, err := s.catalog.Type(typ)
	if err != nil {
		return err
	}
	return t.checkSize(c.Size)
}

// conflict names the states an operation needs.
func conflict(what, id string, have Status, op string, allowed []Status) error {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return errs.E(errs.Conflict, "%s %s is %s; %s needs it to be %s", what, id, have, op, strings.Join(names, " or "))
}

// writable loads a volume the caller can see and checks they may change it.
func (s *Service) writable(ctx context.Context, p identity.Principal, id string) (Volume, error) {
	v, err := s.store.GetVolume(ctx, p.Scope(), id)
	if err != nil {
		return Volume{}, err
	}
	if err := s.projects.RequireProjectRole(ctx, p, v.ProjectID, access.Member); err != nil {
		return Volume{}, err
	}
	return v, nil
}

// apply records an intent and wakes the runner when it carries a job.
func (s *Service) apply(ctx context.Context, in Intent) error {
	if err := s.store.Apply(ctx, in); err != nil {
		return err
	}
	if in.Job != nil {
		s.o.Wake()
	}
	return nil
}

// Create holds what a new volume may be given.
type Create struct {
	ProjectID   string
	Name        string
	Description string
	Size        int64
	Type        string
	Zone        string
	Bootable    bool
	Media       string
	MultiAttach bool
	Metadata    map[string]string
	Tags        []string
	// At most one source: a snapshot of the project, a volume of the
	// project, or a public image of any project.
	SnapshotID string
	VolumeID   string
	ImageID    string
	// Upload makes an empty volume that an upload of Size bytes fills
	// (see upload.go); it takes no source.
	Upload bool
	// Object imports a raw or qcow2 image from one of the project's
	// buckets; Backup restores a backup from one (transfer.go).
	Object *ObjectRef
	Backup *BackupRef
}

// CreateVolume records a new volume and queues the job that makes its data;
// an upload's data comes from its pieces instead (WriteUpload).
func (s *Service) CreateVolume(ctx context.Context, p identity.Principal, c Create) (Volume, jobs.Job, error) {
	if c.ProjectID == "" {
		c.ProjectID = p.BoundProject
	}
	if c.ProjectID == "" {
		return Volume{}, jobs.Job{}, errs.Field("project_id", "project_id is required")
	}
	if _, err := s.projects.GetProject(ctx, p, c.ProjectID); err != nil {
		if errs.Is(err, errs.NotExist) {
			return Volume{}, jobs.Job{}, errs.Field("project_id", "project %s not found", c.ProjectID)
		}
		return Volume{}, jobs.Job{}, err
	}
	if err := s.projects.RequireProjectRole(ctx, p, c.ProjectID, access.Member); err != nil {
		return Volume{}, jobs.Job{}, err
	}
	if c.Name == "" {
		c.Name = "volume"
	}
	if err := checkName(c.Name); err != nil {
		return Volume{}, jobs.Job{}, err
	}
	if err := checkDescription(c.Description); err != nil {
		return Volume{}, jobs.Job{}, err
	}
	if err := checkMetadata(c.Metadata, c.Tags); err != nil {
		return Volume{}, jobs.Job{}, err
	}
	sources := 0
	for _, given := range []bool{c.SnapshotID != "", c.VolumeID != "", c.ImageID != "", c.Upload, c.Object != nil, c.Backup != nil} {
		if given {
			sources++
		}
	}
	if sources > 1 {
		return Volume{}, jobs.Job{}, errs.Field("source", "give at most one source: snapshot_id, source_volume_id, image_id, an upload, an image object or a backup")
	}
	switch c.Media {
	case "":
		c.Media = MediaDisk
	case MediaDisk, MediaCDROM:
	default:
		return Volume{}, jobs.Job{}, errs.Field("media", "media must be disk or cdrom")
	}
	in := Intent{ProjectID: c.ProjectID}
	var srcBackend, srcType string
	var srcSize int64
	switch {
	case c.SnapshotID != "":
		sn, err := s.store.GetSnapshot(ctx, p.Scope(), c.SnapshotID)
		if err != nil {
			return Volume{}, jobs.Job{}, fieldNotFound(err, "snapshot_id", "snapshot", c.SnapshotID)
		}
		if sn.ProjectID != c.ProjectID {
			return Volume{}, jobs.Job{}, errs.Field("snapshot_id", "snapshot %s belongs to another project", sn.ID)
		}
		if sn.Status != SnapAvailable {
			return Volume{}, jobs.Job{}, errs.E(errs.Conflict, "snapshot %s is %s; restoring needs it to be available", sn.ID, sn.Status)
		}
		in.SnapshotID, in.SnapFrom = sn.ID, []SnapshotStatus{SnapAvailable}
		srcBackend, srcSize = sn.BackendID, sn.Size
		if src, err := s.store.GetVolume(ctx, access.System, sn.VolumeID); err == nil {
			srcType = src.Type
		}
	case c.ImageID != "":
		img, err := s.GetImage(ctx, p, c.ImageID)
		if err != nil {
			return Volume{}, jobs.Job{}, fieldNotFound(err, "image_id", "image", c.ImageID)
		}
		if img.Status != SnapAvailable {
			return Volume{}, jobs.Job{}, errs.E(errs.Conflict, "image %s is %s; cloning needs it to be available", img.ID, img.Status)
		}
		// The compare-and-set on the image's row orders this clone against
		// its unpublishing; no restoration is recorded, so the operator's
		// snapshot never names tenants' volumes.
		in.SnapshotID, in.SnapFrom = img.ID, []SnapshotStatus{SnapAvailable}
		srcBackend, srcSize = img.BackendID, img.Size
		if src, err := s.store.GetVolume(ctx, access.System, img.VolumeID); err == nil {
			srcType = src.Type
		}
	case c.Object != nil:
		if err := c.Object.check(); err != nil {
			return Volume{}, jobs.Job{}, err
		}
		info, err := s.probeObject(ctx, c.ProjectID, *c.Object)
		if err != nil {
			return Volume{}, jobs.Job{}, err
		}
		srcSize = (info.VirtualSize + 511) &^ 511
	case c.Backup != nil:
		if err := (ObjectRef{Bucket: c.Backup.Bucket, Key: "-"}).check(); err != nil {
			return Volume{}, jobs.Job{}, err
		}
		n, err := s.backupSize(ctx, c.ProjectID, *c.Backup)
		if err != nil {
			return Volume{}, jobs.Job{}, err
		}
		srcSize = n
	case c.VolumeID != "":
		src, err := s.store.GetVolume(ctx, p.Scope(), c.VolumeID)
		if err != nil {
			return Volume{}, jobs.Job{}, fieldNotFound(err, "source_volume_id", "volume", c.VolumeID)
		}
		if src.ProjectID != c.ProjectID {
			return Volume{}, jobs.Job{}, errs.Field("source_volume_id", "volume %s belongs to another project", src.ID)
		}
		allowed := []Status{Available, InUse}
		if !slices.Contains(allowed, src.Status) {
			return Volume{}, jobs.Job{}, conflict("volume", src.ID, src.Status, "cloning", allowed)
		}
		in.VolumeID, in.From = src.ID, allowed
		srcBackend, srcSize, srcType = src.BackendID, src.Size, src.Type
	}
	if c.Type == "" {
		c.Type = srcType
	}
	if c.Type == "" {
		c.Type = s.catalog.types[0].Name
	}
	t, err := s.catalog.Type(c.Type)
	if err != nil {
		return Volume{}, jobs.Job{}, err
	}
	if c.Size == 0 {
		c.Size = srcSize
		if c.Object != nil || c.Backup != nil {
			c.Size = uploadSize(t, srcSize) // an image may be smaller than the type allows
		}
	}
	var upload *Upload
	if c.Upload {
		if t.Kind != KindBlock {
			return Volume{}, jobs.Job{}, errs.Field("type", "only block volumes take uploads")
		}
		if c.Size <= 0 {
			return Volume{}, jobs.Job{}, errs.Field("size", "size must be the image's size in bytes")
		}
		upload = &Upload{Total: c.Size, Received: []Range{}}
		c.Size = uploadSize(t, c.Size)
	}
	if err := t.checkSize(c.Size); err != nil {
		return Volume{}, jobs.Job{}, err
	}
	if (c.Object != nil || c.Backup != nil) && t.Kind != KindBlock {
		return Volume{}, jobs.Job{}, errs.Field("type", "images and backups restore into block volumes")
	}
	if c.Size < srcSize {
		return Volume{}, jobs.Job{}, errs.Field("size", "size %d is smaller than the source's %d bytes", c.Size, srcSize)
	}
	if st, err := s.catalog.Type(srcType); err == nil && srcBackend != "" && st.Kind != KindBlock {
		return Volume{}, jobs.Job{}, errs.Field("source_volume_id", "%s volumes cannot be cloned", st.Kind)
	}
	if srcBackend != "" && t.Kind != KindBlock {
		return Volume{}, jobs.Job{}, errs.Field("type", "a %s volume cannot be made from a block source", t.Name)
	}
	if t.Kind == KindFilesystem && s.o.Files == nil {
		return Volume{}, jobs.Job{}, errs.E(errs.Unavailable, "this node has no filesystem volume store")
	}
	zone, err := s.catalog.Zone(c.Zone)
	if err != nil {
		return Volume{}, jobs.Job{}, err
	}
	now := s.o.Now().UTC()
	id := NewID()
	v := Volume{ID: id, ProjectID: c.ProjectID, Name: c.Name, Description: c.Description, Size: c.Size, Type: t.Name,
		Zone: zone, Status: Creating, Bootable: c.Bootable, Media: c.Media, MultiAttach: c.MultiAttach,
		Metadata: c.Metadata, Tags: c.Tags, BackendID: id, Created: now, Updated: now}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	if c.SnapshotID != "" {
		v.SourceType, v.SourceID, v.Status = "snapshot", c.SnapshotID, Cloning
		in.RestoredTo = id
	} else if c.VolumeID != "" {
		v.SourceType, v.SourceID, v.Status = "volume", c.VolumeID, Cloning
	} else if c.ImageID != "" {
		// An image is a snapshot: the guard against deleting a source
		// while a clone reads it applies as it does to snapshots.
		v.SourceType, v.SourceID, v.Status = "snapshot", c.ImageID, Cloning
	}
	var j jobs.Job
	if upload != nil {
		// The upload's first piece makes the data; there is nothing to
		// run before it.
		v.Status, upload.VolumeID = Uploading, v.ID
		in.NewUpload = upload
	} else {
		if c.Object != nil {
			v.SourceType, v.SourceID = "object", c.Object.Bucket+"/"+c.Object.Key
		} else if c.Backup != nil {
			v.SourceType, v.SourceID = "backup", c.Backup.BackupID
		}
		pl := createPayload{SourceBackend: srcBackend, Kind: t.Kind, Object: c.Object, Backup: c.Backup}
		if j, err = jobs.New(jobCreate, v.ProjectID, "volume", v.ID, pl, now); err != nil {
			return Volume{}, jobs.Job{}, err
		}
		in.Job = &j
	}
	in.NewVolume = &v
	in.Reserve = Usage{StorageBytes: v.Size, Volumes: 1}
	in.Event = s.event(p, v.ProjectID, "volume.create", "volume", v.ID, map[string]any{"size": v.Size, "type": v.Type, "source": v.SourceID})
	if err := s.apply(ctx, in); err != nil {
		return Volume{}, jobs.Job{}, fmt.Errorf("create volume: %w", err)
	}
	return v, j, nil
}

func fieldNotFound(err error, field, what, id string) error {
	if errs.Is(err, errs.NotExist) {
		return errs.Field(field, "%s %s not found", what, id)
	}
	return err
}

// GetVolume returns a visible volume with its attachments (their export
// names only for those who may attach).
func (s *Service) GetVolume(ctx context.Context, p identity.Principal, id string) (Volume, error) {
	v, err := s.store.GetVolume(ctx, p.Scope(), id)
	if err != nil {
		return Volume{}, err
	}
	return v, s.exportReader(p).redact(ctx, v.Attachments)
}

// ListVolumes lists visible volumes.
func (s *Service) ListVolumes(ctx context.Context, p identity.Principal, f Filter, r page.Request) (page.Result[Volume], error) {
	r = r.Normalize()
	if f.Type != "" {
		if t, err := s.catalog.Type(f.Type); err == nil {
			f.Type = t.Name
		}
	}
	rows, err := s.store.ListVolumes(ctx, p.Scope(), f, page.Request{Limit: r.Limit + 1, After: r.After})
	if err != nil {
		return page.Result[Volume]{}, fmt.Errorf("list volumes: %w", err)
	}
	if err := s.exportReader(p).redactVolumes(ctx, rows); err != nil {
		return page.Result[Volume]{}, err
	}
	return page.Make(rows, r, func(v Volume) string { return v.ID }), nil
}

// Update holds the fields a PATCH may change; nil leaves a field alone.
type Update struct {
	Name        *string
	Description *string
	Bootable    *bool
	MultiAttach *bool
	Metadata    *map[string]string
	Tags        *[]string
	// Media is how instances see the volume (disk or cdrom); CloudSigma
	// lets a drive's media be edited.
	Media *string
}

// UpdateVolume changes descriptive fields; turning multi-attach off is
// refused while more than one attachment exists.
func (s *Service) UpdateVolume(ctx context.Context, p identity.Principal, id string, u Update) (Volume, error) {
	v, err := s.writable(ctx, p, id)
	if err != nil {
		return Volume{}, err
	}
	if u.Name != nil {
		if err := checkName(*u.Name); err != nil {
			return Volume{}, err
		}
		v.Name = *u.Name
	}
	if u.Description != nil {
		if err := checkDescription(*u.Description); err != nil {
			return Volume{}, err
		}
		v.Description = *u.Description
	}
	if u.Bootable != nil {
		v.Bootable = *u.Bootable
	}
	if u.Media != nil {
		if err := checkMedia(*u.Media); err != nil {
			return Volume{}, err
		}
		v.Media = *u.Media
	}
	if u.Metadata != nil {
		v.Metadata = *u.Metadata
	}
	if u.Tags != nil {
		v.Tags = *u.Tags
	}
	if err := checkMetadata(v.Metadata, v.Tags); err != nil {
		return Volume{}, err
	}
	var allowed []Status
	if u.MultiAttach != nil {
		if !*u.MultiAttach && v.MultiAttach {
			// Changing it only when detached keeps "more attachments than
			// allowed" impossible.
			allowed = []Status{Available, Error}
			if !slices.Contains(allowed, v.Status) {
				return Volume{}, conflict("volume", v.ID, v.Status, "turning multi-attach off", allowed)
			}
		}
		v.MultiAttach = *u.MultiAttach
	}
	v.Updated = s.o.Now().UTC()
	if err := s.store.UpdateVolume(ctx, v, allowed, *s.event(p, v.ProjectID, "volume.update", "volume", v.ID, nil)); err != nil {
		return Volume{}, fmt.Errorf("update volume %s: %w", id, err)
	}
	return v, nil
}

// DeleteVolume queues deletion. Attached volumes are refused unless force,
// which revokes their exports first.
func (s *Service) DeleteVolume(ctx context.Context, p identity.Principal, id string, force bool) (jobs.Job, error) {
	v, err := s.writable(ctx, p, id)
	if err != nil {
		return jobs.Job{}, err
	}
	allowed := []Status{Available, Error, Uploading}
	if force {
		allowed = []Status{Available, Error, Uploading, InUse, Attaching, Detaching, Creating, Cloning}
	}
	if !slices.Contains(allowed, v.Status) {
		msg := conflict("volume", v.ID, v.Status, "delete", allowed)
		if v.Status == InUse {
			return jobs.Job{}, errs.E(errs.Conflict, "%s (or force=true to detach it first)", errs.Message(msg))
		}
		return jobs.Job{}, msg
	}
	j, err := jobs.New(jobDelete, v.ProjectID, "volume", v.ID, struct{}{}, s.o.Now())
	if err != nil {
		return jobs.Job{}, err
	}
	err = s.apply(ctx, Intent{ProjectID: v.ProjectID, VolumeID: v.ID, From: allowed, To: Deleting, Job: &j,
		Event: s.event(p, v.ProjectID, "volume.delete", "volume", v.ID, map[string]any{"force": force})})
	if err != nil {
		return jobs.Job{}, fmt.Errorf("delete volume %s: %w", id, err)
	}
	return j, nil
}

// ExtendVolume grows a volume; the job resizes the data and restores the
// status it had.
func (s *Service) ExtendVolume(ctx context.Context, p identity.Principal, id string, size int64) (Volume, jobs.Job, error) {
	v, err := s.writable(ctx, p, id)
	if err != nil {
		return Volume{}, jobs.Job{}, err
	}
	t, err := s.catalog.Type(v.Type)
	if err != nil {
		return Volume{}, jobs.Job{}, err
	}
	if size <= v.Size {
		return Volume{}, jobs.Job{}, errs.Field("size", "extend only grows: new size %d must be larger than the current %d bytes", size, v.Size)
	}
	if err := t.checkSize(size); err != nil {
		return Volume{}, jobs.Job{}, err
	}
	allowed := []Status{Available, InUse}
	if !slices.Contains(allowed, v.Status) {
		return Volume{}, jobs.Job{}, conflict("volume", v.ID, v.Status, "extend", allowed)
	}
	j, err := jobs.New(jobExtend, v.ProjectID, "volume", v.ID, extendPayload{Size: size, Back: v.Status}, s.o.Now())
	if err != nil {
		return Volume{}, jobs.Job{}, err
	}
	err = s.apply(ctx, Intent{ProjectID: v.ProjectID, VolumeID: v.ID, From: []Status{v.Status}, To: Resizing, NewSize: size, At: s.o.Now(),
		Reserve: Usage{StorageBytes: size - v.Size}, Job: &j,
		Event: s.event(p, v.ProjectID, "volume.extend", "volume", v.ID, map[string]any{"from": v.Size, "to": size})})
	if err != nil {
		return Volume{}, jobs.Job{}, fmt.Errorf("extend volume %s: %w", id, err)
	}
	v.Status, v.Size = Resizing, size
	return v, j, nil
}

// RetypeVolume changes a detached volume's type. Types of one kind share
// the pool, so the data stays where it is and only the limits change.
func (s *Service) RetypeVolume(ctx context.Context, p identity.Principal, id, typ string) (Volume, error) {
	v, err := s.writable(ctx, p, id)
	if err != nil {
		return Volume{}, err
	}
	t, err := s.catalog.Type(typ)
	if err != nil {
		return Volume{}, err
	}
	old, err := s.catalog.Type(v.Type)
	if err != nil {
		return Volume{}, err
	}
	if t.Kind != old.Kind {
		return Volume{}, errs.Field("type", "cannot retype a %s volume to %s, a %s type", old.Kind, t.Name, t.Kind)
	}
	if err := t.checkSize(v.Size); err != nil {
		return Volume{}, err
	}
	allowed := []Status{Available}
	if v.Status != Available {
		return Volume{}, conflict("volume", v.ID, v.Status, "retype", allowed)
	}
	from := v.Type
	v.Type, v.Updated = t.Name, s.o.Now().UTC()
	ev := s.event(p, v.ProjectID, "volume.retype", "volume", v.ID, map[string]any{"from": from, "to": t.Name})
	if err := s.store.UpdateVolume(ctx, v, allowed, *ev); err != nil {
		return Volume{}, fmt.Errorf("retype volume %s: %w", id, err)
	}
	return v, nil
}
