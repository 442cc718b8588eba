package s3

import (
	"crypto/cipher"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/objectstore"
)

// MinPartSize is the smallest part S3 accepts except for the last one.
const MinPartSize = 5 << 20

const maxParts = 10000

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

type completeRequest struct {
	Parts []completePart `xml:"Part"`
}

type completePart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
	checksumXML
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	checksumXML
}

type partEntry struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
}

type listPartsResult struct {
	XMLName              xml.Name    `xml:"ListPartsResult"`
	Xmlns                string      `xml:"xmlns,attr"`
	Bucket               string      `xml:"Bucket"`
	Key                  string      `xml:"Key"`
	UploadID             string      `xml:"UploadId"`
	Initiator            owner       `xml:"Initiator"`
	Owner                owner       `xml:"Owner"`
	StorageClass         string      `xml:"StorageClass"`
	PartNumberMarker     int         `xml:"PartNumberMarker"`
	NextPartNumberMarker int         `xml:"NextPartNumberMarker"`
	MaxParts             int         `xml:"MaxParts"`
	IsTruncated          bool        `xml:"IsTruncated"`
	Parts                []partEntry `xml:"Part"`
}

type uploadEntry struct {
	Key          string `xml:"Key"`
	UploadID     string `xml:"UploadId"`
	Initiator    owner  `xml:"Initiator"`
	Owner        owner  `xml:"Owner"`
	StorageClass string `xml:"StorageClass"`
	Initiated    string `xml:"Initiated"`
}

