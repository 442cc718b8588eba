package main

import (
	"fmt"
	"time"
)

// compare runs each job against two targets (fio engine arguments) and prints a table row per
// job with a's IOPS over b's. The targets alternate so that background
// load on a shared box hits both alike; each one's best round counts.
func compare(aName string, aEngine []string, bName string, bEngine []string, js []job, size string, runtime time.Duration, rounds int) error {
	fmt.Printf("%-20s %22s %22s %7s\n", "job", aName, bName, "ratio")
	for _, j := range js {
		var a, b result
		for range rounds {
			r, err := fio(aEngine, j, size, runtime)
			if err != nil {
				return fmt.Errorf("fio %s against %s: %w", j.name, aName, err)
			}
			if r.iops > a.iops {
				a = r
			}
			if r, err = fio(bEngine, j, size, runtime); err != nil {
				return fmt.Errorf("fio %s against %s: %w", j.name, bName, err)
			}
			if r.iops > b.iops {
				b = r
			}
		}
		fmt.Printf("%-20s %9.0f IOPS %6.0f MiB/s %9.0f IOPS %6.0f MiB/s %7.2f\n", j.name, a.iops, a.mibs, b.iops, b.mibs, a.iops/b.iops)
	}
	return nil
}
