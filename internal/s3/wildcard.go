package s3

// wildcard matches v against pattern p, where '*' matches any run of bytes
// (also none) and '?' exactly one byte; every other byte matches itself.
// Bucket policies (actions, resources, condition values) and CORS rules
// (origins, headers) share it.
//
// It is the two-pointer greedy algorithm: a '*' first matches nothing, and
// on a mismatch only the most recent '*' takes one more byte. A later '*'
// makes every earlier choice final, because whatever an earlier '*' could
// still absorb, the later one can absorb as well. So no state is ever
// revisited and the work is at most len(p)·len(v) steps, against the
// exponential backtracking of the obvious recursion that a pattern such
// as "b/*a*a*a*a*b" turns into an unbounded wait on a long key (issue 18).
func wildcard(p, v string) bool {
	ok, _ := wildcardSteps(p, v)
	return ok
}

// wildcardSteps is wildcard that also counts the comparisons it made, so
// that tests can bound the work without a clock.
func wildcardSteps(p, v string) (ok bool, steps int) {
	pi, vi := 0, 0
	star, resume := -1, 0 // the last '*' seen in p, and where in v it resumes
	for vi < len(v) {
		steps++
		switch {
		case pi < len(p) && p[pi] == '*':
			star, resume = pi, vi
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == v[vi]):
			pi++
			vi++
		case star >= 0:
			resume++
			pi, vi = star+1, resume
		default:
			return false, steps
		}
	}
	for pi < len(p) && p[pi] == '*' {
		steps++
		pi++
	}
	return pi == len(p), steps
}

// matchAny reports whether v matches any of the patterns.
func matchAny(patterns []string, v string) bool {
	for _, p := range patterns {
		if wildcard(p, v) {
			return true
		}
	}
	return false
}
