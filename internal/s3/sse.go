package s3

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/kms"
	"github.com/stowage/stowage/internal/seal"
)

// Server-side encryption. Every encrypted object has its own random
// 256-bit data key, sealed (AES-GCM) under the node's master key for SSE-S3
// or under the client's key for SSE-C, and stored with the object's row.
// Bytes are AES-256-CTR from a random counter start per part (per object
// for a single PUT), which keeps ciphertext the size of the plaintext, so
// ranges, part sizes and usage are unchanged and any offset decrypts
// without reading what precedes it. CTR gives confidentiality at rest, not
// integrity: the disk is trusted not to change bytes, as it is for plain
// objects (a customer who needs tamper evidence checks the stored
// checksums). The customer's key is never stored; its MD5 is, to refuse a
// wrong key before anything is decrypted. SSE-KMS data keys are wrapped by
// a key of the requesting project in the key service, bound to the
// encryption context (the client's, plus the object's or, with a bucket
// key, the bucket's ARN), and unwrapped on every read, so a disabled key
// stops reads at once.

// Sealer seals and opens small secrets under the master key (seal.Sealer).
type Sealer interface {
	Opener
	Seal(plaintext, aad []byte) string
}

// dataKeyAAD binds sealed data keys to their use, so a sealed S3 secret
// can never be opened as a data key or the other way round.
var dataKeyAAD = []byte("stowage s3 object data key v1")

// KMS wraps and unwraps SSE-KMS data keys under the requesting project's
// keys: kms.Service, or an external KMS behind the same two calls. Errors
// wrapping kms.ErrDisabled, kms.ErrPendingDeletion, kms.ErrNotFound and
// kms.ErrAccessDenied answer with AWS's codes for them.
type KMS interface {
	GenerateDataKey(ctx context.Context, projectID, keyRef string, encCtx map[string]string) (kms.DataKey, error)
	Decrypt(ctx context.Context, projectID, keyARN, ciphertext string, encCtx map[string]string) ([]byte, error)
}

// sseParams is the encryption a request asks for or proves.
type sseParams struct {
	mode   string // "", bucket.EncryptS3, bucket.EncryptCustomer or bucket.EncryptKMS
	key    []byte // SSE-C: the customer's 256-bit key
	keyMD5 string // SSE-C: its MD5, base64, as sent
	// SSE-KMS: the requesting project, the key as the client named it,
	// the encryption context to bind (the client's when clientContext,
	// with the ARN of the object or bucket added) and the bucket key.
	project       string
	kmsKey        string
	context       map[string]string
	clientContext bool
	bucketKey     bool
}

// customerKey reads SSE-C headers under prefix ("X-Amz-" for the object
// the request writes or reads, "X-Amz-Copy-Source-" for a copy source).
func customerKey(r *http.Request, prefix string) (sseParams, error) {
	alg := r.Header.Get(prefix + "Server-Side-Encryption-Customer-Algorithm")
	key := r.Header.Get(prefix + "Server-Side-Encryption-Customer-Key")
	sum := r.Header.Get(prefix + "Server-Side-Encryption-Customer-Key-Md5")
	if alg == "" && key == "" && sum == "" {
		return sseParams{}, nil
	}
	if alg == "" {
		return sseParams{}, apiErr(errInvalidArgument, "requests specifying server side encryption with customer provided keys must provide a valid encryption algorithm")
	}
	if alg != "AES256" {
		return sseParams{}, apiErr(errInvalidEncryptionAlg, "the encryption algorithm %q is not supported; use AES256", alg)
	}
	if !secureTransport(r) {
		return sseParams{}, apiErr(errInvalidRequest, "requests specifying server side encryption with customer provided keys must be made over a secure connection")
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) != 32 {
		return sseParams{}, apiErr(errInvalidArgument, "the secret key was invalid for the specified algorithm")
	}
	got := md5.Sum(raw)
	if sum == "" {
		return sseParams{}, apiErr(errInvalidArgument, "requests specifying server side encryption with customer provided keys must provide the key's MD5")
	}
	if base64.StdEncoding.EncodeToString(got[:]) != sum {
		return sseParams{}, apiErr(errInvalidArgument, "the calculated MD5 hash of the key did not match the hash that was provided")
	}
	return sseParams{mode: bucket.EncryptCustomer, key: raw, keyMD5: sum}, nil
}

