// Package volume owns the block service's rules: volume types, regions and
// zones, volumes and their status machine, snapshots and their retention,
// instances and attachments (which decide the NBD export names that exist),
// per-project quotas, and the audit events of all of these. It records
// intents through its Store and carries them out in jobs through a Backend;
// it knows neither SQL, HTTP, NBD nor the local pool.
package volume

import (
	"time"
)

// Status is a volume's place in the status machine of design.md.
type Status string

const (
	Creating  Status = "creating"
	Cloning   Status = "cloning" // a volume being made from a volume or snapshot
	Available Status = "available"
	Attaching Status = "attaching"
	InUse     Status = "in_use"
	Detaching Status = "detaching"
	Resizing  Status = "resizing"
	Restoring Status = "restoring" // reverting to a snapshot
	Uploading Status = "uploading" // being filled by an upload (upload.go)
	Deleting  Status = "deleting"
	Error     Status = "error"
)

// Media says how an instance sees a volume.
const (
	MediaDisk  = "disk"
	MediaCDROM = "cdrom"
)

// Volume is a block device belonging to one project.
type Volume struct {
	ID          string
	ProjectID   string
	Name        string
	Description string
	Size        int64 // bytes
	Type        string
	Zone        string
	Status      Status
	Bootable    bool
	Media       string
	MultiAttach bool
	Metadata    map[string]string
	Tags        []string
	SourceType  string // "", "volume", "snapshot", "object" (an image in a bucket) or "backup"
	SourceID    string
	// BackendID names the volume's data in the Backend. It changes when a
	// revert swaps in a clone of a snapshot.
	BackendID   string
	Error       string
	Created     time.Time
	Updated     time.Time
	Attachments []Attachment
}

// SnapshotStatus is a snapshot's state.
type SnapshotStatus string

const (
	SnapCreating  SnapshotStatus = "creating"
	SnapAvailable SnapshotStatus = "available"
	SnapDeleting  SnapshotStatus = "deleting"
	SnapError     SnapshotStatus = "error"
)

// Snapshot is a read-only point-in-time copy of one volume.
type Snapshot struct {
	ID          string
	ProjectID   string
	VolumeID    string
	Name        string
	Description string
	// Metadata is the snapshot's key/value data, never nil on reads.
	Metadata map[string]string
	// Public makes the snapshot one of the operator's images: every
	// tenant may list it and clone volumes from it (see image.go).
	Public    bool
	Size      int64
	Status    SnapshotStatus
	BackendID string
	// KeptUntil, when set, is when the retention job deletes the snapshot.
	KeptUntil *time.Time
	// Restorations are the ids of volumes made from or reverted to it.
	Restorations []string
	// ExclusiveBytes is the data only this snapshot holds (what deleting
	// it frees), as last measured; it counts towards storage usage.
	ExclusiveBytes int64
	Created        time.Time
	Updated        time.Time
}

// Power states of an instance.
const (
	Running = "running"
	Stopped = "stopped"
)

// Instance is an attachment target: a VM, a server or a host.
type Instance struct {
	ID          string
	ProjectID   string
	Name        string
	Description string
	PowerState  string
	// Addresses are the instance's client addresses, as IP prefixes
	// ("192.0.2.7/32", "2001:db8::/64"): a filesystem volume attached to
	// it is served over NFS to these only, or, with none, only to
	// clients on the node itself.
	Addresses []string
	Created   time.Time
	Updated   time.Time
}

// Attachment states.
const (
	AttAttaching = "attaching"
	AttAttached  = "attached"
	AttDetaching = "detaching"
)

// Attachment connects a volume to an instance, or exports a snapshot
// read-only; either way it is one NBD export named ExportName.
type Attachment struct {
	ID         string
	ProjectID  string
	VolumeID   string
	SnapshotID string
	InstanceID string
	ExportName string
	ReadOnly   bool
	State      string
	Created    time.Time
}

// Usage counts what a project holds against its quota.
type Usage struct {
	StorageBytes int64
	Volumes      int64
	Snapshots    int64
}

// Limits are a project's quotas; nil means unlimited.
type Limits struct {
	StorageBytes *int64
	Volumes      *int64
	Snapshots    *int64
}

// Event is one line of the audit log.
type Event struct {
	ID           string
	ProjectID    string
	UserID       string
	Action       string
	ResourceType string
	ResourceID   string
	Detail       map[string]any
	Created      time.Time
}

// Export is what the NBD resolver needs to serve one attachment.
type Export struct {
	Name      string
	BackendID string
	// ResourceID is the volume's ID, or the snapshot's for a snapshot
	// export: what usage metering counts the export's bytes against.
	ResourceID string
	ReadOnly   bool
	// Type of the volume; empty for snapshots, which are always block.
	Type string
	// Kind is the type's kind: which data plane serves the export.
	Kind string
	// IOPS and MBps are the type's per-export limits; zero is unlimited.
	IOPS int
	MBps int
	// Clients are the addresses of the instance the volume is attached
	// to (see Instance.Addresses); Metadata is the volume's.
	Clients  []string
	Metadata map[string]string
	// AllowRoot says the volume's owner asked for NFS root access
	// (MetaNFSAllowRoot); otherwise root is squashed.
	AllowRoot bool
}

// MetaNFSAllowRoot is the volume metadata key that, set to "true", lets
// NFS clients act as root on a filesystem volume. Without it the NFS
// server squashes root to nobody, as a normal NFS export does.
const MetaNFSAllowRoot = "nfs_allow_root"
