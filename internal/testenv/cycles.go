package testenv

import (
	"os"
	"strconv"
	"testing"
)

// Cycles is how many kill cycles a crash suite runs: the number in the
// environment variable env when set, soak under STOWAGE_SOAK=1 (make
// soak), else def (make test).
func Cycles(t testing.TB, env string, def, soak int) int {
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", env, v)
		}
		return n
	}
	if os.Getenv("STOWAGE_SOAK") != "" {
		return soak
	}
	return def
}