type listUploadsResult struct {
	XMLName            xml.Name      `xml:"ListMultipartUploadsResult"`
	Xmlns              string        `xml:"xmlns,attr"`
	Bucket             string        `xml:"Bucket"`
	KeyMarker          string        `xml:"KeyMarker"`
	UploadIDMarker     string        `xml:"UploadIdMarker"`
	NextKeyMarker      string        `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string        `xml:"NextUploadIdMarker,omitempty"`
	Prefix             string        `xml:"Prefix"`
	MaxUploads         int           `xml:"MaxUploads"`
	IsTruncated        bool          `xml:"IsTruncated"`
	Uploads            []uploadEntry `xml:"Upload"`
}

func (h *Handler) createUpload(w http.ResponseWriter, req *request) error {
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
	sp, err := writeSSE(req.r, b, req.project, req.key)
	if err != nil {
		return err
	}
	_, sse, err := h.newDataKey(req.r.Context(), sp)
	if err != nil {
		return err
	}
	lock, err := writeLock(req.r, b, h.o.Now())
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	declared, err := declareChecksum(req.r.Header)
	if err != nil {
		return err
	}
	u := bucket.Upload{ID: id.String(), BucketID: b.ID, Key: req.key, Meta: meta, Tags: tags, ACL: acl,
		Checksum: declared, SSE: sse, Lock: lock, Initiated: h.o.Now().UTC()}
	if err := h.o.Meta.CreateUpload(req.r.Context(), u); err != nil {
		return err
	}
	setSSEHeaders(w, sse)
	if algo, typ := uploadChecksum(u.Checksum); algo != "" {
		w.Header().Set("X-Amz-Checksum-Algorithm", algo)
		w.Header().Set("X-Amz-Checksum-Type", typ)
	}
	return writeXML(w, http.StatusOK, initiateResult{Xmlns: s3NS, Bucket: b.Name, Key: req.key, UploadID: u.ID})
}

// upload loads the upload named by ?uploadId and checks it is for this key.
func (h *Handler) upload(req *request, b bucket.Bucket) (bucket.Upload, error) {
	id := req.r.URL.Query().Get("uploadId")
	u, err := h.o.Meta.GetUpload(req.r.Context(), b.ID, id)
	if isNotExist(err) || err == nil && u.Key != req.key {
		return u, apiErr(errNoSuchUpload, "the specified multipart upload does not exist")
	}
	return u, err
}

func partNumber(req *request) (int, error) {
	n, err := strconv.Atoi(req.r.URL.Query().Get("partNumber"))
	if err != nil || n < 1 || n > maxParts {
		return 0, apiErr(errInvalidArgument, "part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

func (h *Handler) uploadPart(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, actPutObject)
	if err != nil {
		return err
	}
	n, err := partNumber(req)
	if err != nil {
		return err
	}
	u, err := h.upload(req, b)
	if err != nil {
		return err
	}
	pe, err := h.partEncryption(req, u)
	if err != nil {
		return err
	}
	rc, err := h.receive(req, b, pe.enc, 0) // parts are a manifest's blobs, never inline
	if err != nil {
		return err
	}
	defer rc.release()
	return h.storePart(w, req, u, n, pe, rc.blob, rc.checksums, false)
}

// partEncrypter is how one part of an upload is encrypted: the upload's
// data key from a fresh counter start (all nil for plain uploads).
type partEncrypter struct {
	dek, iv []byte
	enc     cipher.Stream
}

// partEncryption checks the request against the upload's encryption (an
// SSE-C upload needs its key on every part) and prepares the part's.
func (h *Handler) partEncryption(req *request, u bucket.Upload) (partEncrypter, error) {
	sp, err := customerKey(req.r, "X-Amz-")
	if err != nil {
		return partEncrypter{}, err
	}
	dek, err := h.dataKey(req.r.Context(), req.project, u.SSE, sp)
	if err != nil || dek == nil {
		return partEncrypter{}, err
	}
	iv, err := newIV()
	if err != nil {
		return partEncrypter{}, err
	}
	enc, err := ctrAt(dek, iv, 0)
	return partEncrypter{dek: dek, iv: iv, enc: enc}, err
}

func (h *Handler) storePart(w http.ResponseWriter, req *request, u bucket.Upload, n int, pe partEncrypter, blob objectstore.Blob, sums map[string]string, copied bool) error {
	p := bucket.Part{UploadID: u.ID, Number: n, BlobID: blob.ID, Size: blob.Size, ETag: etagOf(u.SSE, pe.dek, blob.MD5),
		Checksums: sums, IV: pe.iv, Modified: h.o.Now().UTC()}
	replaced, err := h.o.Meta.PutPart(req.r.Context(), p)
	if err != nil {
		h.dropBlob(req, blob.ID)
		if isNotExist(err) {
			return apiErr(errNoSuchUpload, "the specified multipart upload does not exist")
		}
		return err
	}
	h.dropBlob(req, replaced)
	setSSEHeaders(w, u.SSE)
	if copied {
		return writeXML(w, http.StatusOK, copyPartResult{Xmlns: s3NS, LastModified: iso8601(p.Modified), ETag: quoted(p.ETag)})
	}
	w.Header().Set("ETag", quoted(p.ETag))
	setChecksumHeaders(w, sums)
	w.WriteHeader(http.StatusOK)
	return nil
}

// uploadPartCopy stores a range of an existing object as a part. The range
// is streamed from the source blob into a new one, hashed on the way.
func (h *Handler) uploadPartCopy(w http.ResponseWriter, req *request) error {
	ctx := req.r.Context()
	b, err := h.bucketFor(req, actPutObject)
	if err != nil {
		return err
	}
	n, err := partNumber(req)
	if err != nil {
		return err
	}
	u, err := h.upload(req, b)
	if err != nil {
		return err
	}
	from, err := h.sourceObject(req)
	if err != nil {
		return err
	}
	pe, err := h.partEncryption(req, u)
	if err != nil {
		return err
	}
	start, length := int64(0), from.o.Size
	if v := req.r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		if start, length, err = copySourceRange(v, from.o.Size); err != nil {
			return err
		}
	}
	if length > MaxPutSize {
		return apiErr(errInvalidRequest, "the specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
	}
	release := func() {}
	if h.o.Quota != nil {
		if release, err = h.o.Quota.Reserve(ctx, b.ProjectID, b, length); err != nil {
			return toQuotaErr(err)
		}
	}
	defer release()
	rd, err := h.open(ctx, from.o, from.dek, start, length)
	if err != nil {
		if isNotExist(err) {
			return apiErr(errNoSuchKey, "the copy source was replaced while copying; retry")
		}
		return err
	}
	blob, err := h.o.Blobs.Put(ctx, rd, objectstore.PutOptions{Limit: length, Encrypt: pe.enc})
	rd.Close()
	if err != nil {
		return err
	}
	return h.storePart(w, req, u, n, pe, blob, nil, true)
}

// copySourceRange reads x-amz-copy-source-range, which unlike Range names
// both ends and must lie within the source: S3 answers InvalidRange for a
// range past its end rather than copying less than was asked.
func copySourceRange(v string, size int64) (start, length int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	a, b, found := strings.Cut(spec, "-")
	first, ferr := strconv.ParseInt(a, 10, 64)
	last, lerr := strconv.ParseInt(b, 10, 64)
	if !ok || !found || ferr != nil || lerr != nil || first < 0 || last < first {
		return 0, 0, apiErr(errInvalidArgument, "the x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	}
	if last >= size {
		return 0, 0, apiErr(errInvalidRange, "the requested range is not satisfiable: the copy source is %d bytes", size)
	}
	return first, last - first + 1, nil
}

func (h *Handler) completeUpload(w http.ResponseWriter, req *request) error {
	ctx := req.r.Context()
	b, err := h.bucketFor(req, actPutObject)
	if err != nil {
		return err
	}
	u, uerr := h.upload(req, b)
	if uerr != nil && !isAPICode(uerr, errNoSuchUpload) {
		return uerr
	}
	var in completeRequest
	if err := req.readXML(&in); err != nil {
		return err
	}
	if len(in.Parts) == 0 {
		return apiErr(errMalformedXML, "you must specify at least one part")
	}
	if len(in.Parts) > maxParts {
		return apiErr(errInvalidArgument, "at most 10000 parts")
	}
	in.Parts = lastOfEachPart(in.Parts)
	if uerr != nil {
		return h.recomplete(w, req, b, in, uerr)
	}
	// A customer key given to Complete must be the upload's. S3's
	// reference leaves it optional, and clients (the Go SDK's uploader,
	// older boto3) complete without it, so none is not an error.
	if sp, err := customerKey(req.r, "X-Amz-"); err != nil {
		return err
	} else if sp.mode != "" {
		if _, err := h.dataKey(ctx, req.project, u.SSE, sp); err != nil {
			return err
		}
	}
	have := map[int]bucket.Part{}
	after := 0
	for {
		ps, err := h.o.Meta.ListParts(ctx, u.ID, after, 1000)
		if err != nil {
			return err
		}
		for _, p := range ps {
			have[p.Number] = p
			after = p.Number
		}
		if len(ps) < 1000 {
			break
		}
	}
	ids := make([]string, 0, len(in.Parts))
	sizes := make([]int64, 0, len(in.Parts))
	sse := u.SSE
	sum := md5.New()
	var size int64
	prev := 0
	used := make([]bucket.Part, 0, len(in.Parts))
	for i, cp := range in.Parts {
		if cp.PartNumber <= prev {
			return apiErr(errInvalidPartOrder, "the list of parts was not in ascending order; parts must be ordered by part number")
		}
		prev = cp.PartNumber
		p, ok := have[cp.PartNumber]
		if !ok || strings.Trim(cp.ETag, `" `) != p.ETag {
			return apiErr(errInvalidPart, "one or more of the specified parts could not be found; the part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag")
		}
		if i < len(in.Parts)-1 && p.Size < MinPartSize {
			return apiErr(errEntityTooSmall, "your proposed upload is smaller than the minimum allowed object size")
		}
		raw, err := hex.DecodeString(p.ETag)
		if err != nil {
			return fmt.Errorf("stored part etag %q: %w", p.ETag, err)
		}
		sum.Write(raw)
		size += p.Size
		used = append(used, p)
		ids = append(ids, p.BlobID)
		sizes = append(sizes, p.Size)
		if sse.Mode != "" {
			if p.IV == nil {
				return fmt.Errorf("part %d of encrypted upload %s has no counter start", p.Number, u.ID)
			}
			sse.IVs = append(sse.IVs, p.IV)
		}
	}
	sums, err := completeChecksums(req.r.Header, u.Checksum, in.Parts, used)
	if err != nil {
		return err
	}
	if err := h.conditionalWrite(req, b); err != nil {
		return err
	}
	// The parts stay where they were written: the object's manifest names
	// them, so completing costs a row per part, not a copy of the bytes.
	o := bucket.Object{BucketID: b.ID, Key: u.Key, Manifest: ids, Size: size,
		ETag: fmt.Sprintf("%s-%d", hex.EncodeToString(sum.Sum(nil)), len(in.Parts)),
		Meta: u.Meta, Checksums: sums, Tags: u.Tags, ACL: u.ACL, Parts: len(in.Parts), PartSizes: sizes, SSE: sse, Lock: u.Lock, Modified: h.o.Now().UTC()}
	c, partBlobs, err := h.o.Meta.CompleteUpload(req.cause(ctx, bucket.EventComplete), b.ID, u.ID, o)
	if err != nil {
		if isNotExist(err) {
			return apiErr(errNoSuchUpload, "the specified multipart upload does not exist")
		}
		return err
	}
	h.committed(w, req, b, c)
	for _, id := range partBlobs {
		h.dropBlob(req, id)
	}
	setSSEHeaders(w, sse)
	return writeXML(w, http.StatusOK, completeResult{Xmlns: s3NS, Location: "/" + b.Name + "/" + u.Key,
		Bucket: b.Name, Key: u.Key, ETag: quoted(o.ETag), checksumXML: checksumsXML(sums)})
}

