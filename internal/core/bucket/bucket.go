// Package bucket owns the object-storage records shared by the S3 data
// plane and the metadata store: buckets (globally unique names, never reused
// after deletion), objects, multipart uploads and parts, S3 credentials, and
// the naming rules for buckets and keys. It holds data shapes and pure
// rules only; the S3 handler decides behaviour and sqlstore persists them.
package bucket

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stowage/stowage/internal/errs"
)

// Canned ACLs the data plane supports. On a bucket they govern listing
// (READ) and writing objects (WRITE); on an object, reading it.
const (
	ACLPrivate           = "private"
	ACLPublicRead        = "public-read"
	ACLPublicReadWrite   = "public-read-write"
	ACLAuthenticatedRead = "authenticated-read"
)

// ValidACL reports whether acl is one of the canned ACLs above.
func ValidACL(acl string) bool {
	switch acl {
	case ACLPrivate, ACLPublicRead, ACLPublicReadWrite, ACLAuthenticatedRead:
		return true
	}
	return false
}

// Bucket is one bucket. Usage counters change only in the transaction that
// changes an object row, so they always equal the sum over its objects.
type Bucket struct {
	ID        string
	Name      string
	ProjectID string
	// ServiceID is the object-storage service (order) the bucket belongs
	// to, when it was created with a service-scoped credential.
	ServiceID  string
	Region     string
	ACL        string
	Policy     string // bucket policy JSON as the client sent it, "" for none
	Versioning string // "", VersioningEnabled or VersioningSuspended
	// ObjectLock is the bucket's object lock configuration, nil when
	// object lock is off (it cannot be turned off once on).
	ObjectLock *ObjectLockConfig
	// AccessBlock is the bucket's PublicAccessBlock, nil when none is set.
	AccessBlock *AccessBlock
	// Ownership is the ObjectOwnership control ("BucketOwnerEnforced",
	// "BucketOwnerPreferred", "ObjectWriter"), "" when none is set.
	Ownership string
	// CORS is the bucket's CORS configuration, nil when none is set.
	CORS []CORSRule
	// Encryption is the default server-side encryption of new objects
	// (EncryptS3 or EncryptKMS), "" for none.
	Encryption string
	// EncryptionKey is the KMS key of EncryptKMS (KMSMasterKeyID, as the
	// client named it), and BucketKey its BucketKeyEnabled.
	EncryptionKey string
	BucketKey     bool
	// Tags is the bucket's tag set (PutBucketTagging), nil for none.
	Tags map[string]string
	// Lifecycle is the bucket's lifecycle configuration, nil for none.
	Lifecycle []LifecycleRule
	Tier      string // "standard" or "enterprise", as tenants chose it
	Bytes     int64
	Objects   int64
	Created   time.Time

	// Notifications are the bucket's event notification rules, nil for
	// none.
	Notifications []NotificationRule
}

// Object is a committed object version. Meta holds the stored HTTP headers
// (Content-Type, Cache-Control, Content-Disposition, Content-Encoding,
// Content-Language, Expires) and user metadata (x-amz-meta-*), keyed by
// canonical header name.
type Object struct {
	BucketID string
	Key      string
	// BlobID names the object store blob holding the bytes; "" when they
	// are Inline, kept with the metadata (small objects).
	BlobID    string
	Inline    []byte
	Size      int64
	ETag      string // without quotes
	Meta      map[string]string
	Checksums map[string]string // algorithm (CRC32C…) → base64
	Tags      map[string]string
	ACL       string // canned ACL, "" meaning private
	Parts     int    // part count of a multipart object, 0 otherwise
	// PartSizes are the sizes of a multipart object's parts in order (nil
	// for single-part objects and those completed before they were kept).
	PartSizes []int64
	// Manifest names, in part order, the blobs of a multipart object whose
	// parts stayed where they were written (PartSizes gives their sizes);
	// BlobID is then "". Completing an upload records it instead of
	// copying the bytes.
	Manifest []string
	SSE      SSE
	Modified time.Time
	// VersionID is the S3 version id, "" for the null version (every
	// object of a bucket that was never versioned, and those written
	// while versioning was suspended).
	VersionID string
	// Seq orders the versions of a key, newest highest.
	Seq string
	// DeleteMarker marks a version that says the key was deleted.
	DeleteMarker bool
	Lock         Lock
}

// Blobs lists the blobs holding o's bytes: its blob, or the parts its
// manifest names; none for inline bytes.
func (o Object) Blobs() []string {
	if len(o.Manifest) > 0 {
		return o.Manifest
	}
	if o.BlobID != "" {
		return []string{o.BlobID}
	}
	return nil
}

// Object lock retention modes.
const (
	LockGovernance = "GOVERNANCE" // lifted by those allowed to bypass it
	LockCompliance = "COMPLIANCE" // lifted by no one until it ends
)

