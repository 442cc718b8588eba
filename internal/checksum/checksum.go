// Package checksum owns the names and hash constructors of the S3
// "additional checksum" algorithms (CRC32, CRC32C, CRC64NVME, SHA1, SHA256)
// and their wire encoding (base64 of the big-endian digest). It is shared by
// the SigV4 trailer decoder and the object store so both agree on one
// definition; it knows nothing about HTTP or storage.
package checksum

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
)

// Algorithm is an S3 checksum algorithm name as it appears in
// x-amz-checksum-algorithm (upper case, e.g. "CRC32C").
type Algorithm string

const (
	CRC32     Algorithm = "CRC32"
	CRC32C    Algorithm = "CRC32C"
	CRC64NVME Algorithm = "CRC64NVME"
	SHA1      Algorithm = "SHA1"
	SHA256    Algorithm = "SHA256"
)

// All lists every supported algorithm in a stable order.
var All = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256}

// Tables are immutable after construction, so sharing them is safe.
var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// CRC-64/NVME is reflected with init and xorout all ones, which is what
	// hash/crc64 does around any table; 0x9a6c9329ac4bc9b5 is the reversed
	// form of the NVMe polynomial 0xad93d23594c93659.
	nvme = crc64.MakeTable(0x9a6c9329ac4bc9b5)
)

// Parse maps a case-insensitive algorithm name to an Algorithm.
func Parse(name string) (Algorithm, bool) {
	a := Algorithm(strings.ToUpper(strings.TrimSpace(name)))
	for _, k := range All {
		if k == a {
			return a, true
		}
	}
	return "", false
}

// FromHeader maps a header name such as "x-amz-checksum-crc32c" to its
// algorithm.
func FromHeader(header string) (Algorithm, bool) {
	h := strings.ToLower(strings.TrimSpace(header))
	if !strings.HasPrefix(h, "x-amz-checksum-") {
		return "", false
	}
	return Parse(strings.TrimPrefix(h, "x-amz-checksum-"))
}

// Header is the request/response header carrying the value, e.g.
// "X-Amz-Checksum-Crc32c" (canonical MIME form).
func (a Algorithm) Header() string {
	switch a {
	case CRC32:
		return "X-Amz-Checksum-Crc32"
	case CRC32C:
		return "X-Amz-Checksum-Crc32c"
	case CRC64NVME:
		return "X-Amz-Checksum-Crc64nvme"
	case SHA1:
		return "X-Amz-Checksum-Sha1"
	case SHA256:
		return "X-Amz-Checksum-Sha256"
	}
	return ""
}

// New returns a fresh hash for a, or nil for an unknown algorithm.
func (a Algorithm) New() hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(castagnoli)
	case CRC64NVME:
		return crc64.New(nvme)
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	}
	return nil
}

// Size is the digest length in bytes.
func (a Algorithm) Size() int {
	if h := a.New(); h != nil {
		return h.Size()
	}
	return 0
}

// Encode renders a digest the way S3 headers carry it.
func Encode(sum []byte) string { return base64.StdEncoding.EncodeToString(sum) }

// Valid reports whether v is a well-formed encoded digest for a.
func (a Algorithm) Valid(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == a.Size()
}
