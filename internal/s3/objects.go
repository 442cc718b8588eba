package s3

import (
	"bytes"
	"cmp"
	"context"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/checksum"
	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/objectstore"
	"github.com/stowage/stowage/internal/s3/sigv4"
)

// MaxPutSize is the largest single PUT (and part) S3 accepts.
const MaxPutSize = 5 << 30

// InlineMax is the largest object kept with its metadata instead of in a
// blob file (objectstore.PutOptions.InlineMax): without the file and its
// two fsyncs, 4 KiB PUTs at 32 concurrent went from about 1,900 to 4,000 a
// second on SQLite. It bounds a row, and the memory a GET of such an object
// holds, to 64 KiB. Parts of multipart uploads are always blobs.
const InlineMax = 64 << 10

// maxUserMeta is S3's limit on the x-amz-meta-* headers of one object.
const maxUserMeta = 2 << 10

// storedHeaders are the request headers kept with an object and returned
// on GET and HEAD, besides x-amz-meta-*.
var storedHeaders = []string{"Content-Type", "Cache-Control", "Content-Disposition", "Content-Encoding",
	"Content-Language", "Expires", "X-Amz-Website-Redirect-Location", "X-Amz-Storage-Class"}

// objectMeta collects what an object keeps of its creating request.
func objectMeta(r *http.Request) (map[string]string, error) {
	m := map[string]string{}
	for _, k := range storedHeaders {
		if v := r.Header.Get(k); v != "" {
			m[k] = v
		}
	}
	// aws-chunked is transfer framing, not a property of the object.
	if ce, ok := m["Content-Encoding"]; ok {
		var keep []string
		for _, p := range strings.Split(ce, ",") {
			if p = strings.TrimSpace(p); p != "" && !strings.EqualFold(p, "aws-chunked") {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			delete(m, "Content-Encoding")
		} else {
			m["Content-Encoding"] = strings.Join(keep, ", ")
		}
	}
	if sc, ok := m["X-Amz-Storage-Class"]; ok {
		switch sc {
		case "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR":
		default:
			return nil, apiErr(errInvalidStorageClass, "the storage class you specified is not valid")
		}
	}
	size := 0
	for k, vs := range r.Header {
		if strings.HasPrefix(k, "X-Amz-Meta-") {
			v := strings.Join(vs, ",")
			// Kept lower case and written back verbatim, as AWS does:
			// botocore takes metadata names from the header as sent.
			m[strings.ToLower(k)] = metaValueIn(v)
			size += len(k) - len("X-Amz-Meta-") + len(v)
		}
	}
	if size > maxUserMeta {
		return nil, apiErr(s3Code{"MetadataTooLarge", http.StatusBadRequest}, "your metadata headers exceed the maximum allowed metadata size")
	}
	return m, nil
}

// parseTags reads a tag set in the x-amz-tagging URL-query form.
func parseTags(v string) (map[string]string, error) {
	if v == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, apiErr(errInvalidTag, "the tag header is not a valid query string")
	}
	tags := map[string]string{}
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, apiErr(errInvalidTag, "tag keys must be unique")
		}
		tags[k] = vs[0]
	}
	return tags, checkTags(tags)
}

// tags reads a Tagging document's object tag set under S3's rules.
func (t tagging) tags() (map[string]string, error) { return t.tagSet(maxObjectTags, "object") }

// tagSet reads a Tagging document's tag set of at most limit tags.
func (t tagging) tagSet(limit int, what string) (map[string]string, error) {
	tags := map[string]string{}
	for _, tg := range t.TagSet {
		if _, dup := tags[tg.Key]; dup {
			return nil, apiErr(errInvalidTag, "cannot provide multiple tags with the same key")
		}
		tags[tg.Key] = tg.Value
	}
	return tags, checkTagSet(tags, limit, what)
}

func checkTags(tags map[string]string) error { return checkTagSet(tags, maxObjectTags, "object") }

// maxObjectTags is S3's limit on an object's tag set.
const maxObjectTags = 10

func checkTagSet(tags map[string]string, limit int, what string) error {
	if len(tags) > limit {
		return apiErr(errInvalidTag, "%s tags cannot be greater than %d", what, limit)
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return apiErr(errInvalidTag, "tag keys must be 1 to 128 and values at most 256 characters")
		}
	}
	return nil
}

// received is a body stored as a blob, not yet referenced by metadata.
type received struct {
	blob      objectstore.Blob
	checksums map[string]string
	release   func()
}