// secureTransport reports whether a customer key may travel on this
// request: over TLS, from this machine, or through a proxy that says it
// terminated TLS. The check protects the client's key from the network,
// so trusting a client's own X-Forwarded-Proto costs nobody else anything.
func secureTransport(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// writeSSE reads the encryption a write of key by project asks for:
// x-amz-server-side-encryption (with its KMS key, context and bucket key),
// SSE-C headers, or else the bucket's default.
func writeSSE(r *http.Request, b bucket.Bucket, project, key string) (sseParams, error) {
	c, err := customerKey(r, "X-Amz-")
	if err != nil {
		return c, err
	}
	s := r.Header.Get("X-Amz-Server-Side-Encryption")
	kid := r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id")
	encCtx := r.Header.Get("X-Amz-Server-Side-Encryption-Context")
	switch {
	case s != "" && c.mode != "":
		return sseParams{}, apiErr(errInvalidArgument, "server side encryption and customer provided keys cannot be combined")
	case (kid != "" || encCtx != "") && s != bucket.EncryptKMS:
		return sseParams{}, apiErr(errInvalidArgument, "a KMS key id or encryption context needs x-amz-server-side-encryption: aws:kms")
	case c.mode != "":
		return c, nil
	case s == bucket.EncryptS3:
		return sseParams{mode: bucket.EncryptS3}, nil
	case s == bucket.EncryptKMS:
		bk := b.BucketKey
		if v := r.Header.Get("X-Amz-Server-Side-Encryption-Bucket-Key-Enabled"); v != "" {
			if bk, err = strconv.ParseBool(v); err != nil {
				return sseParams{}, apiErr(errInvalidArgument, "x-amz-server-side-encryption-bucket-key-enabled must be true or false")
			}
		}
		if kid == "" && b.Encryption == bucket.EncryptKMS {
			kid = b.EncryptionKey
		}
		if kid == "" {
			return sseParams{}, apiErr(errInvalidArgument, "aws:kms needs x-amz-server-side-encryption-aws-kms-key-id: this node has no default KMS key")
		}
		return kmsParams(project, b.Name, key, kid, encCtx, bk)
	case s == "aws:kms:dsse":
		return sseParams{}, apiErr(errNotImplemented, "dual-layer SSE-KMS is not available here; use aws:kms")
	case s != "":
		return sseParams{}, apiErr(errInvalidArgument, "the encryption method %q is not supported", s)
	case b.Encryption == bucket.EncryptKMS:
		return kmsParams(project, b.Name, key, b.EncryptionKey, "", b.BucketKey)
	}
	return sseParams{mode: b.Encryption}, nil
}

// kmsParams is an SSE-KMS write of key in bucketName with the KMS key kid
// and the client's encryption context (base64 JSON, "" for none), to
// which S3's own aws:s3:arn is added unless the client set it: the
// object's ARN, or the bucket's with a bucket key.
func kmsParams(project, bucketName, key, kid, encCtx string, bucketKey bool) (sseParams, error) {
	p := sseParams{mode: bucket.EncryptKMS, project: project, kmsKey: kid, context: map[string]string{}, bucketKey: bucketKey}
	if encCtx != "" {
		raw, err := base64.StdEncoding.DecodeString(encCtx)
		if err != nil || json.Unmarshal(raw, &p.context) != nil {
			return sseParams{}, apiErr(errInvalidArgument, "x-amz-server-side-encryption-context must be base64-encoded JSON of string values")
		}
		p.clientContext = true
	}
	if _, ok := p.context["aws:s3:arn"]; !ok {
		p.context["aws:s3:arn"] = "arn:aws:s3:::" + bucketName + "/" + key
		if bucketKey {
			p.context["aws:s3:arn"] = "arn:aws:s3:::" + bucketName
		}
	}
	return p, nil
}

// readSSE reads what a GET or HEAD proves: an SSE-C key; naming a server-
// side encryption is for writes, as S3 answers.
func readSSE(r *http.Request) (sseParams, error) {
	if r.Header.Get("X-Amz-Server-Side-Encryption") != "" || r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != "" {
		return sseParams{}, apiErr(errInvalidArgument, "x-amz-server-side-encryption headers are not supported for this operation")
	}
	return customerKey(r, "X-Amz-")
}

// newDataKey makes the data key of a new object or upload and seals it
// (SSE-KMS: has the key service make and wrap it).
func (h *Handler) newDataKey(ctx context.Context, p sseParams) ([]byte, bucket.SSE, error) {
	if p.mode == "" {
		return nil, bucket.SSE{}, nil
	}
	if p.mode == bucket.EncryptKMS {
		if h.o.KMS == nil {
			return nil, bucket.SSE{}, apiErr(errNotImplemented, "SSE-KMS is not configured on this node")
		}
		if p.project == "" {
			return nil, bucket.SSE{}, apiErr(errAccessDenied, "anonymous requests cannot use KMS keys")
		}
		dk, err := h.o.KMS.GenerateDataKey(ctx, p.project, p.kmsKey, p.context)
		if err != nil {
			return nil, bucket.SSE{}, err
		}
		return dk.Plaintext, bucket.SSE{Mode: p.mode, Key: dk.Ciphertext, KMSKey: dk.KeyARN, Context: p.context,
			ClientContext: p.clientContext, BucketKey: p.bucketKey}, nil
	}
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return nil, bucket.SSE{}, fmt.Errorf("s3: data key: %w", err)
	}
	sse := bucket.SSE{Mode: p.mode, KeyMD5: p.keyMD5}
	switch p.mode {
	case bucket.EncryptS3:
		if h.o.Keys == nil {
			return nil, sse, apiErr(errNotImplemented, "server-side encryption is not configured on this node")
		}
		sse.Key = h.o.Keys.Seal(dek, dataKeyAAD)
	case bucket.EncryptCustomer:
		s, err := seal.New(p.key)
		if err != nil {
			return nil, sse, err
		}
		sse.Key = s.Seal(dek, dataKeyAAD)
	}
	return dek, sse, nil
}

