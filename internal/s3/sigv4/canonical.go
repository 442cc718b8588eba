package sigv4

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Encode percent-encodes s the way SigV4 requires: every byte except the
// unreserved set A-Z a-z 0-9 - . _ ~ becomes %XX with upper-case hex; '/' is
// kept when keepSlash is set (paths) and encoded otherwise (query parts).
func Encode(s string, keepSlash bool) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexdig[c>>4])
			b.WriteByte(hexdig[c&15])
		}
	}
	return b.String()
}

// CanonicalURI returns the canonical form of a decoded request path. S3 is
// the one service that neither normalises the path nor double-encodes it, so
// "a//b" and "../x" are signed as they are.
func CanonicalURI(path string) string {
	if path == "" {
		return "/"
	}
	return Encode(path, true)
}

// CanonicalQuery returns the canonical query string of a raw query: every
// parameter decoded and re-encoded, sorted by name then value. Parameters
// named in skip (X-Amz-Signature for presigned requests) are left out.
func CanonicalQuery(rawQuery string, skip string) string {
	type kv struct{ k, v string }
	var pairs []kv
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			dk = k
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			dv = v
		}
		if skip != "" && dk == skip {
			continue
		}
		pairs = append(pairs, kv{Encode(dk, false), Encode(dv, false)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// trimAll trims a header value and collapses inner runs of spaces, as the
// canonical header form requires.
func trimAll(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	return strings.Join(strings.Fields(v), " ")
}

// HeaderValue returns the canonical value of one header of r. Go's server
// moves Host and Transfer-Encoding out of the header map (and may drop
// Content-Length), so those are read from the request fields.
func HeaderValue(r *http.Request, name string) (string, bool) {
	switch name {
	case "host":
		return r.Host, r.Host != ""
	case "content-length":
		if vs, ok := r.Header["Content-Length"]; ok {
			return trimAll(strings.Join(vs, ",")), true
		}
		if r.ContentLength >= 0 && (r.ContentLength > 0 || r.Body != nil && r.Body != http.NoBody) {
			return strconv.FormatInt(r.ContentLength, 10), true
		}
		return "", false
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return strings.Join(r.TransferEncoding, ","), true
		}
	}
	vs, ok := r.Header[http.CanonicalHeaderKey(name)]
	if !ok {
		// Non-canonical keys survive when a caller set the map directly.
		for k, v := range r.Header {
			if strings.EqualFold(k, name) {
				vs, ok = v, true
				break
			}
		}
	}
	if !ok {
		return "", false
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = trimAll(latin1(v))
	}
	return strings.Join(out, ","), true
}

// CanonicalHeaders renders the signed headers of r ("name:value\n" each, in
// the order given, which must be sorted). A signed header missing from the
// request is an error: the client claims to have signed something we cannot
// see.
func CanonicalHeaders(r *http.Request, signed []string) (string, error) {
	var b strings.Builder
	for _, name := range signed {
		v, ok := HeaderValue(r, name)
		if !ok {
			return "", errorf(CodeSignatureDoesNotMatch, "signed header %q is not in the request", name)
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// CanonicalRequest joins the parts of a canonical request.
func CanonicalRequest(method, uri, query, headers string, signed []string, payloadHash string) string {
	return method + "\n" + uri + "\n" + query + "\n" + headers + "\n" +
		strings.Join(signed, ";") + "\n" + payloadHash
}

// latin1 reads a header value that is not UTF-8 as ISO-8859-1, which is
// what HTTP/1.1 clients (Python's http.client among them) put on the wire
// for non-ASCII text they signed as UTF-8.
func latin1(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	rs := make([]rune, len(v))
	for i := 0; i < len(v); i++ {
		rs[i] = rune(v[i])
	}
	return string(rs)
}
