package main

import (
	"fmt"
	"strings"
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

// compare runs each job against a and b, and any more targets, and prints
// a table row per job with a's IOPS over b's (and each further target's
// over b's), and each server's CPU per GiB moved when every one can be
// measured. The targets alternate so that background load on a shared box
// hits all alike; each one's best round counts.
func compare(a, b target, js []job, size string, runtime time.Duration, rounds int, more ...target) error {
	ts := append([]target{a, b}, more...)
	withCPU, perOp := true, true
	for _, t := range ts {
		withCPU = withCPU && t.cpu != nil
		perOp = perOp && t.perOp
	}
	head := fmt.Sprintf("%-20s %22s %22s %7s", "job", a.name, b.name, "ratio")
	for _, t := range more {
		head += fmt.Sprintf(" %22s %7s", t.name, "ratio")
	}
	switch {
	case withCPU:
		head += fmt.Sprintf(" %11s %11s", "CPU ms/GiB", "peer CPU")
	case perOp:
		head += fmt.Sprintf(" %11s %11s", "CPU µs/op", "peer µs/op")
	}
	if withCPU || perOp {
		head += strings.Repeat(fmt.Sprintf(" %11s", "its CPU"), len(more))
	}
	fmt.Println(head)
	// A volume never written reads as holes, which the pool answers
	// without touching its file while nbdkit reads its file: when -only
	// leaves out the sequential write that runs first, write every
	// target once before the jobs so that all of them read data.
	if len(js) > 0 && js[0].rw != "write" {
		for _, t := range ts {
			if _, err := fio(t.engine, job{"fill", "write", "1M", 8}, size, 0); err != nil {
				return fmt.Errorf("fill %s: %w", t.name, err)
			}
		}
	}
	// side is what one target did in all rounds of a job.
	type side struct {
		best   result
		cpu    time.Duration // the server's
		client time.Duration // perOp: all client CPU
		bytes  float64
		ios    float64
	}
	for _, j := range js {
		sides := make([]side, len(ts))
		for range rounds {
			for i, t := range ts {
				s := &sides[i]
				var t0 time.Duration
				if t.cpu != nil {
					t0 = t.cpu()
				}
				r, err := fio(t.engine, j, size, runtime)
				if err != nil {
					return fmt.Errorf("fio %s against %s: %w", j.name, t.name, err)
				}
				if t.cpu != nil {
					d := t.cpu() - t0
					s.cpu += d
					s.client += d
				}
				s.client += r.fioCPU
				s.ios += r.ios
				s.bytes += r.bytes
				if r.iops > s.best.iops {
					s.best = r
				}
			}
		}
		// b is every ratio's denominator: a's ratio follows b, each
		// further target's follows its own figures.
		ceiling := sides[1].best.iops
		row := func(s side) { fmt.Printf(" %9.0f IOPS %6.0f MiB/s", s.best.iops, s.best.mibs) }
		fmt.Printf("%-20s", j.name)
		row(sides[0])
		row(sides[1])
		fmt.Printf(" %7.2f", sides[0].best.iops/ceiling)
		for _, s := range sides[2:] {
			row(s)
			fmt.Printf(" %7.2f", s.best.iops/ceiling)
		}
		for _, s := range sides {
			switch {
			case withCPU:
				fmt.Printf(" %11.0f", perGiB(s.cpu, s.bytes))
			case perOp:
				fmt.Printf(" %11.1f", perIO(s.client, s.ios))
			}
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