// newObjectEncryption prepares a single-part object's encryption: its
// data key and counter start, and the stream that encrypts its bytes (all
// zero for a plain object).
func (h *Handler) newObjectEncryption(ctx context.Context, p sseParams) ([]byte, bucket.SSE, cipher.Stream, error) {
	dek, sse, err := h.newDataKey(ctx, p)
	if err != nil || dek == nil {
		return nil, sse, nil, err
	}
	iv, err := newIV()
	if err != nil {
		return nil, sse, nil, err
	}
	sse.IVs = [][]byte{iv}
	enc, err := ctrAt(dek, iv, 0)
	return dek, sse, enc, err
}

// dataKey opens the data key of stored bytes with what the request proves:
// nothing for plain and SSE-S3 objects, the same customer key for SSE-C,
// being of the project whose (enabled) key wrapped it for SSE-KMS. A plain
// object yields nil.
func (h *Handler) dataKey(ctx context.Context, project string, sse bucket.SSE, p sseParams) ([]byte, error) {
	if sse.Mode != bucket.EncryptCustomer && p.mode == bucket.EncryptCustomer {
		return nil, apiErr(errInvalidArgument, "the object was not encrypted with a customer-provided key")
	}
	switch sse.Mode {
	case "":
		return nil, nil
	case bucket.EncryptS3:
		if h.o.Keys == nil {
			return nil, apiErr(errNotImplemented, "server-side encryption is not configured on this node")
		}
		dek, err := h.o.Keys.Open(sse.Key, dataKeyAAD)
		if err != nil {
			return nil, fmt.Errorf("s3: open data key: %w", err)
		}
		return dek, nil
	case bucket.EncryptKMS:
		if h.o.KMS == nil {
			return nil, apiErr(errNotImplemented, "SSE-KMS is not configured on this node")
		}
		if project == "" {
			return nil, apiErr(errAccessDenied, "anonymous requests cannot use KMS keys")
		}
		return h.o.KMS.Decrypt(ctx, project, sse.KMSKey, sse.Key, sse.Context)
	case bucket.EncryptCustomer:
		if p.mode != bucket.EncryptCustomer {
			return nil, apiErr(errInvalidRequest, "the object was stored using server side encryption with a customer-provided key; the same key must be provided to read it")
		}
		// A wrong key is 400, as AWS answers it, not 403: the request
		// is malformed for this object whoever sends it.
		if p.keyMD5 != sse.KeyMD5 {
			return nil, apiErr(errInvalidArgument, "the provided customer key does not match the key the object was encrypted with")
		}
		s, err := seal.New(p.key)
		if err != nil {
			return nil, err
		}
		dek, err := s.Open(sse.Key, dataKeyAAD)
		if err != nil {
			return nil, apiErr(errInvalidArgument, "the provided customer key does not match the key the object was encrypted with")
		}
		return dek, nil
	}
	return nil, fmt.Errorf("s3: unknown encryption mode %q", sse.Mode)
}

