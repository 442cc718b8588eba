package s3

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

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

// probeRows is how many keys a delimiter listing reads in order before
// it decides how to read the rest: key by key when most of those were
// listed (a directory of files), or by the store's skip scan (a seek per
// entry, dearer than reading the next key) when common prefixes
// swallowed most of them.
const probeRows = 32

// list pages through the bucket in byte order starting after marker,
// grouping keys that contain delimiter after prefix into common prefixes.
// A page is one query, or with a delimiter at most three: a probe, then
// the rest by reading keys or by a skip scan, whichever the probe showed
// to be cheaper, and a skip scan for what a read found to be prefixes.
func (h *Handler) list(req *request, b bucket.Bucket, prefix, delimiter, marker string, maxKeys int) (listing, error) {
	var out listing
	if maxKeys == 0 {
		return out, nil
	}
	after, skip, probed := marker, false, false
	limit := maxKeys + 1 // one more than the page tells whether it is truncated
	if delimiter != "" {
		limit = min(limit, probeRows)
	}
	for {
		q := bucket.ListQuery{Prefix: prefix, After: after, Limit: limit}
		if skip {
			// The store skips each common prefix but the one after is in,
			// whose first key stands for it; so one more again.
			q.Delimiter, q.Limit = delimiter, q.Limit+1
		}
		rows, err := h.o.Meta.ListObjects(req.r.Context(), b.ID, q)
		if err != nil {
			return out, err
		}
		swallowed := 0
		for _, o := range rows {
			cp := commonPrefixOf(o.Key, prefix, delimiter)
			if cp != "" && (cp <= marker || cp == out.last) {
				// The marker is inside this prefix (it was returned on an
				// earlier page), or this page returned it already.
				swallowed++
				continue
			}
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
		if len(rows) < q.Limit {
			return out, nil
		}
		after = rows[len(rows)-1].Key
		// After the probe and one read, what is left is worth a skip scan.
		skip = skip || 2*swallowed > len(rows) || probed
		probed = true
		limit = maxKeys + 1 - len(out.objects) - len(out.prefixes)
	}
}

// commonPrefixOf is the common prefix key rolls up into: up to the first
// delimiter after prefix, "" when there is none (or no delimiter).
func commonPrefixOf(key, prefix, delimiter string) string {
	if delimiter == "" {
		return ""
	}
	if i := strings.Index(key[len(prefix):], delimiter); i >= 0 {
		return key[:len(prefix)+i+len(delimiter)]
	}
	return ""
}

// listParams reads the parameters common to both list versions.
func listParams(req *request) (prefix, delimiter string, maxKeys int, encode func(string) string, err error) {
	q := req.r.URL.Query()
	prefix, delimiter = q.Get("prefix"), q.Get("delimiter")
	if !utf8.ValidString(delimiter) || strings.IndexByte(delimiter, 0) >= 0 {
		// No key holds it whole (keys are UTF-8 without NUL), and finding
		// one by bytes inside a character is no listing: refused on both
		// engines alike, as PostgreSQL must.
		return "", "", 0, nil, apiErr(errInvalidArgument, "the delimiter must be UTF-8 without NUL characters")
	}
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
	return writeList(w, &res)
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
	return writeList(w, &res)
}

// writeList answers with a listing page. It writes what xml.Marshal
// would (TestListXMLMatchesEncodingXML holds it to that) without
// reflection: encoding a 1000-key page was a quarter of a listing's CPU.
func writeList(w http.ResponseWriter, r *listBucketResult) error {
	b := make([]byte, 0, 256+len(r.Contents)*256)
	b = append(b, xml.Header...)
	b = r.appendXML(b)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

func (r *listBucketResult) appendXML(b []byte) []byte {
	b = append(b, `<ListBucketResult xmlns="`...)
	b = appendEscaped(b, r.Xmlns)
	b = append(b, `">`...)
	b = appendElem(b, "Name", r.Name)
	b = appendElem(b, "Prefix", r.Prefix)
	if r.Marker != nil {
		b = appendElem(b, "Marker", *r.Marker)
	}
	if r.NextMarker != "" {
		b = appendElem(b, "NextMarker", r.NextMarker)
	}
	if r.StartAfter != "" {
		b = appendElem(b, "StartAfter", r.StartAfter)
	}
	if r.Token != nil {
		b = appendElem(b, "ContinuationToken", *r.Token)
	}
	if r.NextToken != "" {
		b = appendElem(b, "NextContinuationToken", r.NextToken)
	}
	if r.KeyCount != nil {
		b = appendElem(b, "KeyCount", strconv.Itoa(*r.KeyCount))
	}
	b = appendElem(b, "MaxKeys", strconv.Itoa(r.MaxKeys))
	if r.Delimiter != "" {
		b = appendElem(b, "Delimiter", r.Delimiter)
	}
	if r.EncodingType != "" {
		b = appendElem(b, "EncodingType", r.EncodingType)
	}
	b = appendElem(b, "IsTruncated", strconv.FormatBool(r.IsTruncated))
	for _, e := range r.Contents {
		b = append(b, "<Contents>"...)
		b = appendElem(b, "Key", e.Key)
		b = appendElem(b, "LastModified", e.LastModified)
		b = appendElem(b, "ETag", e.ETag)
		b = appendElem(b, "Size", strconv.FormatInt(e.Size, 10))
		b = appendElem(b, "StorageClass", e.StorageClass)
		if e.Owner != nil {
			b = append(b, "<Owner>"...)
			b = appendElem(b, "ID", e.Owner.ID)
			b = appendElem(b, "DisplayName", e.Owner.DisplayName)
			b = append(b, "</Owner>"...)
		}
		b = append(b, "</Contents>"...)
	}
	for _, p := range r.CommonPrefixes {
		b = append(b, "<CommonPrefixes>"...)
		b = appendElem(b, "Prefix", p.Prefix)
		b = append(b, "</CommonPrefixes>"...)
	}
	return append(b, "</ListBucketResult>"...)
}

func appendElem(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendEscaped(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendEscaped escapes text as encoding/xml does: the five markup
// characters, tab, newline and carriage return as references, and bytes
// that are not valid XML characters as U+FFFD.
func appendEscaped(b []byte, text string) []byte {
	last := 0
	for i := 0; i < len(text); {
		r, width := utf8.DecodeRuneInString(text[i:])
		var esc string
		switch r {
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if !validXMLChar(r) || (r == utf8.RuneError && width == 1) {
				esc = "\uFFFD"
				break
			}
			i += width
			continue
		}
		b = append(b, text[last:i]...)
		b = append(b, esc...)
		i += width
		last = i
	}
	return append(b, text[last:]...)
}

// validXMLChar is XML 1.0's Char production.
func validXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
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

type deleteMarkerEntry struct {
	Key          string `xml:"Key"`
	VersionID    string `xml:"VersionId"`
	IsLatest     bool   `xml:"IsLatest"`
	LastModified string `xml:"LastModified"`
	Owner        owner  `xml:"Owner"`
}

type listVersionsResult struct {
	XMLName             xml.Name            `xml:"ListVersionsResult"`
	Xmlns               string              `xml:"xmlns,attr"`
	Name                string              `xml:"Name"`
	Prefix              string              `xml:"Prefix"`
	KeyMarker           string              `xml:"KeyMarker"`
	VersionIDMarker     string              `xml:"VersionIdMarker"`
	NextKeyMarker       string              `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string              `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int                 `xml:"MaxKeys"`
	Delimiter           string              `xml:"Delimiter,omitempty"`
	EncodingType        string              `xml:"EncodingType,omitempty"`
	IsTruncated         bool                `xml:"IsTruncated"`
	Versions            []versionEntry      `xml:"Version"`
	DeleteMarkers       []deleteMarkerEntry `xml:"DeleteMarker"`
	CommonPrefixes      []commonPrefix      `xml:"CommonPrefixes"`
}

// versionPage is one page of ListObjectVersions: versions and delete
// markers in key order, newest first, and common prefixes.
type versionPage struct {
	versions  []bucket.Object
	latest    []bool
	prefixes  []string
	truncated bool
	// where the next page starts: after this key's version with this seq
	// ("" after all of a common prefix)
	lastKey, lastSeq, lastVersion string
}

// listVersions pages through every version of the bucket where q starts,
// grouping keys with delimiter after prefix into common prefixes, which
// the store returns as one row each, skipping the rest as list's does.
func (h *Handler) listVersions(req *request, b bucket.Bucket, delimiter string, q bucket.VersionQuery, maxKeys int) (versionPage, error) {
	var out versionPage
	if maxKeys == 0 {
		return out, nil
	}
	prefix, afterKey := q.Prefix, q.AfterKey
	prevKey := "" // a key whose newer versions an earlier page showed
	if q.AfterSeq != "" {
		prevKey = afterKey
	}
	// As in list: one more tells truncation, one more again stands in for
	// a first common prefix that the marker is inside.
	q.Delimiter, q.Limit = delimiter, maxKeys+1
	if delimiter != "" {
		q.Limit++
	}
	rows, err := h.o.Meta.ListVersions(req.r.Context(), b.ID, q)
	if err != nil {
		return out, err
	}
	for _, o := range rows {
		cp := commonPrefixOf(o.Key, prefix, delimiter)
		if cp != "" && cp <= afterKey {
			continue
		}
		if len(out.versions)+len(out.prefixes) == maxKeys {
			out.truncated = true
			return out, nil
		}
		if cp != "" {
			out.prefixes = append(out.prefixes, cp)
			out.lastKey, out.lastSeq, out.lastVersion = cp, "", ""
		} else {
			out.versions = append(out.versions, o)
			out.latest = append(out.latest, o.Key != prevKey)
			out.lastKey, out.lastSeq, out.lastVersion = o.Key, o.Seq, versionName(o.VersionID)
			prevKey = o.Key
		}
	}
	return out, nil
}

// listObjectVersions answers ListObjectVersions: every version and delete
// marker, current ones flagged IsLatest. key-marker alone resumes after
// every version of that key; with version-id-marker, after that version.
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
	keyMarker, versionMarker := q.Get("key-marker"), q.Get("version-id-marker")
	start := bucket.VersionQuery{Prefix: prefix, AfterKey: keyMarker}
	if versionMarker != "" {
		if keyMarker == "" {
			return apiErr(errInvalidArgument, "a version-id marker cannot be specified without a key marker")
		}
		vid, err := parseVersionID(versionMarker)
		if err != nil {
			return err
		}
		// A version id is its place in the key's history; the null
		// version's place is looked up. Clients delete what they list, so
		// a marker may be gone: a lost null version resumes at its key.
		start.AfterSeq = vid
		if vid == "" {
			v, err := h.o.Meta.GetObjectVersion(req.r.Context(), b.ID, keyMarker, "")
			switch {
			case isNotExist(err):
				start = bucket.VersionQuery{Prefix: prefix, From: keyMarker}
			case err != nil:
				return err
			default:
				// Without a seq it predates ordering: the key's oldest.
				start.AfterSeq = v.Seq
			}
		}
	}
	p, err := h.listVersions(req, b, delimiter, start, maxKeys)
	if err != nil {
		return err
	}
	res := listVersionsResult{Xmlns: s3NS, Name: b.Name, Prefix: encode(prefix), KeyMarker: encode(keyMarker),
		VersionIDMarker: versionMarker, MaxKeys: maxKeys, Delimiter: encode(delimiter), IsTruncated: p.truncated}
	if encode("a b") != "a b" {
		res.EncodingType = "url"
	}
	o := owner{ID: b.ProjectID, DisplayName: b.ProjectID}
	for i, v := range p.versions {
		if v.DeleteMarker {
			res.DeleteMarkers = append(res.DeleteMarkers, deleteMarkerEntry{Key: encode(v.Key), VersionID: versionName(v.VersionID),
				IsLatest: p.latest[i], LastModified: iso8601(v.Modified), Owner: o})
			continue
		}
		sc := "STANDARD"
		if c := v.Meta["X-Amz-Storage-Class"]; c != "" {
			sc = c
		}
		res.Versions = append(res.Versions, versionEntry{Key: encode(v.Key), VersionID: versionName(v.VersionID), IsLatest: p.latest[i],
			LastModified: iso8601(v.Modified), ETag: quoted(v.ETag), Size: v.Size, StorageClass: sc, Owner: o})
	}
	for _, cp := range p.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: encode(cp)})
	}
	if p.truncated {
		res.NextKeyMarker, res.NextVersionIDMarker = encode(p.lastKey), p.lastVersion
	}
	return writeXML(w, http.StatusOK, res)
}
