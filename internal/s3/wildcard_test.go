package s3

import (
	"strings"
	"testing"
	"time"
)

// wildcardReference is the textbook dynamic programme over (pattern
// prefix, value prefix): obviously right, quadratic in memory, and so only
// a reference for tests.
func wildcardReference(p, v string) bool {
	// m[j] says whether p[:i] matches v[:j], row by row over i.
	m := make([]bool, len(v)+1)
	m[0] = true
	for i := 0; i < len(p); i++ {
		next := make([]bool, len(v)+1)
		if p[i] == '*' {
			next[0] = m[0]
		}
		for j := 1; j <= len(v); j++ {
			switch p[i] {
			case '*':
				next[j] = m[j] || next[j-1]
			case '?':
				next[j] = m[j-1]
			default:
				next[j] = m[j-1] && p[i] == v[j-1]
			}
		}
		m = next
	}
	return m[len(v)]
}

// stepBound is the most comparisons wildcard may make for a pattern and
// value of these lengths: one pass over the value per pattern byte.
func stepBound(p, v string) int { return (len(p) + 1) * (len(v) + 1) }

func TestWildcard(t *testing.T) {
	cases := []struct {
		p, v string
		want bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything/at/all", true},
		{"?", "", false},
		{"?", "x", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/k", true},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b", false},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::bb/k", false},
		{"*a", "*ba", true}, // a '*' in the value is a plain byte
		{"*.example.com", "https://x.example.com", true},
		{"s3:Get*", "s3:GetObject", true},
		{"s3:Get*", "s3:PutObject", false},
		{"b/*a*a*a*a*b", "b/" + strings.Repeat("a", 150), false},
		{"b/*a*a*a*a*b", "b/" + strings.Repeat("a", 150) + "b", true},
	}
	for _, c := range cases {
		if got := wildcard(c.p, c.v); got != c.want {
			t.Errorf("wildcard(%q, %q) = %v, want %v", c.p, c.v, got, c.want)
		}
		if ref := wildcardReference(c.p, c.v); ref != c.want {
			t.Errorf("reference(%q, %q) = %v, want %v", c.p, c.v, ref, c.want)
		}
	}
}

// TestWildcardAdversarial times the patterns that made the recursive
// matcher exponential (issue 18: 12.5 s for a 150-byte key, no end for
// 1024 bytes) on a 1024-byte key, and bounds both the comparisons made and
// the time taken. The time bound is a ceiling five orders of magnitude
// above what the loop needs, there only to catch a return to backtracking.
func TestWildcardAdversarial(t *testing.T) {
	key := "arn:aws:s3:::b/" + strings.Repeat("a", 1024-len("arn:aws:s3:::b/"))
	for _, p := range []string{
		"arn:aws:s3:::b/*a*a*a*a*b",
		"arn:aws:s3:::b/" + strings.Repeat("*a", 64) + "*b",
		"arn:aws:s3:::b/" + strings.Repeat("*?", 200) + "*b",
		strings.Repeat("*", 500) + "b",
	} {
		const n = 200
		start := time.Now()
		for range n {
			if wildcard(p, key) {
				t.Fatalf("%q matched a key without its last byte", p)
			}
		}
		per := time.Since(start) / n
		if _, steps := wildcardSteps(p, key); steps > stepBound(p, key) {
			t.Errorf("%.40q: %d steps, bound %d", p, steps, stepBound(p, key))
		}
		t.Logf("%-45.45q on a %d-byte key: %v per match", p, len(key), per)
		if per > 100*time.Millisecond {
			t.Errorf("%.40q took %v per match", p, per)
		}
	}
}

// FuzzWildcard compares the matcher with the reference and bounds its work
// on every input: the comparisons it counts, and a wall-clock ceiling far
// above anything the bounded loop can need.
func FuzzWildcard(f *testing.F) {
	for _, s := range [][2]string{
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/k"},
		{"b/*a*a*a*a*b", "b/" + strings.Repeat("a", 150)},
		{"*?*?*", "ab"},
		{"a*b?c", "a-b-c"},
		{"**", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, v string) {
		if len(p) > 4096 || len(v) > 4096 {
			return // the reference is quadratic; policies and keys are bounded anyway
		}
		start := time.Now()
		got, steps := wildcardSteps(p, v)
		elapsed := time.Since(start)
		if want := wildcardReference(p, v); got != want {
			t.Fatalf("wildcard(%q, %q) = %v, reference says %v", p, v, got, want)
		}
		if steps > stepBound(p, v) {
			t.Fatalf("wildcard(%q, %q) made %d comparisons, bound %d", p, v, steps, stepBound(p, v))
		}
		if elapsed > time.Second {
			t.Fatalf("wildcard(%q, %q) took %v", p, v, elapsed)
		}
	})
}