// newIV is a random AES-CTR counter start. Each stream a data key
// encrypts (an object, or one upload of one part) gets its own, so no two
// share a keystream, re-uploaded parts included.
func newIV() ([]byte, error) {
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("s3: iv: %w", err)
	}
	return iv, nil
}

// ctrAt is the AES-256-CTR keystream of (dek, iv) positioned at byte off.
// The counter is the whole 128-bit block, carried as crypto/cipher does.
func ctrAt(dek, iv []byte, off int64) (cipher.Stream, error) {
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, fmt.Errorf("s3: cipher: %w", err)
	}
	hi, lo := binary.BigEndian.Uint64(iv[:8]), binary.BigEndian.Uint64(iv[8:])
	next := lo + uint64(off/aes.BlockSize)
	if next < lo {
		hi++
	}
	var counter [aes.BlockSize]byte
	binary.BigEndian.PutUint64(counter[:8], hi)
	binary.BigEndian.PutUint64(counter[8:], next)
	s := cipher.NewCTR(block, counter[:])
	if skip := off % aes.BlockSize; skip > 0 {
		var junk [aes.BlockSize]byte
		s.XORKeyStream(junk[:skip], junk[:skip])
	}
	return s, nil
}

// maskETag is an SSE-C object's or part's ETag: derived from the MD5 of
// the plaintext and the data key, so that it identifies the object without
// disclosing a digest of data its owner chose to keep unreadable to us.
func maskETag(dek, sum []byte) string {
	m := md5.New()
	m.Write(dek)
	m.Write(sum)
	return hex.EncodeToString(m.Sum(nil))
}

// decrypter turns a stored range of an object back into plaintext. The
// object is one stream per counter start: one for single-part objects (and
// re-encrypted copies), one per part otherwise.
type decrypter struct {
	rc     io.ReadCloser
	dek    []byte
	ivs    [][]byte
	bounds []int64 // end offset of each stream
	seg    int
	pos    int64
	s      cipher.Stream
}

// decrypt wraps rc, the stored bytes of o from offset start on.
func decrypt(rc io.ReadCloser, o bucket.Object, dek []byte, start int64) (io.ReadCloser, error) {
	d := &decrypter{rc: rc, dek: dek, ivs: o.SSE.IVs, pos: start}
	switch {
	case len(o.SSE.IVs) == 1:
		d.bounds = []int64{o.Size}
	case len(o.SSE.IVs) == len(o.PartSizes) && len(o.PartSizes) > 0:
		var end int64
		for _, n := range o.PartSizes {
			end += n
			d.bounds = append(d.bounds, end)
		}
	default:
		return nil, fmt.Errorf("s3: object %s has %d counter starts for %d parts", o.Key, len(o.SSE.IVs), len(o.PartSizes))
	}
	for d.seg < len(d.bounds)-1 && start >= d.bounds[d.seg] {
		d.seg++
	}
	var err error
	d.s, err = ctrAt(dek, d.ivs[d.seg], start-d.segStart())
	return d, err
}

func (d *decrypter) segStart() int64 {
	if d.seg == 0 {
		return 0
	}
	return d.bounds[d.seg-1]
}

func (d *decrypter) Read(p []byte) (int, error) {
	if d.pos == d.bounds[d.seg] && d.seg < len(d.bounds)-1 {
		d.seg++
		var err error
		if d.s, err = ctrAt(d.dek, d.ivs[d.seg], 0); err != nil {
			return 0, err
		}
	}
	if left := d.bounds[d.seg] - d.pos; left > 0 && int64(len(p)) > left {
		p = p[:left]
	}
	n, err := d.rc.Read(p)
	d.s.XORKeyStream(p[:n], p[:n])
	d.pos += int64(n)
	return n, err
}