// Lock is an object version's retention and legal hold. While either
// holds, the version cannot be deleted.
type Lock struct {
	Mode      string    `json:"mode,omitempty"` // "", LockGovernance or LockCompliance
	Until     time.Time `json:"until,omitzero"`
	LegalHold bool      `json:"legal_hold,omitempty"`
}

// Retained reports whether the retention still holds at now.
func (l Lock) Retained(now time.Time) bool { return l.Mode != "" && l.Until.After(now) }

// ObjectLockConfig is a bucket's object lock: on, with an optional default
// retention of Days or Years for new versions.
type ObjectLockConfig struct {
	Mode  string `json:"mode,omitempty"`
	Days  int    `json:"days,omitempty"`
	Years int    `json:"years,omitempty"`
}

// Default is the retention a version written at now gets without asking.
func (c *ObjectLockConfig) Default(now time.Time) Lock {
	if c == nil || c.Mode == "" {
		return Lock{}
	}
	return Lock{Mode: c.Mode, Until: now.AddDate(c.Years, 0, c.Days)}
}

// Versioning states of a bucket (Bucket.Versioning); "" is never
// versioned, and a bucket once versioned can only be suspended.
const (
	VersioningEnabled   = "Enabled"
	VersioningSuspended = "Suspended"
)

// Committed is what a write or delete of a key did: the blobs it freed,
// which the caller deletes once the call returned, and the version it
// made ("" for the null version) in a bucket that is or was versioned
// when it committed (Versioned; a delete there made a delete marker).
type Committed struct {
	Freed     []string
	VersionID string
	Versioned bool
}

// VersionQuery selects a page of versions, in key order and newest first
// within a key: those under Prefix after (AfterKey, AfterSeq), or from the
// key From on. With a Delimiter, a common prefix (as in ListQuery) is one
// entry of its first key with no version, and its other keys are skipped.
type VersionQuery struct {
	Prefix    string
	AfterKey  string
	AfterSeq  string // "" with AfterKey: after every version of AfterKey
	From      string
	Delimiter string
	Limit     int
}

// Server-side encryption modes.
const (
	EncryptS3       = "AES256"  // SSE-S3: data key sealed under the master key
	EncryptCustomer = "SSE-C"   // SSE-C: data key sealed under the client's key
	EncryptKMS      = "aws:kms" // SSE-KMS: data key wrapped by a project key of the key service
)

// SSE says how an object's (or an upload's) bytes are encrypted at rest;
// the zero value means they are not. Each object has its own random data
// key; a multipart object's parts are encrypted with it from their own
// counter starts.
type SSE struct {
	Mode string `json:"mode,omitempty"`
	// Key is the data key, sealed (AES-GCM) under the master key or under
	// the customer's key, or wrapped by the key service (SSE-KMS).
	Key string `json:"key,omitempty"`
	// KMSKey is the ARN of the project key that wrapped Key (SSE-KMS), and
	// Context the encryption context the wrap is bound to.
	KMSKey  string            `json:"kms_key,omitempty"`
	Context map[string]string `json:"context,omitempty"`
	// ClientContext says the client sent an encryption context, which
	// writes then echo; BucketKey that the object uses an S3 bucket key.
	ClientContext bool `json:"client_context,omitempty"`
	BucketKey     bool `json:"bucket_key,omitempty"`
	// KeyMD5 is the base64 MD5 of an SSE-C customer key, as clients send
	// it; a request with another key is refused before any decryption.
	KeyMD5 string `json:"key_md5,omitempty"`
	// IVs are the AES-CTR counter starts: one for a single-part object,
	// one per part (in PartSizes order) for a multipart object.
	IVs [][]byte `json:"ivs,omitempty"`
}

// Upload is a multipart upload in progress.
type Upload struct {
	ID        string
	BucketID  string
	Key       string
	Meta      map[string]string
	Tags      map[string]string
	ACL       string // canned ACL the object will get
	Checksum  string // algorithm declared at creation, "" for none
	SSE       SSE    // mode and data key the parts are encrypted with (no IVs)
	Lock      Lock   // what the object will be locked with
	Initiated time.Time
}

// Part is one uploaded part.
type Part struct {
	UploadID  string
	Number    int
	BlobID    string
	Size      int64
	ETag      string // without quotes
	Checksums map[string]string
	IV        []byte // AES-CTR counter start when the upload is encrypted
	Modified  time.Time
}

// Credential is an S3 access key. SecretSealed is the secret encrypted
// with the master key; the plain secret is shown once at creation.
type Credential struct {
	AccessKey    string
	ProjectID    string
	ServiceID    string
	SecretSealed string
	Description  string
	// CreatedBy is the user who made the key; "" for a service's key,
	// which belongs to the service and is rotated instead.
	CreatedBy string
	Created   time.Time
}

