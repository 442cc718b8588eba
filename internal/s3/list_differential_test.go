package s3_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/internal/core/bucket"
)

// listAlphabet makes keys that share prefixes and delimiters often, with
// the characters around which a successor is easy to get wrong: the last
// code point before the surrogates and the first after, the largest code
// point, and multi-byte ones.
var listAlphabet = []string{"a", "b", "/", "é", "\uD7FF", "\uE000", "\U0010FFFF", "~"}

// refPage is what a naive reference lists on one page: every key after
// marker under prefix, in byte order, rolled up into common prefixes.
type refPage struct {
	items     []string // keys, and common prefixes ending in the delimiter
	truncated bool
}

func refList(keys []string, prefix, delim, marker string, maxKeys int) refPage {
	var p refPage
	seen := map[string]bool{}
	for _, k := range keys { // sorted
		if k <= marker || !strings.HasPrefix(k, prefix) {
			continue
		}
		item := k
		if i := strings.Index(k[len(prefix):], delim); delim != "" && i >= 0 {
			item = k[:len(prefix)+i+len(delim)]
			if item <= marker || seen[item] {
				continue
			}
			seen[item] = true
		}
		if len(p.items) == maxKeys {
			p.truncated = true
			return p
		}
		p.items = append(p.items, item)
	}
	return p
}

// TestListDifferential pages random listings of random key sets, with
// prefixes, delimiters (multi-byte, repeated, ending in U+10FFFF), start
// points inside and outside common prefixes and small pages, through V1
// and V2, and compares every page with the naive reference: a seek that
// skips a key, or stops short of a common prefix's end, shows here.
func TestListDifferential(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) { listDifferential(t, newEnvOn(t, b)) })
	}
}

func listDifferential(t *testing.T, e *env) {
	ctx := context.Background()
	c := awsFor(e, e.a)
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(min, max int) string {
		var b strings.Builder
		for range min + rng.IntN(max-min+1) {
			b.WriteString(listAlphabet[rng.IntN(len(listAlphabet))])
		}
		return b.String()
	}
	delims := []string{"/", "a", "ab", "//", "é", "\uD7FF", "\U0010FFFF", "/\U0010FFFF", "\U0010FFFF\U0010FFFF", "\U0010FFFFa"}
	for round := range 2 {
		name := fmt.Sprintf("diff%d", round)
		mustCreate(t, c, name)
		set := map[string]bool{}
		for len(set) < 80 {
			set[word(1, 6)] = true
		}
		keys := make([]string, 0, len(set))
		for k := range set {
			mustPut(t, c, name, k, nil)
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b, err := e.store.BucketByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, delim := range delims {
			// The store returns one key per common prefix: the rest are
			// skipped, not read and dropped.
			rows, err := e.store.ListObjects(ctx, b.ID, bucket.ListQuery{Delimiter: delim, Limit: len(keys) + 1})
			if err != nil {
				t.Fatal(err)
			}
			if want := refList(keys, "", delim, "", len(keys)).items; len(rows) != len(want) {
				t.Errorf("delimiter %q: the store returned %d rows for %d keys and common prefixes", delim, len(rows), len(want))
			}
		}
		// Delimiters that are not UTF-8 (a continuation byte, a byte no
		// UTF-8 has) or hold NUL are refused on both engines.
		for _, delim := range []string{"\xa9", "\xff", "a\x00"} {
			_, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(name), Delimiter: aws.String(delim)})
			if errCode(err) != "InvalidArgument" {
				t.Errorf("delimiter %q: %v, want InvalidArgument", delim, err)
			}
		}
		for range 60 {
			prefix, delim, marker := "", delims[rng.IntN(len(delims))], ""
			if rng.IntN(2) == 0 {
				delim = word(1, 2)
			}
			if rng.IntN(3) == 0 {
				prefix = word(1, 2)
			}
			switch rng.IntN(3) {
			case 0: // a key, maybe inside a common prefix
				marker = keys[rng.IntN(len(keys))]
			case 1:
				marker = word(1, 4)
			}
			maxKeys := []int{1, 2, 3, 7, 1000}[rng.IntN(5)]
			what := fmt.Sprintf("%s prefix %q delimiter %q start %q max-keys %d", name, prefix, delim, marker, maxKeys)
			v2Pages(ctx, t, c, keys, name, prefix, delim, marker, maxKeys, what)
			v1Pages(ctx, t, c, keys, name, prefix, delim, marker, maxKeys, what)
		}
	}
}

