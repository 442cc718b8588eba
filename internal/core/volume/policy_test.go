package volume

import (
	"slices"
	"testing"
	"time"
)

// TestRetain checks the retention rule on a month of backups taken every
// six hours: the newest keep_last, the newest of each of keep_daily days
// and of keep_weekly ISO weeks.
func TestRetain(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) // a Sunday
	var times []time.Time
	for i := range 4 * 30 {
		times = append(times, start.Add(time.Duration(i)*6*time.Hour))
	}
	kept := func(p BackupPolicy) []time.Time {
		var out []time.Time
		for i, k := range retain(times, p) {
			if k {
				out = append(out, times[i])
			}
		}
		return out
	}
	at := func(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }
	if got := kept(BackupPolicy{KeepLast: 3}); !slices.Equal(got, []time.Time{at(30, 6), at(30, 12), at(30, 18)}) {
		t.Errorf("keep_last 3: %v", got)
	}
	if got := kept(BackupPolicy{KeepLast: 1, KeepDaily: 3}); !slices.Equal(got, []time.Time{at(28, 18), at(29, 18), at(30, 18)}) {
		t.Errorf("keep_daily 3: %v", got)
	}
	// ISO weeks start on Monday: Nov 29 (Sun) ends one, Nov 22 the one before.
	if got := kept(BackupPolicy{KeepLast: 1, KeepWeekly: 3}); !slices.Equal(got, []time.Time{at(22, 18), at(29, 18), at(30, 18)}) {
		t.Errorf("keep_weekly 3: %v", got)
	}
	if got := kept(BackupPolicy{}); len(got) != 1 {
		t.Errorf("the newest backup always stays: %v", got)
	}
}
