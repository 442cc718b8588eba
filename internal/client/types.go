package client

// The native API's resources, with the JSON names the server documents in
// /api/v1/openapi.json.

type Organisation struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	CreatedAt   string `json:"created_at"`
}

type Project struct {
	ID             string `json:"id"`
	OrganisationID string `json:"organisation_id"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	CreatedAt      string `json:"created_at"`
}

type Member struct {
	UserID    string `json:"user_id"`
	Username  string `json:"username"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
}

type User struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	FullName  string `json:"full_name"`
	Staff     bool   `json:"staff"`
	CreatedAt string `json:"created_at"`
}

type Token struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	ProjectID  string  `json:"project_id,omitempty"`
	Prefix     string  `json:"prefix"`
	ExpiresAt  *string `json:"expires_at"`
	LastUsedAt *string `json:"last_used_at"`
	CreatedAt  string  `json:"created_at"`
	Token      string  `json:"token,omitempty"`
}

type Job struct {
	ID           string         `json:"id"`
	Kind         string         `json:"kind"`
	ProjectID    string         `json:"project_id,omitempty"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	State        string         `json:"state"`
	Attempts     int            `json:"attempts"`
	MaxAttempts  int            `json:"max_attempts"`
	Error        string         `json:"error"`
	Result       map[string]any `json:"result"`
	CreatedAt    string         `json:"created_at"`
	UpdatedAt    string         `json:"updated_at"`
	FinishedAt   *string        `json:"finished_at"`
}

// Session is the answer of a password login.
type Session struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
}

type Component struct {
	Type         string `json:"type"`
	Name         string `json:"name"`
	MeasuredUnit string `json:"measured_unit"`
	BillingType  string `json:"billing_type"`
	MinValue     int64  `json:"min_value"`
	MaxValue     int64  `json:"max_value"`
}

type Offering struct {
	ID               string      `json:"id"`
	Name             string      `json:"name"`
	Description      string      `json:"description"`
	Kind             string      `json:"kind"`
	Type             string      `json:"type"`
	VolumeType       string      `json:"volume_type,omitempty"`
	Category         string      `json:"category"`
	State            string      `json:"state"`
	ProviderApproval bool        `json:"provider_approval"`
	Components       []Component `json:"components"`
	CreatedAt        string      `json:"created_at"`
}

type Plan struct {
	ID          string            `json:"id"`
	OfferingID  string            `json:"offering_id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Unit        string            `json:"unit"`
	Prices      map[string]string `json:"prices"`
	InitPrice   string            `json:"init_price"`
	SwitchPrice string            `json:"switch_price"`
	Archived    bool              `json:"archived"`
}

type Order struct {
	ID           string           `json:"id"`
	ProjectID    string           `json:"project_id"`
	OfferingID   string           `json:"offering_id"`
	PlanID       string           `json:"plan_id,omitempty"`
	ResourceID   string           `json:"resource_id"`
	Type         string           `json:"type"`
	State        string           `json:"state"`
	Attributes   map[string]any   `json:"attributes"`
	Limits       map[string]int64 `json:"limits"`
	Cost         string           `json:"cost,omitempty"`
	ErrorMessage string           `json:"error_message"`
	CreatedAt    string           `json:"created_at"`
	UpdatedAt    string           `json:"updated_at"`
	CompletedAt  *string          `json:"completed_at"`
}

type ConnectionInfo struct {
	Driver string `json:"driver"`
	URI    string `json:"uri"`
}

type Attachment struct {
	ID             string         `json:"id"`
	VolumeID       string         `json:"volume_id"`
	SnapshotID     string         `json:"snapshot_id,omitempty"`
	InstanceID     string         `json:"instance_id,omitempty"`
	ReadOnly       bool           `json:"read_only"`
	State          string         `json:"state"`
	ConnectionInfo ConnectionInfo `json:"connection_info"`
	CreatedAt      string         `json:"created_at"`
}

// VolumeType is a kind of volume the server offers: block volumes are
// reached over NBD, filesystem volumes over NFS.
type VolumeType struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	Aliases    []string `json:"aliases"`
	MinSize    int64    `json:"min_size"`
	MaxSize    int64    `json:"max_size"`
	IOPSLimit  int      `json:"iops_limit"`
	MiBpsLimit int      `json:"mibps_limit"`
}

type Volume struct {
	ID          string            `json:"id"`
	ProjectID   string            `json:"project_id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Size        int64             `json:"size"`
	Type        string            `json:"type"`
	Zone        string            `json:"zone"`
	Status      string            `json:"status"`
	Bootable    bool              `json:"bootable"`
	Media       string            `json:"media"`
	MultiAttach bool              `json:"multiattach"`
	Metadata    map[string]string `json:"metadata"`
	Tags        []string          `json:"tags"`
	SourceType  string            `json:"source_type,omitempty"`
	SourceID    string            `json:"source_id,omitempty"`
	Error       string            `json:"error,omitempty"`
	Attachments []Attachment      `json:"attachments"`
	CreatedAt   string            `json:"created_at"`
}

type Snapshot struct {
	ID           string   `json:"id"`
	ProjectID    string   `json:"project_id"`
	VolumeID     string   `json:"volume_id"`
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Size         int64    `json:"size"`
	Status       string   `json:"status"`
	KeptUntil    *string  `json:"kept_until"`
	Restorations []string `json:"restorations"`
	CreatedAt    string   `json:"created_at"`
}

type Instance struct {
	ID          string   `json:"id"`
	ProjectID   string   `json:"project_id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	PowerState  string   `json:"power_state"`
	Addresses   []string `json:"addresses"`
	CreatedAt   string   `json:"created_at"`
}