func unescape(t *testing.T, s string) string {
	t.Helper()
	u, err := url.PathUnescape(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return u
}

func v2Pages(ctx context.Context, t *testing.T, c *awss3.Client, keys []string, b, prefix, delim, startAfter string, maxKeys int, what string) {
	t.Helper()
	marker := startAfter
	var token *string
	for page := 0; ; page++ {
		in := &awss3.ListObjectsV2Input{Bucket: aws.String(b), Prefix: aws.String(prefix), Delimiter: aws.String(delim),
			MaxKeys: aws.Int32(int32(maxKeys)), EncodingType: types.EncodingTypeUrl, ContinuationToken: token}
		if startAfter != "" {
			in.StartAfter = aws.String(startAfter)
		}
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			t.Fatalf("%s: V2 page %d: %v", what, page, err)
		}
		var got []string
		for _, o := range out.Contents {
			got = append(got, unescape(t, *o.Key))
		}
		for _, p := range out.CommonPrefixes {
			got = append(got, unescape(t, *p.Prefix))
		}
		sort.Strings(got)
		want := refList(keys, prefix, delim, marker, maxKeys)
		if !slices.Equal(got, want.items) || *out.IsTruncated != want.truncated || int(*out.KeyCount) != len(got) {
			t.Fatalf("%s: V2 page %d after %q: got %q truncated %v (KeyCount %d)\nwant %q truncated %v",
				what, page, marker, got, *out.IsTruncated, *out.KeyCount, want.items, want.truncated)
		}
		if !want.truncated {
			return
		}
		token, marker = out.NextContinuationToken, want.items[len(want.items)-1]
	}
}

func v1Pages(ctx context.Context, t *testing.T, c *awss3.Client, keys []string, b, prefix, delim, marker string, maxKeys int, what string) {
	t.Helper()
	for page := 0; ; page++ {
		out, err := c.ListObjects(ctx, &awss3.ListObjectsInput{Bucket: aws.String(b), Prefix: aws.String(prefix), Delimiter: aws.String(delim),
			MaxKeys: aws.Int32(int32(maxKeys)), EncodingType: types.EncodingTypeUrl, Marker: aws.String(marker)})
		if err != nil {
			t.Fatalf("%s: V1 page %d: %v", what, page, err)
		}
		var got []string
		for _, o := range out.Contents {
			got = append(got, unescape(t, *o.Key))
		}
		for _, p := range out.CommonPrefixes {
			got = append(got, unescape(t, *p.Prefix))
		}
		sort.Strings(got)
		want := refList(keys, prefix, delim, marker, maxKeys)
		if !slices.Equal(got, want.items) || *out.IsTruncated != want.truncated {
			t.Fatalf("%s: V1 page %d after %q: got %q truncated %v\nwant %q truncated %v",
				what, page, marker, got, *out.IsTruncated, want.items, want.truncated)
		}
		if !want.truncated {
			return
		}
		next := unescape(t, aws.ToString(out.NextMarker))
		if last := want.items[len(want.items)-1]; next != last {
			t.Fatalf("%s: V1 page %d: NextMarker %q, want %q", what, page, next, last)
		}
		marker = next
	}
}

// refVersion is one row of a versioned reference listing.
type refVersion struct {
	key            string
	latest, marker bool
}

func (v refVersion) String() string {
	return fmt.Sprintf("%s latest=%v marker=%v", v.key, v.latest, v.marker)
}

// TestListVersionsDifferential does what TestListDifferential does for
// ListObjectVersions over keys with several versions and delete markers,
// paging with key and version-id markers.
func TestListVersionsDifferential(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) { listVersionsDifferential(t, newEnvOn(t, b)) })
	}
}