// receive streams the request body into a new blob, verifying length,
// Content-MD5 and x-amz-checksum-* (header or trailer) over the plaintext,
// encrypting with enc when set, under a quota reservation the caller
// releases after its metadata commit. A body of at most inline bytes comes
// back in memory (received.blob.Inline) rather than as a blob. On error
// nothing is left behind.
func (h *Handler) receive(req *request, b bucket.Bucket, enc cipher.Stream, inline int) (*received, error) {
	r := req.r
	ctx := r.Context()
	body, chunked, err := req.sig.Body(r)
	if err != nil {
		return nil, err
	}
	streaming := req.sig != nil && req.sig.Streaming()
	size, err := sigv4.DecodedLength(r, streaming)
	if err != nil {
		return nil, err
	}
	// A body of unknown length (Transfer-Encoding: chunked) is accepted up
	// to the single-PUT limit; its quota is reserved once its size is known,
	// still before the metadata commit that makes it count.
	unknown := size < 0
	if size > MaxPutSize {
		return nil, apiErr(errEntityTooLarge, "your proposed upload exceeds the maximum allowed size")
	}
	if r.Header.Get("Content-Length") == "" && len(r.TransferEncoding) == 0 {
		return nil, apiErr(errMissingContentLength, "you must provide the Content-Length HTTP header")
	}
	var wantMD5 []byte
	if vs, ok := r.Header["Content-Md5"]; ok {
		v := strings.Join(vs, ",")
		wantMD5, err = base64.StdEncoding.DecodeString(v)
		if err != nil || len(wantMD5) != md5.Size {
			return nil, apiErr(errInvalidDigest, "the Content-MD5 you specified was invalid")
		}
	}
	wantSums := map[checksum.Algorithm]string{}
	for _, a := range checksum.All {
		if v := r.Header.Get(a.Header()); v != "" {
			if !a.Valid(v) {
				// S3 answers BadDigest: no body can match a malformed sum.
				return nil, apiErr(errBadDigest, "the %s you specified is not a valid %s checksum", strings.ToLower(a.Header()), a)
			}
			wantSums[a] = v
		}
	}
	if len(wantSums) > 1 {
		return nil, apiErr(errInvalidRequest, "expecting a single x-amz-checksum- header; multiple checksum types are not allowed")
	}
	algos := make([]checksum.Algorithm, 0, 2)
	for a := range wantSums {
		algos = append(algos, a)
	}
	trailerAlgo, hasTrailer := checksum.FromHeader(r.Header.Get("X-Amz-Trailer"))
	if hasTrailer {
		algos = append(algos, trailerAlgo)
	}
	if v := r.Header.Get("X-Amz-Sdk-Checksum-Algorithm"); v != "" && len(algos) == 0 {
		if a, ok := checksum.Parse(v); ok {
			algos = append(algos, a) // computed and stored, nothing to compare
		}
	}
	release := func() {}
	if h.o.Quota != nil && !unknown {
		if release, err = h.o.Quota.Reserve(ctx, b.ProjectID, b, size); err != nil {
			return nil, toQuotaErr(err)
		}
	}
	limit := size
	if unknown {
		limit = MaxPutSize
	}
	blob, err := h.o.Blobs.Put(ctx, body, objectstore.PutOptions{Checksums: algos, Limit: limit, Encrypt: enc, InlineMax: inline})
	req.bytesIn += blob.Size
	fail := func(e error) (*received, error) {
		release()
		if blob.ID != "" {
			if derr := h.o.Blobs.Delete(ctx, blob.ID); derr != nil {
				h.log.Warn("s3: delete refused blob", "blob", blob.ID, "err", derr)
			}
		}
		return nil, e
	}
	if err != nil {
		if errs.Is(err, errs.TooLarge) && unknown {
			return fail(apiErr(errEntityTooLarge, "your proposed upload exceeds the maximum allowed size"))
		}
		if errs.Is(err, errs.TooLarge) {
			return fail(apiErr(errIncompleteBody, "the request body is longer than its declared length"))
		}
		return fail(err)
	}
	if unknown && h.o.Quota != nil {
		if release, err = h.o.Quota.Reserve(ctx, b.ProjectID, b, blob.Size); err != nil {
			release = func() {}
			return fail(toQuotaErr(err))
		}
	}
	if unknown {
		size = blob.Size
	}
	if blob.Size != size {
		return fail(apiErr(errIncompleteBody, "you did not provide the number of bytes specified by the Content-Length HTTP header"))
	}
	if wantMD5 != nil && !bytes.Equal(wantMD5, blob.MD5) {
		return fail(apiErr(errBadDigest, "the Content-MD5 you specified did not match what we received"))
	}
	sums := map[string]string{}
	for a, sum := range blob.Checksums {
		sums[string(a)] = checksum.Encode(sum)
	}
	for a, want := range wantSums {
		if sums[string(a)] != want {
			return fail(apiErr(errBadDigest, "the %s you specified did not match the calculated checksum", a))
		}
	}
	if hasTrailer && chunked != nil {
		// The decoder already compared the trailer with its own digest.
		if v, ok := chunked.Trailers()[strings.ToLower(trailerAlgo.Header())]; ok && v != sums[string(trailerAlgo)] {
			return fail(apiErr(errBadDigest, "the %s you specified did not match the calculated checksum", trailerAlgo))
		}
	}
	return &received{blob: blob, checksums: sums, release: release}, nil
}

// committed deletes the blobs a write freed and names the version it
// made; like S3, it does not name a null version.
func (h *Handler) committed(w http.ResponseWriter, req *request, b bucket.Bucket, c bucket.Committed) {
	for _, id := range c.Freed {
		h.dropBlob(req, id)
	}
	if c.VersionID != "" {
		w.Header().Set("X-Amz-Version-Id", c.VersionID)
	}
}

// setVersionHeader names the version a read returns, "null" included,
// once its bucket is or was versioned.
func setVersionHeader(w http.ResponseWriter, b bucket.Bucket, versionID string) {
	if b.Versioning != "" || versionID != "" {
		w.Header().Set("X-Amz-Version-Id", versionName(versionID))
	}
}

// versionName is a version id as S3 shows it: "null" for the null version.
func versionName(id string) string {
	if id == "" {
		return "null"
	}
	return id
}

// parseVersionID reads a versionId parameter: "null" or one of ours.
func parseVersionID(v string) (string, error) {
	if v == "null" {
		return "", nil
	}
	if _, err := uuid.Parse(v); err != nil || len(v) != 36 {
		return "", apiErr(errInvalidArgument, "invalid version id specified")
	}
	return v, nil
}

// dropBlob deletes a blob that metadata no longer references. A failure
// only leaves an orphan for the start-up GC, so it is logged, not returned.
func (h *Handler) dropBlob(req *request, id string) {
	if id == "" {
		return
	}
	if err := h.o.Blobs.Delete(req.r.Context(), id); err != nil {
		h.log.Warn("s3: delete replaced blob", "request_id", req.id, "blob", id, "err", err)
	}
}