// Accepted is the answer to an asynchronous request: what was recorded
// and the job that carries it out.
type Accepted struct {
	Volume     *Volume     `json:"volume,omitempty"`
	Snapshot   *Snapshot   `json:"snapshot,omitempty"`
	Attachment *Attachment `json:"attachment,omitempty"`
	Backup     *BackupRef  `json:"backup,omitempty"`
	Job        Job         `json:"job"`
}

// BackupRef names a backup being made.
type BackupRef struct {
	ID       string `json:"id"`
	VolumeID string `json:"volume_id"`
	Bucket   string `json:"bucket"`
}

// BackupPolicy is a volume's scheduled backups and their retention.
type BackupPolicy struct {
	VolumeID   string  `json:"volume_id"`
	Enabled    bool    `json:"enabled"`
	Bucket     string  `json:"bucket"`
	EveryHours int     `json:"every_hours"`
	KeepLast   int     `json:"keep_last"`
	KeepDaily  int     `json:"keep_daily"`
	KeepWeekly int     `json:"keep_weekly"`
	NextRunAt  *string `json:"next_run_at"`
}

// Backup is a complete backup of a volume in a bucket.
type Backup struct {
	ID          string  `json:"id"`
	VolumeID    string  `json:"volume_id"`
	Bucket      string  `json:"bucket"`
	Parent      *string `json:"parent"`
	CreatedAt   string  `json:"created_at"`
	Size        int64   `json:"size"`
	StoredBytes int64   `json:"stored_bytes"`
	Chunks      int64   `json:"chunks"`
}

type Bucket struct {
	Name        string `json:"name"`
	ProjectID   string `json:"project_id"`
	ServiceID   string `json:"service_id,omitempty"`
	Region      string `json:"region"`
	Tier        string `json:"tier"`
	Public      bool   `json:"public"`
	SizeBytes   int64  `json:"size_bytes"`
	ObjectCount int64  `json:"object_count"`
	CreatedAt   string `json:"created_at"`
}

type Credential struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	ProjectID       string `json:"project_id"`
	ServiceID       string `json:"service_id,omitempty"`
	Description     string `json:"description"`
	Endpoint        string `json:"endpoint_url"`
	CreatedAt       string `json:"created_at"`
}

// KMSKey is a project's SSE-KMS key (never its material).
type KMSKey struct {
	ID           string `json:"id"`
	ARN          string `json:"arn"`
	ProjectID    string `json:"project_id"`
	Alias        string `json:"alias,omitempty"`
	Description  string `json:"description"`
	State        string `json:"state"`
	CreatedAt    string `json:"created_at"`
	DeletionDate string `json:"deletion_date,omitempty"`
}

// NotificationTarget is a webhook that receives S3 event notifications;
// Secret is set only in the answer that created it.
type NotificationTarget struct {
	Name      string `json:"name"`
	ProjectID string `json:"project_id"`
	URL       string `json:"url"`
	ARN       string `json:"arn"`
	Secret    string `json:"secret,omitempty"`
	CreatedAt string `json:"created_at"`
}

type Event struct {
	ID           string         `json:"id"`
	ProjectID    string         `json:"project_id,omitempty"`
	UserID       string         `json:"user_id,omitempty"`
	Action       string         `json:"action"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	Detail       map[string]any `json:"detail"`
	CreatedAt    string         `json:"created_at"`
}

// Pools is the operator's view of the node's storage (staff only).
type Pools struct {
	Block  BlockPool  `json:"block"`
	Object ObjectPool `json:"object"`
}

type BlockPool struct {
	CapacityBytes int64 `json:"capacity_bytes"`
	FreeBytes     int64 `json:"free_bytes"`
	ChunkSize     int64 `json:"chunk_size"`
	Volumes       int64 `json:"volumes"`
	Chunks        int64 `json:"chunks"`
	Pages         int64 `json:"pages"`
	UsedBytes     int64 `json:"used_bytes"`
	DiskBytes     int64 `json:"disk_bytes"`
}

type ObjectPool struct {
	CapacityBytes int64 `json:"capacity_bytes"`
	FreeBytes     int64 `json:"free_bytes"`
	Buckets       int64 `json:"buckets"`
	Objects       int64 `json:"objects"`
	ObjectBytes   int64 `json:"object_bytes"`
	Blobs         int64 `json:"blobs"`
	BlobBytes     int64 `json:"blob_bytes"`
	InlineObjects int64 `json:"inline_objects"`
	InlineBytes   int64 `json:"inline_bytes"`
}

type FsckReport struct {
	Clean    bool     `json:"clean"`
	Volumes  int      `json:"volumes"`
	Pages    int      `json:"pages"`
	Chunks   int      `json:"chunks"`
	Problems []string `json:"problems"`
}

type GCReport struct {
	Removed int    `json:"removed"`
	Cutoff  string `json:"cutoff"`
}

// Node is one server process of the cluster serving the API (staff only).
type Node struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	APIAddress  string `json:"api_address"`
	S3Address   string `json:"s3_address"`
	NBDAddress  string `json:"nbd_address"`
	NFSAddress  string `json:"nfs_address"`
	Version     string `json:"version"`
	StartedAt   string `json:"started_at"`
	HeartbeatAt string `json:"heartbeat_at"`
	Healthy     bool   `json:"healthy"`
	Self        bool   `json:"self"`
}
