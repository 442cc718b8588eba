package s3

import (
	"encoding/xml"
	"testing"
)

// FuzzListXML holds the hand-written listing encoder to encoding/xml's
// output, byte for byte, for any keys, prefixes and tokens, including
// markup, control characters and invalid UTF-8.
func FuzzListXML(f *testing.F) {
	for _, s := range []string{"", "plain/key.txt", `a"b'c&d<e>f`, "tab\tnl\ncr\r", "\x00\x01\x7f", "bad\xff\xfeutf8", "\uFFFD", "ключ/日本/😀", "\U0010FFFF\uFFFE"} {
		f.Add(s, s+"/", int64(len(s)), len(s)%2 == 0)
	}
	f.Fuzz(func(t *testing.T, key, prefix string, size int64, flag bool) {
		n := len(key)
		r := listBucketResult{Xmlns: s3NS, Name: "bucket", Prefix: prefix, MaxKeys: n, Delimiter: key, IsTruncated: flag,
			Contents: []listEntry{
				{Key: key, LastModified: "2026-12-01T00:00:00.000Z", ETag: `"` + key + `"`, Size: size, StorageClass: "STANDARD"},
				{Key: prefix + key, ETag: `"x"`, Size: -size, StorageClass: key, Owner: &owner{ID: key, DisplayName: prefix}},
			},
			CommonPrefixes: []commonPrefix{{Prefix: prefix}, {Prefix: key}}}
		if flag {
			r.Marker, r.NextMarker, r.StartAfter, r.EncodingType = &key, prefix, key, "url"
			r.Token, r.NextToken, r.KeyCount = &prefix, key, &n
			r.Contents, r.CommonPrefixes = r.Contents[:1], nil
		}
		want, err := xml.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.appendXML(nil); string(got) != string(want) {
			t.Fatalf("appendXML\n got %q\nwant %q", got, want)
		}
	})
}