func quoted(etag string) string { return `"` + etag + `"` }

func setChecksumHeaders(w http.ResponseWriter, sums map[string]string) {
	for a, v := range wholeChecksums(sums) {
		if alg, ok := checksum.Parse(a); ok {
			w.Header().Set(alg.Header(), v)
			w.Header().Set("X-Amz-Checksum-Type", checksumType(v))
		}
	}
}

func (h *Handler) putObject(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, actPutObject)
	if err != nil {
		return err
	}
	meta, err := objectMeta(req.r)
	if err != nil {
		return err
	}
	acl, err := objectACL(req.r, b, req.project, aclRequested(req.r))
	if err != nil {
		return err
	}
	tags, err := parseTags(req.r.Header.Get("X-Amz-Tagging"))
	if err != nil {
		return err
	}
	if err := h.conditionalWrite(req, b); err != nil {
		return err // before the body: a refused write costs no upload
	}
	lock, err := writeLock(req.r, b, h.o.Now())
	if err != nil {
		return err
	}
	sp, err := writeSSE(req.r, b, req.project, req.key)
	if err != nil {
		return err
	}
	dek, sse, enc, err := h.newObjectEncryption(req.r.Context(), sp)
	if err != nil {
		return err
	}
	rc, err := h.receive(req, b, enc, InlineMax)
	if err != nil {
		return err
	}
	defer rc.release()
	o := bucket.Object{BucketID: b.ID, Key: req.key, BlobID: rc.blob.ID, Inline: rc.blob.Inline, Size: rc.blob.Size,
		ETag: etagOf(sse, dek, rc.blob.MD5), Meta: meta, Checksums: rc.checksums, Tags: tags, ACL: acl, SSE: sse, Lock: lock, Modified: h.o.Now().UTC()}
	if err := h.conditionalWrite(req, b); err != nil {
		h.dropBlob(req, rc.blob.ID)
		return err
	}
	c, err := h.o.Meta.PutObject(req.cause(req.r.Context(), bucket.EventPut), o)
	if err != nil {
		h.dropBlob(req, rc.blob.ID)
		return err
	}
	h.committed(w, req, b, c)
	h.setExpiration(w, b, o)
	w.Header().Set("ETag", quoted(o.ETag))
	setChecksumHeaders(w, rc.checksums)
	setSSEHeaders(w, sse)
	w.WriteHeader(http.StatusOK)
	return nil
}

// etagOf is the ETag of a single-part object or a part: the MD5 of its
// bytes, masked for SSE-C.
func etagOf(sse bucket.SSE, dek, sum []byte) string {
	if sse.Mode == bucket.EncryptCustomer {
		return maskETag(dek, sum)
	}
	return hex.EncodeToString(sum)
}

// conditionalWrite enforces If-None-Match (* or ETags) and If-Match on
// PUT and CompleteMultipartUpload. PUT checks before and again after the
// body. The check and the commit are not one transaction, so two racing
// writers may both pass; the last commit wins, as with unconditional PUTs.
func (h *Handler) conditionalWrite(req *request, b bucket.Bucket) error {
	inm, im := req.r.Header.Get("If-None-Match"), req.r.Header.Get("If-Match")
	if inm == "" && im == "" {
		return nil
	}
	cur, err := h.o.Meta.GetObject(req.r.Context(), b.ID, req.key)
	exists := err == nil
	if err != nil && !isNotExist(err) {
		return err
	}
	if inm != "" && exists && etagMatches(inm, cur.ETag) {
		return apiErr(errPreconditionFailed, "at least one of the pre-conditions you specified did not hold")
	}
	if im != "" {
		if !exists {
			return apiErr(errNoSuchKey, "the specified key does not exist")
		}
		if !etagMatches(im, cur.ETag) {
			return apiErr(errPreconditionFailed, "at least one of the pre-conditions you specified did not hold")
		}
	}
	return nil
}

func keyError(err error) error {
	if strings.Contains(errs.Message(err), "too long") {
		return apiErr(errKeyTooLong, "your key is too long")
	}
	return apiErr(errInvalidArgument, "%s", errs.Message(err))
}

// etagMatches evaluates an If-Match / If-None-Match list against etag.
func etagMatches(header, etag string) bool {
	for _, p := range strings.Split(header, ",") {
		p = strings.TrimSpace(p)
		p = strings.TrimPrefix(p, "W/")
		if p == "*" || strings.Trim(p, `"`) == etag {
			return true
		}
	}
	return false
}

// preconditions evaluates GET/HEAD conditionals in S3's order: If-Match
// then If-Unmodified-Since (412), If-None-Match then If-Modified-Since (304).
func preconditions(h http.Header, etag string, modified time.Time, prefix string) error {
	mod := modified.Truncate(time.Second)
	if v := h.Get(prefix + "If-Match"); v != "" {
		if !etagMatches(v, etag) {
			return apiErr(errPreconditionFailed, "at least one of the pre-conditions you specified did not hold")
		}
	} else if v := h.Get(prefix + "If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && mod.After(t) {
			return apiErr(errPreconditionFailed, "at least one of the pre-conditions you specified did not hold")
		}
	}
	notModified := errNotModified
	if prefix != "" { // copy-source conditions fail with 412, never 304
		notModified = errPreconditionFailed
	}
	if v := h.Get(prefix + "If-None-Match"); v != "" {
		if etagMatches(v, etag) {
			return apiErr(notModified, "not modified")
		}
	} else if v := h.Get(prefix + "If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !mod.After(t) {
			return apiErr(notModified, "not modified")
		}
	}
	return nil
}

