// Package bytesize owns how sizes are written for people and read from
// them: binary units (KiB, MiB, GiB …) in tables and messages, "10G" or
// "512MiB" on command lines. Answers meant for programs (JSON, XML) keep
// plain bytes; this package is only for text a person reads.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

// Format writes n bytes with a binary unit: "0 B", "512 B", "64 MiB",
// "1.5 GiB" (one decimal when the size is not a whole number of units).
func Format(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	sign, m := "", n
	if m < 0 {
		sign, m = "-", -m
	}
	div, exp := int64(unit), 0
	for q := m / unit; q >= unit; q /= unit {
		div *= unit
		exp++
	}
	v := float64(m) / float64(div)
	if m%div == 0 {
		return fmt.Sprintf("%s%d %ciB", sign, m/div, "KMGTPE"[exp])
	}
	return fmt.Sprintf("%s%.1f %ciB", sign, v, "KMGTPE"[exp])
}

// Parse reads a size as people write it: "10G", "512MiB", "1T" and "4k"
// are binary units; a bare number is bytes. The size must be positive.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a positive number with an optional K, M, G or T", s)
	}
	return n * mult, nil
}
