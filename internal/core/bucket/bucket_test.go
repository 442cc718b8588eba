package bucket

import (
	"sort"
	"strings"
	"testing"
)

func TestPrefixEnd(t *testing.T) {
	keys := []string{"a", "a/", "a/b", "a/\U0010FFFF", "a0", "ab", "é", "éa", "\ud7ff", "\ue000", "\U0010FFFF", "z"}
	sort.Strings(keys)
	for _, p := range []string{"a", "a/", "é", "\ud7ff", "a/\U0010FFFF", ""} {
		end, ok := PrefixEnd(p)
		for _, k := range keys {
			in := k >= p && (!ok || k < end)
			if in != strings.HasPrefix(k, p) {
				t.Errorf("prefix %q end %q: key %q in range = %v", p, end, k, in)
			}
		}
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"abc", "my-bucket.1", "a1b"} {
		if err := ValidName(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	for _, n := range []string{"ab", "ABC", "-abc", "abc-", "a..b", "192.168.1.1", strings.Repeat("a", 64), "a_b"} {
		if ValidName(n) == nil {
			t.Errorf("%s accepted", n)
		}
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"../x", "a//b", "/", "\t", strings.Repeat("k", MaxKeyLen)} {
		if err := ValidKey(k); err != nil {
			t.Errorf("%q: %v", k, err)
		}
	}
	// NUL is valid UTF-8 but PostgreSQL cannot store it: refused on both
	// engines alike.
	for _, k := range []string{"", "a\x00b", "\xff", strings.Repeat("k", MaxKeyLen+1)} {
		if ValidKey(k) == nil {
			t.Errorf("%q accepted", k)
		}
	}
}