// parseRange reads a single "bytes=" range; ok is false when the header is
// absent or not a form S3 honours (then the whole object is served).
func parseRange(v string, size int64) (start, length int64, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, nil
	}
	invalid := apiErr(errInvalidRange, "the requested range is not satisfiable")
	switch {
	case a == "":
		n, perr := strconv.ParseInt(b, 10, 64)
		if perr != nil || n < 0 {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, invalid
		}
		n = min(n, size)
		return size - n, n, true, nil
	default:
		s, perr := strconv.ParseInt(a, 10, 64)
		if perr != nil || s < 0 {
			return 0, 0, false, nil
		}
		e := size - 1
		if b != "" {
			if e, perr = strconv.ParseInt(b, 10, 64); perr != nil || e < s {
				return 0, 0, false, nil
			}
		}
		if s >= size {
			return 0, 0, false, invalid
		}
		e = min(e, size-1)
		return s, e - s + 1, true, nil
	}
}

func (h *Handler) getObject(w http.ResponseWriter, req *request) error {
	return h.serveObject(w, req, true)
}

func (h *Handler) headObject(w http.ResponseWriter, req *request) error {
	return h.serveObject(w, req, false)
}

func (h *Handler) serveObject(w http.ResponseWriter, req *request, withBody bool) error {
	ctx := req.r.Context()
	b, err := h.loadBucket(req)
	if err != nil {
		return err
	}
	part := 0
	if v := req.r.URL.Query().Get("partNumber"); v != "" {
		if part, err = strconv.Atoi(v); err != nil || part < 1 || part > maxParts {
			return apiErr(errInvalidArgument, "part number must be an integer between 1 and 10000, inclusive")
		}
		if req.r.Header.Get("Range") != "" {
			return apiErr(errInvalidRequest, "cannot specify both Range header and partNumber query parameter")
		}
	}
	sp, err := readSSE(req.r)
	if err != nil {
		return err
	}
	var o bucket.Object
	var rd io.ReadCloser
	var dek []byte
	var start, length int64
	var ranged bool
	// An overwrite may delete the blob between reading the row and opening
	// the blob; the row read again then names the new blob. Once open, the
	// blob stays readable, so a reader sees the old or the new bytes whole.
	version, err := versionParam(req.r)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		o, err = h.versionOf(ctx, b.ID, req.key, version)
		if isNotExist(err) {
			err = h.readable(req, b, req.key, nil)
			switch {
			case isAPICode(err, errNoSuchKey) && version != nil:
				return apiErr(errNoSuchVersion, "the specified version does not exist")
			case isAPICode(err, errNoSuchKey) && b.Versioning == "":
				// Unversioned: a missing key is never a delete marker.
				w.Header().Set("X-Amz-Delete-Marker", "false")
			case isAPICode(err, errNoSuchKey):
				if latest, lerr := h.o.Meta.ListVersions(ctx, b.ID, bucket.VersionQuery{From: req.key, Limit: 1}); lerr == nil &&
					len(latest) == 1 && latest[0].Key == req.key && latest[0].DeleteMarker {
					w.Header().Set("X-Amz-Delete-Marker", "true")
					w.Header().Set("X-Amz-Version-Id", versionName(latest[0].VersionID))
				}
			}
			return err
		}
		if err != nil {
			return err
		}
		if o.DeleteMarker {
			err := h.toldTo(req, b, req.key, apiErr(errMethodNotAllowed, "the specified method is not allowed against a delete marker"))
			if isAPICode(err, errMethodNotAllowed) {
				w.Header().Set("X-Amz-Delete-Marker", "true")
				w.Header().Set("X-Amz-Version-Id", versionName(o.VersionID))
			}
			return err
		}
		if err := h.readable(req, b, req.key, &o); err != nil {
			return err
		}
		if part > 0 {
			if start, length, err = partRange(o, part); err != nil {
				return err
			}
			ranged = o.Parts > 0
		}
		if dek, err = h.dataKey(ctx, req.project, o.SSE, sp); err != nil {
			return err
		}
		if err := preconditions(req.r.Header, o.ETag, o.Modified, ""); err != nil {
			setObjectHeaders(w, o, req.r)
			return err
		}
		if part == 0 {
			start, length, ranged, err = parseRange(req.r.Header.Get("Range"), o.Size)
		}
		if err != nil {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(o.Size, 10))
			return err
		}
		if !ranged {
			start, length = 0, o.Size
		}
		if !withBody {
			break
		}
		rd, err = h.open(ctx, o, dek, start, length)
		if err == nil {
			break
		}
		if !isNotExist(err) || attempt == 2 {
			return err
		}
	}
	if rd != nil {
		defer rd.Close()
	}
	setObjectHeaders(w, o, req.r)
	if !req.r.URL.Query().Has("versionId") {
		h.setExpiration(w, b, o)
	}
	setVersionHeader(w, b, o.VersionID)
	setLockHeaders(w, o.Lock)
	setSSEHeaders(w, o.SSE)
	if strings.EqualFold(req.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		switch {
		case part > 0 && o.Parts > 0:
			// The part's own checksum, as S3 answers a GET of one part.
			x := partChecksums(o.Checksums, part)
			for a, v := range map[checksum.Algorithm]string{checksum.CRC32: x.CRC32, checksum.CRC32C: x.CRC32C,
				checksum.CRC64NVME: x.CRC64NVME, checksum.SHA1: x.SHA1, checksum.SHA256: x.SHA256} {
				if v != "" {
					w.Header().Set(a.Header(), v)
					w.Header().Set("X-Amz-Checksum-Type", x.Type)
				}
			}
		case !ranged:
			setChecksumHeaders(w, o.Checksums)
		}
	}
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if ranged {
		status = http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, o.Size))
	}
	w.WriteHeader(status)
	if withBody && length > 0 {
		if _, err := io.Copy(w, rd); err != nil {
			// Headers are gone; all we can do is cut the connection short.
			h.log.Debug("s3: send object", "request_id", req.id, "err", err)
			return nil
		}
	}
	return nil
}

