package s3

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/s3/sigv4"
)

type listEntry struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
	Owner        *owner `xml:"Owner,omitempty"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listBucketResult struct {
	XMLName        xml.Name       `xml:"ListBucketResult"`
	Xmlns          string         `xml:"xmlns,attr"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         *string        `xml:"Marker,omitempty"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	StartAfter     string         `xml:"StartAfter,omitempty"`
	Token          *string        `xml:"ContinuationToken"`
	NextToken      string         `xml:"NextContinuationToken,omitempty"`
	KeyCount       *int           `xml:"KeyCount,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	Contents       []listEntry    `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

// listing is one page of a listing: objects and common prefixes in key
// order, and the last item returned (the next page starts after it).
type listing struct {
	objects   []bucket.Object
	prefixes  []string
	truncated bool
	last      string
}

// list pages through the bucket in byte order starting after marker,
// grouping keys that contain delimiter after prefix into common prefixes.
// A common prefix is skipped in one query (From = its PrefixEnd), so a
// directory of a million keys costs one row, not a million.
func (h *Handler) list(req *request, b bucket.Bucket, prefix, delimiter, marker string, maxKeys int) (listing, error) {
	var out listing
	if maxKeys == 0 {
		return out, nil
	}
	q := bucket.ListQuery{Prefix: prefix, After: marker}
	for {
		q.Limit = min(maxKeys-len(out.objects)-len(out.prefixes)+1, 1001)
		rows, err := h.o.Meta.ListObjects(req.r.Context(), b.ID, q)
		if err != nil {
			return out, err
		}
		jumped := false
		for _, o := range rows {
			cp := ""
			if delimiter != "" {
				if i := strings.Index(o.Key[len(prefix):], delimiter); i >= 0 {
					cp = o.Key[:len(prefix)+i+len(delimiter)]
				}
			}
			if cp != "" && cp <= marker {
				// The marker is inside this prefix: the prefix was already
				// returned on an earlier page.
			} else {
				if len(out.objects)+len(out.prefixes) == maxKeys {
					out.truncated = true
					return out, nil
				}
				if cp != "" {
					out.prefixes = append(out.prefixes, cp)
					out.last = cp
				} else {
					out.objects = append(out.objects, o)
					out.last = o.Key
				}
			}
			if cp != "" {
				end, ok := bucket.PrefixEnd(cp)
				if !ok {
					return out, nil
				}
				q = bucket.ListQuery{Prefix: prefix, From: end}
				jumped = true
				break
			}
			q.After = o.Key
		}
		if !jumped && len(rows) < q.Limit {
			return out, nil
		}
	}
}

// listParams reads the parameters common to both list versions.
func listParams(req *request) (prefix, delimiter string, maxKeys int, encode func(string) string, err error) {
	q := req.r.URL.Query()
	prefix, delimiter = q.Get("prefix"), q.Get("delimiter")
	maxKeys = 1000
	if v := q.Get("max-keys"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			return "", "", 0, nil, apiErr(errInvalidArgument, "max-keys must be a non-negative integer")
		}
		maxKeys = min(n, 1000)
	}
	encode = func(s string) string { return s }
	switch et := q.Get("encoding-type"); et {
	case "":
	case "url":
		// As AWS: percent-encoding with %20 for space, '/' left as is.
		encode = func(s string) string { return sigv4.Encode(s, true) }
	default:
		return "", "", 0, nil, apiErr(errInvalidArgument, "invalid encoding method specified in request")
	}
	return prefix, delimiter, maxKeys, encode, nil
}

func (h *Handler) listResult(b bucket.Bucket, l listing, prefix, delimiter string, maxKeys int, encode func(string) string, fetchOwner bool) listBucketResult {
	res := listBucketResult{Xmlns: s3NS, Name: b.Name, Prefix: encode(prefix), MaxKeys: maxKeys,
		Delimiter: encode(delimiter), IsTruncated: l.truncated}
	if encode("a b") != "a b" {
		res.EncodingType = "url"
	}
	for _, o := range l.objects {
		e := listEntry{Key: encode(o.Key), LastModified: iso8601(o.Modified), ETag: quoted(o.ETag), Size: o.Size, StorageClass: "STANDARD"}
		if sc := o.Meta["X-Amz-Storage-Class"]; sc != "" {
			e.StorageClass = sc
		}
		if fetchOwner {
			e.Owner = &owner{ID: b.ProjectID, DisplayName: b.ProjectID}
		}
		res.Contents = append(res.Contents, e)
	}
	for _, p := range l.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: encode(p)})
	}
	return res
}