func (h *Handler) abortUpload(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:AbortMultipartUpload")
	if err != nil {
		return err
	}
	u, err := h.upload(req, b)
	if err != nil {
		return err
	}
	blobs, err := h.o.Meta.AbortUpload(req.r.Context(), b.ID, u.ID)
	if isNotExist(err) {
		return apiErr(errNoSuchUpload, "the specified multipart upload does not exist")
	}
	if err != nil {
		return err
	}
	for _, id := range blobs {
		h.dropBlob(req, id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listParts(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:ListMultipartUploadParts")
	if err != nil {
		return err
	}
	u, err := h.upload(req, b)
	if err != nil {
		return err
	}
	q := req.r.URL.Query()
	maxP := 1000
	if v := q.Get("max-parts"); v != "" {
		if maxP, err = strconv.Atoi(v); err != nil || maxP < 0 {
			return apiErr(errInvalidArgument, "max-parts must be a non-negative integer")
		}
		maxP = min(maxP, 1000)
	}
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return apiErr(errInvalidArgument, "part-number-marker must be a non-negative integer")
		}
	}
	ps, err := h.o.Meta.ListParts(req.r.Context(), u.ID, marker, maxP+1)
	if err != nil {
		return err
	}
	res := listPartsResult{Xmlns: s3NS, Bucket: b.Name, Key: u.Key, UploadID: u.ID, StorageClass: "STANDARD",
		Initiator: uploadOwner(b, u), Owner: uploadOwner(b, u), PartNumberMarker: marker, MaxParts: maxP}
	if len(ps) > maxP {
		ps, res.IsTruncated = ps[:maxP], true
	}
	for _, p := range ps {
		res.Parts = append(res.Parts, partEntry{PartNumber: p.Number, LastModified: iso8601(p.Modified), ETag: quoted(p.ETag), Size: p.Size})
		res.NextPartNumberMarker = p.Number
	}
	return writeXML(w, http.StatusOK, res)
}

func (h *Handler) listUploads(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:ListBucketMultipartUploads")
	if err != nil {
		return err
	}
	q := req.r.URL.Query()
	maxU := 1000
	if v := q.Get("max-uploads"); v != "" {
		if maxU, err = strconv.Atoi(v); err != nil || maxU < 0 {
			return apiErr(errInvalidArgument, "max-uploads must be a non-negative integer")
		}
		maxU = min(maxU, 1000)
	}
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	if idMarker == "" && keyMarker != "" {
		idMarker = "\U0010FFFF" // no upload id: skip every upload of key-marker
	}
	us, err := h.o.Meta.ListUploads(req.r.Context(), b.ID, q.Get("prefix"), keyMarker, idMarker, maxU+1)
	if err != nil {
		return err
	}
	res := listUploadsResult{Xmlns: s3NS, Bucket: b.Name, KeyMarker: keyMarker, UploadIDMarker: q.Get("upload-id-marker"),
		Prefix: q.Get("prefix"), MaxUploads: maxU}
	if len(us) > maxU {
		us, res.IsTruncated = us[:maxU], true
	}
	sort.SliceStable(us, func(i, j int) bool { return us[i].Key < us[j].Key })
	for _, u := range us {
		o := uploadOwner(b, u)
		res.Uploads = append(res.Uploads, uploadEntry{Key: u.Key, UploadID: u.ID, Initiator: o, Owner: o,
			StorageClass: "STANDARD", Initiated: iso8601(u.Initiated)})
	}
	if res.IsTruncated && len(us) > 0 {
		res.NextKeyMarker, res.NextUploadIDMarker = us[len(us)-1].Key, us[len(us)-1].ID
	}
	return writeXML(w, http.StatusOK, res)
}

// uploadOwner is who will own the object an upload completes, shown as
// its owner and initiator (a project that writes into another's bucket
// owns what it writes, unless the bucket's ownership controls say
// otherwise).
func uploadOwner(b bucket.Bucket, u bucket.Upload) owner {
	id := objectOwner(b, u.ACL)
	return owner{ID: id, DisplayName: id}
}

func toQuotaErr(err error) error {
	if isQuota(err) {
		return &apiError{s3Code: errQuotaExceeded, Msg: "the storage quota of this project or service is exhausted", Err: err}
	}
	return err
}

// recomplete answers a retried CompleteMultipartUpload whose upload is
// already gone: if the object at the key is what these parts produced (its
// ETag is the MD5 of the listed part ETags), the completion succeeded
// earlier and is reported again; otherwise the upload does not exist.
func (h *Handler) recomplete(w http.ResponseWriter, req *request, b bucket.Bucket, in completeRequest, notFound error) error {
	sum := md5.New()
	for _, p := range in.Parts {
		raw, err := hex.DecodeString(strings.Trim(p.ETag, `" `))
		if err != nil {
			return notFound
		}
		sum.Write(raw)
	}
	etag := fmt.Sprintf("%s-%d", hex.EncodeToString(sum.Sum(nil)), len(in.Parts))
	o, err := h.o.Meta.GetObject(req.r.Context(), b.ID, req.key)
	if err != nil || o.ETag != etag {
		return notFound
	}
	return writeXML(w, http.StatusOK, completeResult{Xmlns: s3NS, Location: "/" + b.Name + "/" + o.Key,
		Bucket: b.Name, Key: o.Key, ETag: quoted(o.ETag), checksumXML: checksumsXML(o.Checksums)})
}