// partRange is where part n of o lies. A single-part object is its own
// part 1, as in S3.
func partRange(o bucket.Object, n int) (start, length int64, err error) {
	if o.Parts == 0 {
		if n != 1 {
			return 0, 0, apiErr(errInvalidPart, "the requested part number is not satisfiable")
		}
		return 0, o.Size, nil
	}
	if n > o.Parts {
		return 0, 0, apiErr(errInvalidPart, "the requested part number is not satisfiable")
	}
	if len(o.PartSizes) != o.Parts {
		return 0, 0, apiErr(errNotImplemented, "this object was completed before part sizes were kept; read it by range")
	}
	for _, size := range o.PartSizes[:n-1] {
		start += size
	}
	return start, o.PartSizes[n-1], nil
}

// responseOverrides maps response-* query parameters to the header they
// replace on GET.
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

func setObjectHeaders(w http.ResponseWriter, o bucket.Object, r *http.Request) {
	hd := w.Header()
	hd.Set("ETag", quoted(o.ETag))
	hd.Set("Last-Modified", o.Modified.UTC().Format(http.TimeFormat))
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Type", "binary/octet-stream")
	for k, v := range o.Meta {
		if strings.HasPrefix(k, "x-amz-meta-") {
			hd[k] = []string{metaValueOut(v)} // not canonicalised: see objectMeta
		} else {
			hd.Set(k, v)
		}
	}
	if len(o.Tags) > 0 {
		hd.Set("X-Amz-Tagging-Count", strconv.Itoa(len(o.Tags)))
	}
	if o.Parts > 0 {
		hd.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(o.Parts))
	}
	q := r.URL.Query()
	for p, header := range responseOverrides {
		if v := q.Get(p); v != "" {
			hd.Set(header, v)
		}
	}
}

