package s3

import (
	"mime"
	"strings"
	"unicode/utf8"
)

// User metadata values travel in HTTP headers, which carry no charset.
// S3 stores them decoded and returns a value with non-ASCII characters
// RFC 2047-encoded ("=?UTF-8?B?…?="), so that every client reads the same
// bytes back however its HTTP library decodes header octets (botocore
// sends UTF-8 but reads headers as ISO-8859-1; Go reads them raw).

// metaValueIn is a received metadata value as stored: RFC 2047 encoded
// words decoded, and octets that are not UTF-8 read as ISO-8859-1 (the
// charset HTTP gives obs-text), so that what is stored is always UTF-8.
func metaValueIn(v string) string {
	if strings.Contains(v, "=?") {
		var d mime.WordDecoder
		if dec, err := d.DecodeHeader(v); err == nil {
			v = dec
		}
	}
	if utf8.ValidString(v) {
		return v
	}
	r := make([]rune, 0, len(v))
	for i := 0; i < len(v); i++ {
		r = append(r, rune(v[i]))
	}
	return string(r)
}

// metaValueOut is a stored metadata value as sent: ASCII verbatim, any
// other value as RFC 2047 B-encoded UTF-8, as S3 answers.
func metaValueOut(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			return mime.BEncoding.Encode("UTF-8", v)
		}
	}
	return v
}