func listVersionsDifferential(t *testing.T, e *env) {
	ctx := context.Background()
	c := awsFor(e, e.a)
	rng := rand.New(rand.NewPCG(3, 4))
	mustCreate(t, c, "vdiff")
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String("vdiff"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	// history[k] is key k's versions oldest first; true is a delete marker.
	history := map[string][]bool{}
	for range 120 {
		var b strings.Builder
		for range 1 + rng.IntN(4) {
			b.WriteString(listAlphabet[rng.IntN(len(listAlphabet))])
		}
		k := b.String()
		if len(history[k]) > 0 && rng.IntN(3) == 0 {
			if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("vdiff"), Key: aws.String(k)}); err != nil {
				t.Fatal(err)
			}
			history[k] = append(history[k], true)
			continue
		}
		mustPut(t, c, "vdiff", k, nil)
		history[k] = append(history[k], false)
	}
	var rows []refVersion // in listing order: keys in byte order, newest first
	keys := make([]string, 0, len(history))
	for k := range history {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h := history[k]
		for i := len(h) - 1; i >= 0; i-- {
			rows = append(rows, refVersion{key: k, latest: i == len(h)-1, marker: h[i]})
		}
	}
	delims := []string{"/", "a", "ab", "é", "\uD7FF", "\U0010FFFF", "/\U0010FFFF"}
	for range 40 {
		delim, prefix, keyMarker := delims[rng.IntN(len(delims))], "", ""
		if rng.IntN(3) == 0 {
			prefix = listAlphabet[rng.IntN(len(listAlphabet))]
		}
		if rng.IntN(2) == 0 {
			keyMarker = keys[rng.IntN(len(keys))]
		}
		maxKeys := []int{1, 2, 3, 7, 1000}[rng.IntN(5)]
		what := fmt.Sprintf("prefix %q delimiter %q key-marker %q max-keys %d", prefix, delim, keyMarker, maxKeys)
		// pos is where the reference's next page starts in rows; marker is
		// what it starts after, for common prefixes.
		pos := sort.Search(len(rows), func(i int) bool { return rows[i].key > keyMarker })
		marker := keyMarker
		var versionMarker *string
		for page := 0; ; page++ {
			out, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("vdiff"), Prefix: aws.String(prefix),
				Delimiter: aws.String(delim), MaxKeys: aws.Int32(int32(maxKeys)), EncodingType: types.EncodingTypeUrl,
				KeyMarker: aws.String(marker), VersionIdMarker: versionMarker})
			if err != nil {
				t.Fatalf("%s: page %d: %v", what, page, err)
			}
			var got []string
			for _, v := range out.Versions {
				got = append(got, refVersion{unescape(t, *v.Key), *v.IsLatest, false}.String())
			}
			for _, v := range out.DeleteMarkers {
				got = append(got, refVersion{unescape(t, *v.Key), *v.IsLatest, true}.String())
			}
			for _, p := range out.CommonPrefixes {
				got = append(got, unescape(t, *p.Prefix))
			}
			var want []string
			seen := map[string]bool{}
			truncated, last := false, ""
			for ; pos < len(rows); pos++ {
				r := rows[pos]
				if !strings.HasPrefix(r.key, prefix) {
					continue
				}
				item := r.String()
				cp := ""
				if i := strings.Index(r.key[len(prefix):], delim); i >= 0 {
					cp = r.key[:len(prefix)+i+len(delim)]
					if cp <= marker || seen[cp] {
						continue
					}
					item = cp
				}
				if len(want) == maxKeys {
					truncated = true
					break
				}
				want = append(want, item)
				if cp != "" {
					seen[cp], last = true, cp
				} else {
					last = r.key
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) || *out.IsTruncated != truncated {
				t.Fatalf("%s: page %d after %q: got %q truncated %v\nwant %q truncated %v", what, page, marker, got, *out.IsTruncated, want, truncated)
			}
			if !truncated {
				break
			}
			if next := unescape(t, aws.ToString(out.NextKeyMarker)); next != last {
				t.Fatalf("%s: page %d: NextKeyMarker %q, want %q", what, page, next, last)
			}
			marker, versionMarker = last, out.NextVersionIdMarker
		}
	}
}
