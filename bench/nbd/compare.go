package main

import (
	"fmt"
	"time"
)

// target is one side of a comparison: fio's engine arguments for it and,
// where it can be read, the CPU time its server has used so far.
type target struct {
	name   string
	engine []string
	cpu    func() time.Duration // nil: not measured
	// perOp prints the client side's CPU per request: fio's own (its
	// engine's included) plus the server's when cpu measures one. For
	// librbd direct that is the whole client; through NBD it is fio's
	// NBD client and the server with its librbd.
	perOp bool
}

// compare runs each job against two targets and prints a table row per
// job with a's IOPS over b's, and each server's CPU per GiB moved when
// both can be measured. The targets alternate so that background load on
// a shared box hits both alike; each one's best round counts.
func compare(a, b target, js []job, size string, runtime time.Duration, rounds int) error {
	withCPU := a.cpu != nil && b.cpu != nil
	perOp := a.perOp && b.perOp
	switch {
	case withCPU:
		fmt.Printf("%-20s %22s %22s %7s %11s %11s\n", "job", a.name, b.name, "ratio", "CPU ms/GiB", "peer CPU")
	case perOp:
		fmt.Printf("%-20s %22s %22s %7s %11s %11s\n", "job", a.name, b.name, "ratio", "CPU µs/op", "peer µs/op")
	default:
		fmt.Printf("%-20s %22s %22s %7s\n", "job", a.name, b.name, "ratio")
	}
	// A volume never written reads as holes, which the pool answers
	// without touching its file while nbdkit reads its file: when -only
	// leaves out the sequential write that runs first, write every
	// target once before the jobs so that both sides read data.
	if len(js) > 0 && js[0].rw != "write" {
		for _, t := range []target{a, b} {
			if _, err := fio(t.engine, job{"fill", "write", "1M", 8}, size, 0); err != nil {
				return fmt.Errorf("fill %s: %w", t.name, err)
			}
		}
	}
	for _, j := range js {
		var ra, rb result
		var aCPU, bCPU time.Duration
		var aBytes, bBytes float64
		var aClient, bClient time.Duration // perOp: all client CPU
		var aIOs, bIOs float64
		for range rounds {
			for _, side := range []struct {
				t      target
				best   *result
				cpu    *time.Duration
				bytes  *float64
				client *time.Duration
				ios    *float64
			}{{a, &ra, &aCPU, &aBytes, &aClient, &aIOs}, {b, &rb, &bCPU, &bBytes, &bClient, &bIOs}} {
				var t0 time.Duration
				if side.t.cpu != nil {
					t0 = side.t.cpu()
				}
				r, err := fio(side.t.engine, j, size, runtime)
				if err != nil {
					return fmt.Errorf("fio %s against %s: %w", j.name, side.t.name, err)
				}
				if side.t.cpu != nil {
					d := side.t.cpu() - t0
					*side.cpu += d
					*side.client += d
				}
				*side.client += r.fioCPU
				*side.ios += r.ios
				*side.bytes += r.bytes
				if r.iops > side.best.iops {
					*side.best = r
				}
			}
		}
		fmt.Printf("%-20s %9.0f IOPS %6.0f MiB/s %9.0f IOPS %6.0f MiB/s %7.2f", j.name, ra.iops, ra.mibs, rb.iops, rb.mibs, ra.iops/rb.iops)
		switch {
		case withCPU:
			fmt.Printf(" %11.0f %11.0f", perGiB(aCPU, aBytes), perGiB(bCPU, bBytes))
		case perOp:
			fmt.Printf(" %11.1f %11.1f", perIO(aClient, aIOs), perIO(bClient, bIOs))
		}
		fmt.Println()
	}
	return nil
}

// perIO is CPU time per request in microseconds.
func perIO(cpu time.Duration, ios float64) float64 {
	if ios == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / ios
}