func (h *Handler) listObjectsV1(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, actList)
	if err != nil {
		return err
	}
	prefix, delimiter, maxKeys, encode, err := listParams(req)
	if err != nil {
		return err
	}
	marker := req.r.URL.Query().Get("marker")
	l, err := h.list(req, b, prefix, delimiter, marker, maxKeys)
	if err != nil {
		return err
	}
	res := h.listResult(b, l, prefix, delimiter, maxKeys, encode, true)
	res.Prefix = prefix // V1 never URL-encodes Prefix (clients do not decode it)
	m := encode(marker)
	res.Marker = &m
	if l.truncated && delimiter != "" {
		res.NextMarker = encode(l.last)
	}
	return writeXML(w, http.StatusOK, res)
}

func (h *Handler) listObjectsV2(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, actList)
	if err != nil {
		return err
	}
	prefix, delimiter, maxKeys, encode, err := listParams(req)
	if err != nil {
		return err
	}
	q := req.r.URL.Query()
	after := q.Get("start-after")
	token := q.Get("continuation-token")
	if token != "" {
		dec, derr := base64.RawURLEncoding.DecodeString(token)
		if derr != nil {
			return apiErr(errInvalidArgument, "the continuation token provided is incorrect")
		}
		after = string(dec)
	}
	l, err := h.list(req, b, prefix, delimiter, after, maxKeys)
	if err != nil {
		return err
	}
	res := h.listResult(b, l, prefix, delimiter, maxKeys, encode, q.Get("fetch-owner") == "true")
	res.StartAfter = encode(q.Get("start-after"))
	if q.Has("continuation-token") {
		res.Token = &token
	}
	n := len(l.objects) + len(l.prefixes)
	res.KeyCount = &n
	if l.truncated {
		res.NextToken = base64.RawURLEncoding.EncodeToString([]byte(l.last))
	}
	return writeXML(w, http.StatusOK, res)
}

type versionEntry struct {
	Key          string `xml:"Key"`
	VersionID    string `xml:"VersionId"`
	IsLatest     bool   `xml:"IsLatest"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
	Owner        owner  `xml:"Owner"`
}

type listVersionsResult struct {
	XMLName             xml.Name       `xml:"ListVersionsResult"`
	Xmlns               string         `xml:"xmlns,attr"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIDMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	Versions            []versionEntry `xml:"Version"`
	CommonPrefixes      []commonPrefix `xml:"CommonPrefixes"`
}

// listObjectVersions answers ListObjectVersions for unversioned buckets:
// every object is its own only version, "null", as S3 reports objects
// written while versioning was never enabled. Clients (and s3-tests'
// cleanup) use it to empty buckets.
func (h *Handler) listObjectVersions(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:ListBucketVersions")
	if err != nil {
		return err
	}
	prefix, delimiter, maxKeys, encode, err := listParams(req)
	if err != nil {
		return err
	}
	q := req.r.URL.Query()
	marker := q.Get("key-marker")
	l, err := h.list(req, b, prefix, delimiter, marker, maxKeys)
	if err != nil {
		return err
	}
	res := listVersionsResult{Xmlns: s3NS, Name: b.Name, Prefix: encode(prefix), KeyMarker: encode(marker),
		VersionIDMarker: q.Get("version-id-marker"), MaxKeys: maxKeys, Delimiter: encode(delimiter), IsTruncated: l.truncated}
	if encode("a b") != "a b" {
		res.EncodingType = "url"
	}
	o := owner{ID: b.ProjectID, DisplayName: b.ProjectID}
	for _, obj := range l.objects {
		res.Versions = append(res.Versions, versionEntry{Key: encode(obj.Key), VersionID: "null", IsLatest: true,
			LastModified: iso8601(obj.Modified), ETag: quoted(obj.ETag), Size: obj.Size, StorageClass: "STANDARD", Owner: o})
	}
	for _, p := range l.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: encode(p)})
	}
	if l.truncated {
		res.NextKeyMarker, res.NextVersionIDMarker = encode(l.last), "null"
	}
	return writeXML(w, http.StatusOK, res)
}
