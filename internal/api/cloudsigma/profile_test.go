package cloudsigma

import (
	"testing"
	"time"
)

func TestCloneName(t *testing.T) {
	now := time.Date(2014, 6, 5, 9, 45, 56, 0, time.UTC)
	for _, c := range []struct{ name, naming, want string }{
		{"test_drive_x", "NONE", "test_drive_x"},
		{"test_drive_x", "COUNTER", "test_drive_x_1"},
		{"test_drive_x_9", "COUNTER", "test_drive_x_10"},
		{"test_drive_x", "DATE", "test_drive_x-2014-06-05"},
		{"test_drive_x-2013-01-01", "DATE", "test_drive_x-2014-06-05"},
		{"test_drive_x-2014-06-05", "DATE", "test_drive_x-2014-06-05_1"},
		{"test_drive_x", "TIMESTAMP", "test_drive_x-2014-06-05 09:45:56"},
		{"test_drive_x-2014-06-05 09:45:55", "TIMESTAMP", "test_drive_x-2014-06-05 09:45:56"},
		{"test_drive_x-2014-06-05 09:45:56", "TIMESTAMP", "test_drive_x-2014-06-05 09:45:56_1"},
	} {
		if got := cloneName(c.name, c.naming, now); got != c.want {
			t.Errorf("cloneName(%q, %s) = %q, want %q", c.name, c.naming, got, c.want)
		}
	}
}