func (d *decrypter) Close() error { return d.rc.Close() }

// setSSEHeaders tells the client how the object is encrypted.
func setSSEHeaders(w http.ResponseWriter, sse bucket.SSE) {
	switch sse.Mode {
	case bucket.EncryptS3:
		w.Header().Set("X-Amz-Server-Side-Encryption", bucket.EncryptS3)
	case bucket.EncryptCustomer:
		w.Header().Set("X-Amz-Server-Side-Encryption-Customer-Algorithm", "AES256")
		w.Header().Set("X-Amz-Server-Side-Encryption-Customer-Key-Md5", sse.KeyMD5)
	case bucket.EncryptKMS:
		w.Header().Set("X-Amz-Server-Side-Encryption", bucket.EncryptKMS)
		w.Header().Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", sse.KMSKey)
		if sse.ClientContext {
			b, _ := json.Marshal(sse.Context) // a map of strings always marshals
			w.Header().Set("X-Amz-Server-Side-Encryption-Context", base64.StdEncoding.EncodeToString(b))
		}
	}
	if sse.BucketKey {
		w.Header().Set("X-Amz-Server-Side-Encryption-Bucket-Key-Enabled", "true")
	}
}

// ---- bucket default encryption

type encryptionConfig struct {
	XMLName xml.Name         `xml:"ServerSideEncryptionConfiguration"`
	Xmlns   string           `xml:"xmlns,attr,omitempty"`
	Rules   []encryptionRule `xml:"Rule"`
}

type encryptionRule struct {
	Default struct {
		Algorithm string `xml:"SSEAlgorithm"`
		KMSKeyID  string `xml:"KMSMasterKeyID,omitempty"`
	} `xml:"ApplyServerSideEncryptionByDefault"`
	BucketKeyEnabled *bool `xml:"BucketKeyEnabled,omitempty"`
}

func (h *Handler) putBucketEncryption(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutEncryptionConfiguration")
	if err != nil {
		return err
	}
	var in encryptionConfig
	if err := req.readXML(&in); err != nil {
		return err
	}
	if len(in.Rules) != 1 {
		return apiErr(errMalformedXML, "an encryption configuration has exactly one rule")
	}
	rule := in.Rules[0]
	switch alg := rule.Default.Algorithm; alg {
	case bucket.EncryptS3:
		if h.o.Keys == nil {
			return apiErr(errNotImplemented, "server-side encryption is not configured on this node")
		}
		if rule.Default.KMSKeyID != "" {
			return apiErr(errInvalidArgument, "a KMSMasterKeyID needs the SSEAlgorithm aws:kms")
		}
	case bucket.EncryptKMS:
		if h.o.KMS == nil {
			return apiErr(errNotImplemented, "SSE-KMS is not configured on this node; use AES256")
		}
		if rule.Default.KMSKeyID == "" {
			return apiErr(errInvalidArgument, "aws:kms needs a KMSMasterKeyID: this node has no default KMS key")
		}
	case "aws:kms:dsse":
		return apiErr(errNotImplemented, "dual-layer SSE-KMS is not available here; use aws:kms")
	default:
		return apiErr(errMalformedXML, "unknown SSEAlgorithm %q", alg)
	}
	b.Encryption, b.EncryptionKey = rule.Default.Algorithm, rule.Default.KMSKeyID
	b.BucketKey = rule.BucketKeyEnabled != nil && *rule.BucketKeyEnabled
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getBucketEncryption(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetEncryptionConfiguration")
	if err != nil {
		return err
	}
	if b.Encryption == "" {
		return apiErr(errNoEncryptionConfig, "the server side encryption configuration was not found")
	}
	out := encryptionConfig{Xmlns: s3NS}
	out.Rules = make([]encryptionRule, 1)
	out.Rules[0].Default.Algorithm = b.Encryption
	out.Rules[0].Default.KMSKeyID = b.EncryptionKey
	if b.BucketKey {
		out.Rules[0].BucketKeyEnabled = &b.BucketKey
	}
	return writeXML(w, http.StatusOK, out)
}

func (h *Handler) deleteBucketEncryption(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutEncryptionConfiguration")
	if err != nil {
		return err
	}
	if b.Encryption != "" {
		b.Encryption, b.EncryptionKey, b.BucketKey = "", "", false
		if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
