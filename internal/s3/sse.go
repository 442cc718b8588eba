package s3

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/stowage/stowage/internal/core/bucket"
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
// wrong key before anything is decrypted.

// Sealer seals and opens small secrets under the master key (seal.Sealer).
type Sealer interface {
	Opener
	Seal(plaintext, aad []byte) string
}

// dataKeyAAD binds sealed data keys to their use, so a sealed S3 secret
// can never be opened as a data key or the other way round.
var dataKeyAAD = []byte("stowage s3 object data key v1")

// sseParams is the encryption a request asks for or proves.
type sseParams struct {
	mode   string // "", bucket.EncryptS3 or bucket.EncryptCustomer
	key    []byte // SSE-C: the customer's 256-bit key
	keyMD5 string // SSE-C: its MD5, base64, as sent
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

// writeSSE reads the encryption a write asks for: x-amz-server-side-
// encryption, SSE-C headers, or else the bucket's default.
func writeSSE(r *http.Request, b bucket.Bucket) (sseParams, error) {
	c, err := customerKey(r, "X-Amz-")
	if err != nil {
		return c, err
	}
	s := r.Header.Get("X-Amz-Server-Side-Encryption")
	switch {
	case s != "" && c.mode != "":
		return sseParams{}, apiErr(errInvalidArgument, "server side encryption and customer provided keys cannot be combined")
	case c.mode != "":
		return c, nil
	case s == bucket.EncryptS3:
		return sseParams{mode: bucket.EncryptS3}, nil
	case s == "aws:kms" || s == "aws:kms:dsse":
		return sseParams{}, apiErr(errNotImplemented, "SSE-KMS is not available here; use AES256 (SSE-S3) or a customer-provided key")
	case s != "":
		return sseParams{}, apiErr(errInvalidArgument, "the encryption method %q is not supported", s)
	case r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != "":
		return sseParams{}, apiErr(errInvalidArgument, "a KMS key id needs x-amz-server-side-encryption: aws:kms")
	}
	return sseParams{mode: b.Encryption}, nil
}

// newDataKey makes the data key of a new object or upload and seals it.
func (h *Handler) newDataKey(p sseParams) ([]byte, bucket.SSE, error) {
	if p.mode == "" {
		return nil, bucket.SSE{}, nil
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
func (h *Handler) newObjectEncryption(p sseParams) ([]byte, bucket.SSE, cipher.Stream, error) {
	dek, sse, err := h.newDataKey(p)
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
// nothing for plain and SSE-S3 objects, the same customer key for SSE-C.
// A plain object yields nil.
func (h *Handler) dataKey(sse bucket.SSE, p sseParams) ([]byte, error) {
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
	switch alg := in.Rules[0].Default.Algorithm; alg {
	case bucket.EncryptS3:
		if h.o.Keys == nil {
			return apiErr(errNotImplemented, "server-side encryption is not configured on this node")
		}
	case "aws:kms", "aws:kms:dsse":
		return apiErr(errNotImplemented, "SSE-KMS is not available here; use AES256")
	default:
		return apiErr(errMalformedXML, "unknown SSEAlgorithm %q", alg)
	}
	b.Encryption = bucket.EncryptS3
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
	return writeXML(w, http.StatusOK, out)
}

func (h *Handler) deleteBucketEncryption(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutEncryptionConfiguration")
	if err != nil {
		return err
	}
	if b.Encryption != "" {
		b.Encryption = ""
		if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
