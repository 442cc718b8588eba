package sigv4

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Credentials is what a request claims about who signed it and how: parsed
// from the Authorization header or from presigned query parameters, before
// anything is verified.
type Credentials struct {
	AccessKey     string
	Scope         Scope
	SignedHeaders []string // lower case, in the order they were signed
	Signature     string   // lower-case hex
	// Presigned requests carry their time and validity in the query.
	Presigned bool
	Time      time.Time     // X-Amz-Date of a presigned request
	Expires   time.Duration // X-Amz-Expires of a presigned request
}

// maxAuthLen bounds the header we are willing to parse; real ones are a few
// hundred bytes, and a fuzzer (or attacker) should not make us allocate more.
const maxAuthLen = 16 << 10

// ParseAuthorization parses an Authorization header value of the form
//
//	AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,
//	SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// Spaces around the commas are optional and the three fields may come in any
// order, as clients differ.
func ParseAuthorization(v string) (Credentials, error) {
	var c Credentials
	if len(v) > maxAuthLen {
		return c, errorf(CodeHeaderMalformed, "the authorization header is too long")
	}
	algo, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || algo != Algorithm {
		return c, errorf(CodeHeaderMalformed, "the authorization header must start with %s", Algorithm)
	}
	var cred, signed, sig string
	var nCred, nSigned, nSig int
	for field := range strings.SplitSeq(rest, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		k, val, ok := strings.Cut(field, "=")
		if !ok {
			return c, errorf(CodeHeaderMalformed, "malformed authorization field %q", truncate(field))
		}
		switch strings.TrimSpace(k) {
		case "Credential":
			cred, nCred = val, nCred+1
		case "SignedHeaders":
			signed, nSigned = val, nSigned+1
		case "Signature":
			sig, nSig = val, nSig+1
		default:
			return c, errorf(CodeHeaderMalformed, "unknown authorization field %q", truncate(k))
		}
	}
	// A repeated field is ambiguous: refuse it rather than pick one.
	if nCred != 1 || nSigned != 1 || nSig != 1 {
		return c, errorf(CodeHeaderMalformed, "the authorization header needs exactly one Credential, SignedHeaders and Signature")
	}
	var err error
	if c.AccessKey, c.Scope, err = parseCredential(cred, CodeHeaderMalformed); err != nil {
		return c, err
	}
	if c.SignedHeaders, err = parseSignedHeaders(signed, CodeHeaderMalformed); err != nil {
		return c, err
	}
	if c.Signature, err = parseSignature(sig, CodeHeaderMalformed); err != nil {
		return c, err
	}
	return c, nil
}

// ParsePresigned parses the X-Amz-* query parameters of a presigned URL.
func ParsePresigned(q url.Values) (Credentials, error) {
	var c Credentials
	const code = CodeQueryMalformed
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if len(q[k]) != 1 {
			return c, errorf(code, "the presigned URL needs exactly one %s", k)
		}
	}
	if q.Get("X-Amz-Algorithm") != Algorithm {
		return c, errorf(code, "X-Amz-Algorithm must be %s", Algorithm)
	}
	var err error
	if c.AccessKey, c.Scope, err = parseCredential(q.Get("X-Amz-Credential"), code); err != nil {
		return c, err
	}
	if c.SignedHeaders, err = parseSignedHeaders(q.Get("X-Amz-SignedHeaders"), code); err != nil {
		return c, err
	}
	if c.Signature, err = parseSignature(q.Get("X-Amz-Signature"), code); err != nil {
		return c, err
	}
	if c.Time, err = time.Parse(TimeFormat, q.Get("X-Amz-Date")); err != nil {
		return c, errorf(code, "X-Amz-Date must be in ISO 8601 basic format")
	}
	secs, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || secs < 0 {
		return c, errorf(code, "X-Amz-Expires must be a non-negative integer")
	}
	if time.Duration(secs)*time.Second > MaxExpires {
		return c, errorf(code, "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds")
	}
	if c.Scope.Date != c.Time.Format(dateFormat) {
		return c, errorf(code, "the credential date does not match X-Amz-Date")
	}
	c.Expires = time.Duration(secs) * time.Second
	c.Presigned = true
	return c, nil
}

func parseCredential(v, code string) (string, Scope, error) {
	parts := strings.Split(strings.TrimSpace(v), "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != "aws4_request" {
		return "", Scope{}, errorf(code, "the credential must be <key>/<date>/<region>/<service>/aws4_request")
	}
	s := Scope{Date: parts[1], Region: parts[2], Service: parts[3]}
	if _, err := time.Parse(dateFormat, s.Date); err != nil || len(s.Date) != 8 {
		return "", Scope{}, errorf(code, "the credential date %q is not yyyymmdd", truncate(s.Date))
	}
	if s.Region == "" {
		return "", Scope{}, errorf(code, "the credential has no region")
	}
	if s.Service != "s3" {
		return "", Scope{}, errorf(code, "the credential service must be s3, not %q", truncate(s.Service))
	}
	return parts[0], s, nil
}

func parseSignedHeaders(v, code string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, errorf(code, "SignedHeaders is empty")
	}
	names := strings.Split(v, ";")
	for i, n := range names {
		if n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, " \t:") {
			return nil, errorf(code, "signed header %q is not a lower-case header name", truncate(n))
		}
		if i > 0 && names[i-1] >= n {
			return nil, errorf(code, "SignedHeaders must be sorted and unique")
		}
	}
	return names, nil
}

func parseSignature(v, code string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) != 64 {
		return "", errorf(code, "the signature must be 64 hex digits")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", errorf(code, "the signature must be lower-case hex")
		}
	}
	return v, nil
}

// truncate keeps echoed client input short in messages.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// ParseCredential reads "<key>/<yyyymmdd>/<region>/s3/aws4_request", as the
// x-amz-credential field of a browser POST form carries it.
func ParseCredential(v string) (accessKey string, s Scope, err error) {
	return parseCredential(v, CodeInvalidArgument)
}
