package s3

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"

	"github.com/stowage/stowage/internal/core/kms"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/s3/sigv4"
)

// s3Code is one entry of the S3 error table: the code clients branch on
// and the HTTP status that goes with it.
type s3Code struct {
	Code   string
	Status int
}

var (
	errAccessDenied         = s3Code{"AccessDenied", http.StatusForbidden}
	errBadDigest            = s3Code{"BadDigest", http.StatusBadRequest}
	errBucketAlreadyExists  = s3Code{"BucketAlreadyExists", http.StatusConflict}
	errBucketNotEmpty       = s3Code{"BucketNotEmpty", http.StatusConflict}
	errEntityTooLarge       = s3Code{"EntityTooLarge", http.StatusBadRequest}
	errEntityTooSmall       = s3Code{"EntityTooSmall", http.StatusBadRequest}
	errIncompleteBody       = s3Code{"IncompleteBody", http.StatusBadRequest}
	errInternal             = s3Code{"InternalError", http.StatusInternalServerError}
	errInvalidArgument      = s3Code{"InvalidArgument", http.StatusBadRequest}
	errInvalidBucketName    = s3Code{"InvalidBucketName", http.StatusBadRequest}
	errInvalidDigest        = s3Code{"InvalidDigest", http.StatusBadRequest}
	errInvalidLocation      = s3Code{"InvalidLocationConstraint", http.StatusBadRequest}
	errInvalidPart          = s3Code{"InvalidPart", http.StatusBadRequest}
	errInvalidPartOrder     = s3Code{"InvalidPartOrder", http.StatusBadRequest}
	errInvalidRange         = s3Code{"InvalidRange", http.StatusRequestedRangeNotSatisfiable}
	errInvalidRequest       = s3Code{"InvalidRequest", http.StatusBadRequest}
	errInvalidTag           = s3Code{"InvalidTag", http.StatusBadRequest}
	errKeyTooLong           = s3Code{"KeyTooLongError", http.StatusBadRequest}
	errMalformedACL         = s3Code{"MalformedACLError", http.StatusBadRequest}
	errMalformedPolicy      = s3Code{"MalformedPolicy", http.StatusBadRequest}
	errMalformedXML         = s3Code{"MalformedXML", http.StatusBadRequest}
	errMethodNotAllowed     = s3Code{"MethodNotAllowed", http.StatusMethodNotAllowed}
	errMissingContentLength = s3Code{"MissingContentLength", http.StatusLengthRequired}
	errNoSuchBucket         = s3Code{"NoSuchBucket", http.StatusNotFound}
	errNoSuchBucketPolicy   = s3Code{"NoSuchBucketPolicy", http.StatusNotFound}
	errNoSuchKey            = s3Code{"NoSuchKey", http.StatusNotFound}
	errNoSuchUpload         = s3Code{"NoSuchUpload", http.StatusNotFound}
	errNoSuchTagSet         = s3Code{"NoSuchTagSet", http.StatusNotFound}
	errNoSuchLifecycle      = s3Code{"NoSuchLifecycleConfiguration", http.StatusNotFound}
	errUnresolvableEmail    = s3Code{"UnresolvableGrantByEmailAddress", http.StatusBadRequest}
	errNotImplemented       = s3Code{"NotImplemented", http.StatusNotImplemented}
	errNotModified          = s3Code{"NotModified", http.StatusNotModified}
	errPreconditionFailed   = s3Code{"PreconditionFailed", http.StatusPreconditionFailed}
	errQuotaExceeded        = s3Code{"QuotaExceeded", http.StatusForbidden}
	errSlowDown             = s3Code{"SlowDown", http.StatusServiceUnavailable}
	errStorageFull          = s3Code{"InsufficientStorage", http.StatusInsufficientStorage}
	errIllegalVersioning    = s3Code{"IllegalVersioningConfigurationException", http.StatusBadRequest}
	errNoSuchVersion        = s3Code{"NoSuchVersion", http.StatusNotFound}
	errInvalidStorageClass  = s3Code{"InvalidStorageClass", http.StatusBadRequest}
	errInvalidEncryptionAlg = s3Code{"InvalidEncryptionAlgorithmError", http.StatusBadRequest}
	errNoEncryptionConfig   = s3Code{"ServerSideEncryptionConfigurationNotFoundError", http.StatusNotFound}
)

// sigv4Status gives the status of each code the sigv4 package returns.
var sigv4Status = map[string]int{
	sigv4.CodeAccessDenied:          http.StatusForbidden,
	sigv4.CodeSignatureDoesNotMatch: http.StatusForbidden,
	sigv4.CodeInvalidAccessKeyID:    http.StatusForbidden,
	sigv4.CodeHeaderMalformed:       http.StatusBadRequest,
	sigv4.CodeQueryMalformed:        http.StatusBadRequest,
	sigv4.CodeTimeTooSkewed:         http.StatusForbidden,
	sigv4.CodeMissingSecurityHeader: http.StatusBadRequest,
	sigv4.CodeContentSHA256Mismatch: http.StatusBadRequest,
	sigv4.CodeIncompleteBody:        http.StatusBadRequest,
	sigv4.CodeBadDigest:             http.StatusBadRequest,
	sigv4.CodeInvalidRequest:        http.StatusBadRequest,
	sigv4.CodeInvalidArgument:       http.StatusBadRequest,
}