// ValidName checks the S3 bucket naming rules: 3–63 characters of lower
// case letters, digits, hyphens and dots, starting and ending with a letter
// or digit, no "..", and not shaped like an IP address.
func ValidName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return errs.Field("name", "bucket names must be 3 to 63 characters long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return errs.Field("name", "bucket names may contain only lower-case letters, digits, hyphens and dots")
		}
	}
	first, last := name[0], name[len(name)-1]
	if first == '-' || first == '.' || last == '-' || last == '.' {
		return errs.Field("name", "bucket names must begin and end with a letter or digit")
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return errs.Field("name", "bucket names must not contain adjacent dots or dots next to hyphens")
	}
	if net.ParseIP(name) != nil {
		return errs.Field("name", "bucket names must not be formatted as an IP address")
	}
	return nil
}

// MaxKeyLen is the S3 limit on key length in bytes.
const MaxKeyLen = 1024

// ValidKey checks that a key is non-empty UTF-8 of at most 1024 bytes
// without NUL, which PostgreSQL cannot store (so neither engine takes it).
// Keys are otherwise opaque: "../x" and "a//b" are ordinary keys.
func ValidKey(key string) error {
	if key == "" {
		return errs.Field("key", "the object key must not be empty")
	}
	if len(key) > MaxKeyLen {
		return errs.Field("key", "your key is too long")
	}
	if !utf8.ValidString(key) {
		return errs.Field("key", "the object key must be UTF-8")
	}
	if strings.IndexByte(key, 0) >= 0 {
		return errs.Field("key", "the object key must not contain NUL")
	}
	return nil
}

// PrefixEnd returns the smallest string greater than every string that
// starts with prefix, in UTF-8 byte order, so a prefix scan is the range
// key >= prefix AND key < PrefixEnd(prefix). It increments the last code
// point (skipping surrogates) so the bound stays valid UTF-8, which
// PostgreSQL requires of TEXT parameters. ok is false when no bound exists
// (empty prefix or only U+10FFFF).
func PrefixEnd(prefix string) (end string, ok bool) {
	rs := []rune(prefix)
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		if r == utf8.MaxRune {
			continue
		}
		r++
		if r >= 0xD800 && r <= 0xDFFF {
			r = 0xE000
		}
		return string(rs[:i]) + string(r), true
	}
	return "", false
}

// ListQuery selects objects for a listing page: keys starting with Prefix
// and greater than After, in byte order, at most Limit of them. With a
// Delimiter, the keys that contain it after Prefix roll up into common
// prefixes (as S3 lists them), and each is returned as one key alone (no
// size, ETag or time) that rolls up into it, its first key or the common
// prefix itself: the store skips the rest, so a page of common prefixes
// costs what a page of keys does.
type ListQuery struct {
	Prefix    string
	After     string
	Delimiter string
	Limit     int
}

// AccessBlock is S3's PublicAccessBlock: switches that keep ACLs and
// policies from making a bucket public.
type AccessBlock struct {
	BlockPublicAcls       bool
	IgnorePublicAcls      bool
	BlockPublicPolicy     bool
	RestrictPublicBuckets bool
}

// IgnoresACLs reports whether public ACLs must be treated as private.
func (b Bucket) IgnoresACLs() bool { return b.AccessBlock != nil && b.AccessBlock.IgnorePublicAcls }

// RestrictsPolicy reports whether public policy grants must be ignored.
func (b Bucket) RestrictsPolicy() bool {
	return b.AccessBlock != nil && b.AccessBlock.RestrictPublicBuckets
}

// ACLsDisabled reports whether the bucket refuses ACLs altogether
// (ObjectOwnership BucketOwnerEnforced).
func (b Bucket) ACLsDisabled() bool { return b.Ownership == "BucketOwnerEnforced" }

// CORSRule is one rule of a bucket's CORS configuration.
type CORSRule struct {
	ID             string   `json:",omitempty"`
	AllowedOrigins []string `json:",omitempty"`
	AllowedMethods []string `json:",omitempty"`
	AllowedHeaders []string `json:",omitempty"`
	ExposeHeaders  []string `json:",omitempty"`
	MaxAgeSeconds  int      `json:",omitempty"`
}

// NewKey makes an S3 access key id (20 upper-case characters, like AWS's)
// and a 40-character secret.
func NewKey() (accessKey, secret string) {
	var id [15]byte
	var sec [30]byte
	_, _ = rand.Read(id[:])
	_, _ = rand.Read(sec[:])
	return "STW" + base32.StdEncoding.EncodeToString(id[:])[:17], base64.StdEncoding.EncodeToString(sec[:])
}