func (h *Handler) deleteObject(w http.ResponseWriter, req *request) error {
	version, err := versionParam(req.r)
	if err != nil {
		return err
	}
	b, err := h.bucketFor(req, deleteAction(version))
	if err != nil {
		return err
	}
	d, err := h.deleteKey(req, b, req.key, version)
	if err != nil {
		return err
	}
	if v := cmp.Or(d.VersionID, d.DeleteMarkerVersionID); v != "" {
		w.Header().Set("X-Amz-Version-Id", v)
	}
	if d.DeleteMarker {
		w.Header().Set("X-Amz-Delete-Marker", "true")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// about is the same caller asking about another object, to authorise one
// request's work on several (copy sources, DeleteObjects entries).
func (req *request) about(bucketName, key string) *request {
	return &request{r: req.r, id: req.id, bucket: bucketName, key: key, hasKey: true, project: req.project, service: req.service}
}

// mayBypass reports whether the request lifts GOVERNANCE retention on key:
// it asks to, and the caller owns the bucket or a bucket policy grants it
// s3:BypassGovernanceRetention (else AccessDenied).
func (h *Handler) mayBypass(req *request, b bucket.Bucket, key string) (bool, error) {
	if !bypassGovernance(req.r) {
		return false, nil
	}
	if err := h.authorize(req, b, "s3:BypassGovernanceRetention", key, nil); err != nil {
		return false, err
	}
	return true, nil
}

// deleteAction is what deleting a key, or one version of it, asks for.
func deleteAction(version *string) string {
	if version != nil {
		return "s3:DeleteObjectVersion"
	}
	return actDelete
}

// deleteKey deletes key (a delete marker in a versioned bucket) or, with
// version, that version for good, and says what it did as DeleteObjects
// reports it. Deleting what is not there succeeds, as in S3.
func (h *Handler) deleteKey(req *request, b bucket.Bucket, key string, version *string) (deletedEntry, error) {
	ctx := req.cause(req.r.Context(), bucket.EventRemoved)
	d := deletedEntry{Key: key}
	if version != nil {
		d.VersionID = versionName(*version)
		bypass, err := h.mayBypass(req, b, key)
		if err != nil {
			return d, err
		}
		gone, err := h.o.Meta.DeleteVersion(ctx, b.ID, key, *version, deletable(bypass, h.o.Now()))
		if isNotExist(err) {
			return d, nil
		}
		if err != nil {
			return d, err
		}
		d.DeleteMarker = gone.DeleteMarker
		if gone.DeleteMarker {
			d.DeleteMarkerVersionID = d.VersionID
		}
		for _, id := range gone.Blobs() {
			h.dropBlob(req, id)
		}
		return d, nil
	}
	c, err := h.o.Meta.DeleteObject(ctx, b.ID, key, h.o.Now().UTC())
	if err != nil && !isNotExist(err) {
		return d, err
	}
	for _, id := range c.Freed {
		h.dropBlob(req, id)
	}
	if c.Versioned {
		// A new delete marker: S3 names it only as DeleteMarkerVersionId.
		d.DeleteMarker, d.DeleteMarkerVersionID = true, versionName(c.VersionID)
	}
	return d, nil
}

func (h *Handler) deleteObjects(w http.ResponseWriter, req *request) error {
	b, err := h.loadBucket(req)
	if err != nil {
		return err
	}
	var in deleteRequest
	if err := req.readXML(&in); err != nil {
		return err
	}
	if len(in.Objects) == 0 || len(in.Objects) > 1000 {
		return apiErr(errMalformedXML, "a delete request names 1 to 1000 objects")
	}
	res := deleteResult{Xmlns: s3NS}
	denied := 0
	for _, obj := range in.Objects {
		if err := bucket.ValidKey(obj.Key); err != nil {
			res.Errors = append(res.Errors, deleteErrorEntry{Key: obj.Key, Code: errInvalidArgument.Code, Message: errs.Message(err)})
			continue
		}
		var version *string
		if obj.VersionID != "" {
			vid, err := parseVersionID(obj.VersionID)
			if err != nil {
				res.Errors = append(res.Errors, deleteErrorEntry{Key: obj.Key, VersionID: obj.VersionID, Code: errInvalidArgument.Code, Message: errs.Message(err)})
				continue
			}
			version = &vid
		}
		// Each entry is authorised as its own DELETE would be.
		err := h.authorize(req, b, deleteAction(version), obj.Key, nil)
		if err != nil {
			denied++
		}
		var d deletedEntry
		if err == nil {
			d, err = h.deleteKey(req, b, obj.Key, version)
		}
		if err != nil {
			ae := toAPIError(err)
			if ae.Status >= 500 {
				h.log.Error("s3: delete object", "request_id", req.id, "key", obj.Key, "err", err)
			}
			res.Errors = append(res.Errors, deleteErrorEntry{Key: obj.Key, VersionID: obj.VersionID, Code: ae.Code, Message: ae.Msg})
			continue
		}
		if !in.Quiet {
			res.Deleted = append(res.Deleted, d)
		}
	}
	if denied == len(in.Objects) {
		// A caller who may delete none of the keys named is refused
		// outright, as the DELETE of each would be.
		return apiErr(errAccessDenied, "access denied")
	}
	return writeXML(w, http.StatusOK, res)
}

// copySource parses x-amz-copy-source: "[/]bucket/key[?versionId=…]",
// URL-encoded.
func copySource(v string) (bucketName, key string, version *string, err error) {
	v, versionID, named := strings.Cut(v, "?versionId=")
	if named {
		vid, err := parseVersionID(versionID)
		if err != nil {
			return "", "", nil, err
		}
		version = &vid
	}
	dec, uerr := url.PathUnescape(v)
	if uerr != nil {
		return "", "", nil, apiErr(errInvalidArgument, "the copy source is not URL-encoded correctly")
	}
	dec = strings.TrimPrefix(dec, "/")
	bucketName, key, ok := strings.Cut(dec, "/")
	if !ok || bucketName == "" || key == "" {
		return "", "", nil, apiErr(errInvalidArgument, "copy source must be bucket/key")
	}
	return bucketName, key, version, nil
}

// source is a copy's source: its bucket, the version read, that
// version's data key (nil for a plain object), and whether the request
// named the version.
type source struct {
	b     bucket.Bucket
	o     bucket.Object
	dek   []byte
	named bool
}

// sourceObject loads and authorises the object named by x-amz-copy-source,
// opens its data key with the x-amz-copy-source-server-side-encryption-
// customer-* headers and checks the x-amz-copy-source-if-* conditions.
func (h *Handler) sourceObject(req *request) (source, error) {
	var s source
	bn, key, version, err := copySource(req.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return s, err
	}
	s.named = version != nil
	src := req.about(bn, key)
	if err := h.checkKey(src); err != nil {
		return s, err
	}
	if s.b, err = h.loadBucket(src); err != nil {
		return s, err
	}
	s.o, err = h.versionOf(req.r.Context(), s.b.ID, key, version)
	switch {
	case isNotExist(err) && version != nil:
		return s, h.toldTo(src, s.b, key, apiErr(errNoSuchVersion, "the specified version does not exist"))
	case isNotExist(err):
		return s, h.readable(src, s.b, key, nil)
	case err != nil:
		return s, err
	case s.o.DeleteMarker:
		return s, h.toldTo(src, s.b, key, apiErr(errInvalidRequest, "the source of a copy request may not specifically refer to a delete marker by version id"))
	}
	if err := h.readable(src, s.b, key, &s.o); err != nil {
		return s, err
	}
	sp, err := customerKey(req.r, "X-Amz-Copy-Source-")
	if err != nil {
		return s, err
	}
	if s.dek, err = h.dataKey(req.r.Context(), req.project, s.o.SSE, sp); err != nil {
		return s, err
	}
	return s, preconditions(req.r.Header, s.o.ETag, s.o.Modified, "X-Amz-Copy-Source-")
}

// versionOf reads key's current version, or with version the one named.
func (h *Handler) versionOf(ctx context.Context, bucketID, key string, version *string) (bucket.Object, error) {
	if version == nil {
		return h.o.Meta.GetObject(ctx, bucketID, key)
	}
	return h.o.Meta.GetObjectVersion(ctx, bucketID, key, *version)
}

// toldTo answers e about key only to callers that may know the key's state
// (those readable would tell NoSuchKey); the rest get their refusal.
func (h *Handler) toldTo(req *request, b bucket.Bucket, key string, e error) error {
	if err := h.readable(req, b, key, nil); !isAPICode(err, errNoSuchKey) {
		return err
	}
	return e
}

func (h *Handler) copyObject(w http.ResponseWriter, req *request) error {
	ctx := req.r.Context()
	b, err := h.bucketFor(req, actPutObject)
	if err != nil {
		return err
	}
	from, err := h.sourceObject(req)
	if err != nil {
		return err
	}
	sb, src, srcDEK := from.b, from.o, from.dek
	acl, err := objectACL(req.r, b, req.project, aclRequested(req.r))
	if err != nil {
		return err
	}
	lock, err := writeLock(req.r, b, h.o.Now())
	if err != nil {
		return err
	}
	directive := req.r.Header.Get("X-Amz-Metadata-Directive")
	tagDirective := req.r.Header.Get("X-Amz-Tagging-Directive")
	for _, d := range []string{directive, tagDirective} {
		if d != "" && d != "COPY" && d != "REPLACE" {
			return apiErr(errInvalidArgument, "unknown directive %q", d)
		}
	}
	dst, err := writeSSE(req.r, b, req.project, req.key)
	if err != nil {
		return err
	}
	// Plain to plain and SSE-S3 to SSE-S3 keep the stored bytes (the data
	// key is sealed under the same master key); anything else (SSE-KMS
	// binds the object's name) passes the plaintext through again.
	reencrypt := src.SSE.Mode != dst.mode || dst.mode == bucket.EncryptCustomer || dst.mode == bucket.EncryptKMS
	o := bucket.Object{BucketID: b.ID, Key: req.key, BlobID: src.BlobID, Inline: src.Inline, Size: src.Size, ETag: src.ETag,
		Meta: src.Meta, Checksums: src.Checksums, Tags: src.Tags, ACL: acl, Parts: src.Parts, PartSizes: src.PartSizes,
		Manifest: src.Manifest, SSE: src.SSE, Lock: lock, Modified: h.o.Now().UTC()}
	if directive == "REPLACE" {
		if o.Meta, err = objectMeta(req.r); err != nil {
			return err
		}
	}
	if tagDirective == "REPLACE" {
		if o.Tags, err = parseTags(req.r.Header.Get("X-Amz-Tagging")); err != nil {
			return err
		}
	}
	// Onto itself: the source is the destination's current version (a
	// named version may be an older one, which copying restores).
	sameObject := sb.ID == b.ID && src.Key == req.key && !from.named
	if sameObject && directive != "REPLACE" && tagDirective != "REPLACE" && req.r.Header.Get("X-Amz-Storage-Class") == "" && !reencrypt {
		return apiErr(errInvalidRequest, "this copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes")
	}
	release := func() {}
	if !sameObject || reencrypt || b.Versioning != "" {
		// A copy (or a new version) gets its own blob, so deleting either
		// object never touches the other; copy_file_range makes it cheap
		// on disk.
		if h.o.Quota != nil {
			if release, err = h.o.Quota.Reserve(ctx, b.ProjectID, b, src.Size); err != nil {
				if errs.Is(err, errs.Quota) {
					return &apiError{s3Code: errQuotaExceeded, Msg: "the storage quota of this project or service is exhausted", Err: err}
				}
				return err
			}
		}
		defer release()
		switch {
		case reencrypt:
			err = h.reencrypt(ctx, &o, src, srcDEK, dst)
		case len(src.Blobs()) == 0:
			// Inline bytes are copied with the row.
		default:
			err = h.ownBytes(ctx, &o, src)
		}
		if err != nil {
			if isNotExist(err) {
				return apiErr(errNoSuchKey, "the copy source was replaced while copying; retry")
			}
			return err
		}
	}
	c, err := h.o.Meta.PutObject(req.cause(ctx, bucket.EventCopy), o)
	if errs.Is(err, errs.Conflict) && len(o.Blobs()) > 0 && slices.Equal(o.Blobs(), src.Blobs()) {
		// The bucket became versioned since it was read: the new version
		// needs bytes of its own.
		if cerr := h.ownBytes(ctx, &o, src); cerr != nil {
			return cerr
		}
		c, err = h.o.Meta.PutObject(req.cause(ctx, bucket.EventCopy), o)
	}
	if err != nil {
		if o.BlobID != "" && o.BlobID != src.BlobID {
			h.dropBlob(req, o.BlobID)
		}
		return err
	}
	h.committed(w, req, b, c)
	if src.VersionID != "" || sb.Versioning != "" {
		w.Header().Set("X-Amz-Copy-Source-Version-Id", versionName(src.VersionID))
	}
	setSSEHeaders(w, o.SSE)
	return writeXML(w, http.StatusOK, copyObjectResult{Xmlns: s3NS, LastModified: iso8601(o.Modified), ETag: quoted(o.ETag)})
}

// ownBytes gives o a copy of src's stored bytes in one blob of its own, so
// that deleting either object never touches the other's (copy_file_range
// makes it cheap on disk). A multipart source is read through its
// manifest; o keeps its part sizes and counter starts.
func (h *Handler) ownBytes(ctx context.Context, o *bucket.Object, src bucket.Object) error {
	nb, err := h.o.Blobs.Concat(ctx, src.Blobs())
	if err != nil {
		return err
	}
	o.BlobID, o.Manifest = nb.ID, nil
	return nil
}

// reencrypt stores src's plaintext as o's new blob under the encryption
// dst asks for (a new data key, or none), setting o's blob, encryption and
// ETag.
func (h *Handler) reencrypt(ctx context.Context, o *bucket.Object, src bucket.Object, srcDEK []byte, dst sseParams) error {
	rd, err := h.open(ctx, src, srcDEK, 0, src.Size)
	if err != nil {
		return err
	}
	defer rd.Close()
	dek, sse, enc, err := h.newObjectEncryption(ctx, dst)
	if err != nil {
		return err
	}
	nb, err := h.o.Blobs.Put(ctx, rd, objectstore.PutOptions{Limit: src.Size, Encrypt: enc, InlineMax: InlineMax})
	if err != nil {
		return err
	}
	o.BlobID, o.Inline, o.Manifest, o.SSE = nb.ID, nb.Inline, nil, sse
	switch {
	case sse.Mode == bucket.EncryptCustomer:
		o.ETag = maskETag(dek, nb.MD5)
	case src.Parts == 0:
		o.ETag = hex.EncodeToString(nb.MD5)
	}
	return nil
}

// open reads length plaintext bytes of o from start, decrypting with dek
// when the object is encrypted.
func (h *Handler) open(ctx context.Context, o bucket.Object, dek []byte, start, length int64) (io.ReadCloser, error) {
	var rd io.ReadCloser
	var err error
	switch {
	case len(o.Manifest) > 0:
		rd, err = objectstore.OpenManifest(ctx, h.o.Blobs, o.Manifest, o.PartSizes, start, length)
	case o.BlobID == "":
		if start < 0 || length < 0 || start+length > int64(len(o.Inline)) {
			return nil, fmt.Errorf("s3: range %d+%d outside the %d inline bytes of %s", start, length, len(o.Inline), o.Key)
		}
		rd = io.NopCloser(bytes.NewReader(o.Inline[start : start+length]))
	default:
		rd, err = h.o.Blobs.Open(ctx, o.BlobID, start, length)
	}
	if err != nil || dek == nil {
		return rd, err
	}
	d, err := decrypt(rd, o, dek, start)
	if err != nil {
		rd.Close()
	}
	return d, err
}

// versionAt returns the object version a request's versionId names, or
// the current version without one (a missing current one is NotExist); a
// missing version or a delete marker is told only to readers.
func (h *Handler) versionAt(req *request, b bucket.Bucket) (bucket.Object, error) {
	version, err := versionParam(req.r)
	if err != nil {
		return bucket.Object{}, err
	}
	o, err := h.versionOf(req.r.Context(), b.ID, req.key, version)
	switch {
	case isNotExist(err) && version != nil:
		return o, h.toldTo(req, b, req.key, apiErr(errNoSuchVersion, "the specified version does not exist"))
	case err == nil && o.DeleteMarker:
		return o, h.toldTo(req, b, req.key, apiErr(errMethodNotAllowed, "the specified method is not allowed against a delete marker"))
	}
	return o, err
}

// versionParam is the version a request names with versionId, nil for
// the current one.
func versionParam(r *http.Request) (*string, error) {
	q := r.URL.Query()
	if !q.Has("versionId") {
		return nil, nil
	}
	vid, err := parseVersionID(q.Get("versionId"))
	return &vid, err
}

// versionChanged answers a change of one version's tags or ACL.
func versionChanged(err error, version *string) error {
	if isNotExist(err) && version != nil {
		return apiErr(errNoSuchVersion, "the specified version does not exist")
	}
	if isNotExist(err) {
		return apiErr(errNoSuchKey, "the specified key does not exist")
	}
	return err
}

func (h *Handler) getObjectTagging(w http.ResponseWriter, req *request) error {
	_, o, err := h.objectFor(req, "s3:GetObjectTagging")
	if err != nil {
		return err
	}
	if o == nil {
		return apiErr(errNoSuchKey, "the specified key does not exist")
	}
	t := tagging{Xmlns: s3NS, TagSet: []tag{}}
	for k, v := range o.Tags {
		t.TagSet = append(t.TagSet, tag{Key: k, Value: v})
	}
	// Stored as a map: answer in key order so the answer is stable.
	sort.Slice(t.TagSet, func(i, j int) bool { return t.TagSet[i].Key < t.TagSet[j].Key })
	return writeXML(w, http.StatusOK, t)
}

func (h *Handler) putObjectTagging(w http.ResponseWriter, req *request) error {
	b, err := h.loadBucket(req)
	if err != nil {
		return err
	}
	// The decision may depend on the tags the version has now; whether it
	// can take tags is the store's to say.
	var cur *bucket.Object
	if o, err := h.versionAt(req, b); err == nil {
		cur = &o
	}
	if err := h.authorize(req, b, "s3:PutObjectTagging", req.key, cur); err != nil {
		return err
	}
	var in tagging
	if err := req.readXML(&in); err != nil {
		return err
	}
	tags, err := in.tags()
	if err != nil {
		return err
	}
	version, err := versionParam(req.r)
	if err != nil {
		return err
	}
	if err := versionChanged(h.o.Meta.SetObjectTags(req.r.Context(), b.ID, req.key, version, tags), version); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) deleteObjectTagging(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:DeleteObjectTagging")
	if err != nil {
		return err
	}
	version, err := versionParam(req.r)
	if err != nil {
		return err
	}
	if err := versionChanged(h.o.Meta.SetObjectTags(req.r.Context(), b.ID, req.key, version, nil), version); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getObjectACL(w http.ResponseWriter, req *request) error {
	// The decision reads the object's own ACL (READ_ACP grants).
	b, o, err := h.objectFor(req, "s3:GetObjectAcl")
	if err != nil {
		return err
	}
	if o == nil {
		return apiErr(errNoSuchKey, "the specified key does not exist")
	}
	return writeXML(w, http.StatusOK, aclDocument(objectOwner(b, o.ACL), o.ACL))
}

func (h *Handler) putObjectACL(w http.ResponseWriter, req *request) error {
	b, err := h.loadBucket(req)
	if err != nil {
		return err
	}
	// The decision reads the version's own ACL (WRITE_ACP grants); whether
	// it can take one is the store's to say.
	var cur *bucket.Object
	if o, err := h.versionAt(req, b); err == nil {
		cur = &o
	}
	if err := h.authorize(req, b, "s3:PutObjectAcl", req.key, cur); err != nil {
		return err
	}
	// The object keeps its owner; grants to it are implied.
	owner := b.ProjectID
	if cur != nil {
		owner = objectOwner(b, cur.ACL)
	}
	acl, err := h.requestACL(req, owner)
	if err != nil {
		return err
	}
	if err := checkACL(b, req.r, acl, true); err != nil {
		return err
	}
	if owner != b.ProjectID {
		acl = bucket.OwnedACL(owner, bucket.Grants(acl))
	}
	version, err := versionParam(req.r)
	if err != nil {
		return err
	}
	if err := versionChanged(h.o.Meta.SetObjectACL(req.r.Context(), b.ID, req.key, version, acl), version); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
