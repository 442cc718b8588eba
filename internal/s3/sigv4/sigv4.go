// Package sigv4 owns AWS Signature Version 4 as S3 uses it, on the server
// side: the canonical request, the string to sign, signing-key derivation,
// parsing of the Authorization header and of presigned query strings,
// verification of a request (clock skew, expiry, signed x-amz-* headers,
// constant-time compare), verification of the payload hash, and the
// aws-chunked body decoders (signed chunks, unsigned chunks with trailers,
// signed chunks with a signed trailer and x-amz-checksum-* verification).
//
// Every step is a small pure function so each can be tested against AWS's
// published vectors. The package does not know about buckets, credentials
// storage or HTTP routing: callers pass a secret lookup and get back who
// signed the request and a body reader that fails before io.EOF when the
// bytes do not match what was signed.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"time"
)

// Names and constants of the protocol.
const (
	Algorithm       = "AWS4-HMAC-SHA256"
	chunkAlgorithm  = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerAlgoritm = "AWS4-HMAC-SHA256-TRAILER"

	// Values of x-amz-content-sha256 other than a hex digest.
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

	// EmptySHA256 is the hex SHA-256 of no bytes.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

	// TimeFormat is the ISO 8601 basic format of X-Amz-Date.
	TimeFormat = "20060102T150405Z"
	dateFormat = "20060102"

	// MaxSkew is how far a header-signed request's time may be from ours;
	// AWS uses 15 minutes and clients retry on RequestTimeTooSkewed.
	MaxSkew = 15 * time.Minute
	// MaxExpires is the longest presigned validity AWS accepts (7 days).
	MaxExpires = 7 * 24 * time.Hour
)

// Error is a verification failure. Code is the S3 error code the caller
// should answer with (the S3 layer maps it to an HTTP status); Msg is safe
// to show to the client.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// S3 error codes returned by this package.
const (
	CodeAccessDenied          = "AccessDenied"
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	CodeInvalidAccessKeyID    = "InvalidAccessKeyId"
	CodeHeaderMalformed       = "AuthorizationHeaderMalformed"
	CodeQueryMalformed        = "AuthorizationQueryParametersError"
	CodeTimeTooSkewed         = "RequestTimeTooSkewed"
	CodeExpired               = "AccessDenied" // AWS answers an expired presigned URL with AccessDenied
	CodeMissingSecurityHeader = "MissingSecurityHeader"
	CodeContentSHA256Mismatch = "XAmzContentSHA256Mismatch"
	CodeIncompleteBody        = "IncompleteBody"
	CodeBadDigest             = "BadDigest"
	CodeInvalidRequest        = "InvalidRequest"
	CodeInvalidArgument       = "InvalidArgument"
)

// Scope is the credential scope: date/region/service/aws4_request.
type Scope struct {
	Date    string // yyyymmdd
	Region  string
	Service string
}

func (s Scope) String() string {
	return s.Date + "/" + s.Region + "/" + s.Service + "/aws4_request"
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// SigningKey derives the per-day, per-region, per-service key from a secret.
func SigningKey(secret string, s Scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), s.Date)
	k = hmacSHA256(k, s.Region)
	k = hmacSHA256(k, s.Service)
	return hmacSHA256(k, "aws4_request")
}

// StringToSign builds the string to sign for a canonical request.
func StringToSign(t time.Time, s Scope, canonicalRequest string) string {
	return Algorithm + "\n" + t.UTC().Format(TimeFormat) + "\n" + s.String() + "\n" +
		sha256Hex([]byte(canonicalRequest))
}

// ChunkStringToSign builds the string to sign of one aws-chunked chunk whose
// data hashes to chunkHash (hex), chained to the previous signature.
func ChunkStringToSign(t time.Time, s Scope, previous, chunkHash string) string {
	return chunkAlgorithm + "\n" + t.UTC().Format(TimeFormat) + "\n" + s.String() + "\n" +
		previous + "\n" + EmptySHA256 + "\n" + chunkHash
}

// TrailerStringToSign builds the string to sign of the trailing headers of a
// signed aws-chunked body; canonicalTrailers is "name:value\n" per header.
func TrailerStringToSign(t time.Time, s Scope, previous, canonicalTrailers string) string {
	return trailerAlgoritm + "\n" + t.UTC().Format(TimeFormat) + "\n" + s.String() + "\n" +
		previous + "\n" + sha256Hex([]byte(canonicalTrailers))
}

// Sign returns the hex HMAC of stringToSign under key.
func Sign(key []byte, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

// Equal compares two signatures in constant time, so a mismatch does not
// leak how many leading characters were right.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