// apiError is an S3 error answer. Msg is shown to the client; Err is the
// internal cause, logged with the request id and never rendered.
type apiError struct {
	s3Code
	Msg string
	Err error
}

func (e *apiError) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Msg + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Msg
}

func (e *apiError) Unwrap() error { return e.Err }

func apiErr(c s3Code, format string, args ...any) *apiError {
	return &apiError{s3Code: c, Msg: fmt.Sprintf(format, args...)}
}

func isNotExist(err error) bool { return errs.Is(err, errs.NotExist) }

// toAPIError maps any error to the S3 answer: our own apiError, a SigV4
// failure, a domain error by kind, or InternalError.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if ae := kmsError(err); ae != nil {
		return ae
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		st, ok := sigv4Status[se.Code]
		if !ok {
			st = http.StatusBadRequest
		}
		return &apiError{s3Code: s3Code{se.Code, st}, Msg: se.Msg, Err: err}
	}
	msg := errs.Message(err)
	switch errs.KindOf(err) {
	case errs.Invalid:
		return &apiError{s3Code: errInvalidArgument, Msg: msg, Err: err}
	case errs.NotExist:
		return &apiError{s3Code: errNoSuchKey, Msg: msg, Err: err}
	case errs.Permission, errs.Unauthorized:
		return &apiError{s3Code: errAccessDenied, Msg: "access denied", Err: err}
	case errs.Quota:
		return &apiError{s3Code: errQuotaExceeded, Msg: msg, Err: err}
	case errs.TooLarge:
		return &apiError{s3Code: errEntityTooLarge, Msg: msg, Err: err}
	case errs.Conflict:
		return &apiError{s3Code: s3Code{"OperationAborted", http.StatusConflict}, Msg: msg, Err: err}
	case errs.Unavailable, errs.RateLimited:
		return &apiError{s3Code: errSlowDown, Msg: "please reduce your request rate", Err: err}
	case errs.NoSpace:
		return &apiError{s3Code: errStorageFull, Msg: "the storage backend is full", Err: err}
	}
	return &apiError{s3Code: errInternal, Msg: "we encountered an internal error, please try again", Err: err}
}

type errorBody struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	Resource   string   `xml:"Resource"`
	RequestID  string   `xml:"RequestId"`
	BucketName string   `xml:"BucketName,omitempty"`
	Key        string   `xml:"Key,omitempty"`
}

// renderError writes the S3 XML error (no body for HEAD or 304) and logs
// internal causes with the request id.
func (h *Handler) renderError(w http.ResponseWriter, req *request, err error) {
	ae := toAPIError(err)
	if ae.Status >= 500 {
		h.log.Error("s3 request failed", "request_id", req.id, "op", req.op, "resource", req.resource, "err", err)
	} else if ae.Err != nil {
		h.log.Debug("s3 request refused", "request_id", req.id, "op", req.op, "code", ae.Code, "err", err)
	}
	if ae.Code == errSlowDown.Code {
		w.Header().Set("Retry-After", "1")
	}
	if req.r.Method == http.MethodHead || ae.Status == http.StatusNotModified {
		w.WriteHeader(ae.Status)
		return
	}
	body := errorBody{Code: ae.Code, Message: ae.Msg, Resource: req.resource, RequestID: req.id}
	if ae.Code == errNoSuchBucket.Code || ae.Code == errBucketNotEmpty.Code || ae.Code == errBucketAlreadyExists.Code {
		body.BucketName = req.bucket
	}
	if ae.Code == errNoSuchKey.Code {
		body.Key = req.key
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Del("Content-Length")
	w.Header().Del("ETag")
	w.Header().Del("Last-Modified")
	w.WriteHeader(ae.Status)
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(body)
}

func isQuota(err error) bool { return errs.Is(err, errs.Quota) }

// isAPICode reports whether err is the S3 answer c.
func isAPICode(err error, c s3Code) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Code == c.Code
}

// kmsError answers the key service's refusals with the codes S3 uses for
// them, nil for other errors.
func kmsError(err error) *apiError {
	var c s3Code
	switch {
	case errors.Is(err, kms.ErrDisabled):
		c = s3Code{"KMS.DisabledException", http.StatusBadRequest}
	case errors.Is(err, kms.ErrPendingDeletion):
		c = s3Code{"KMS.KMSInvalidStateException", http.StatusBadRequest}
	case errors.Is(err, kms.ErrNotFound):
		c = s3Code{"KMS.NotFoundException", http.StatusBadRequest}
	case errors.Is(err, kms.ErrInvalidCiphertext):
		c = s3Code{"KMS.InvalidCiphertextException", http.StatusBadRequest}
	case errors.Is(err, kms.ErrAccessDenied):
		c = errAccessDenied
	default:
		return nil
	}
	return &apiError{s3Code: c, Msg: errs.Message(err), Err: err}
}
