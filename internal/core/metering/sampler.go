package metering

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"
)

// Options configure the service; zero values take the defaults.
type Options struct {
	// Interval between samples of levels (default 5 minutes). Usage is
	// exact whatever it is: it only bounds how late a level change that
	// the store does not timestamp is seen.
	Interval time.Duration
	// FlushInterval between flushes of the in-memory counters (default
	// 10 s): a crash loses at most the counts of this window.
	FlushInterval time.Duration
	// Retention is how long rows stay hourly before they fold into one row
	// per UTC day (default 35 days: a billing month and its corrections).
	Retention time.Duration
	// Currency of the plan prices (default EUR).
	Currency string
	Logger   *slog.Logger
	// Now is the clock (tests inject theirs); default time.Now.
	Now func() time.Time
}

// Service samples levels, flushes counters, folds old rows and reports.
type Service struct {
	store    Store
	measure  Measurer
	counters *Counters
	prices   Prices
	projects Projects
	o        Options
}

// NewService builds the service. measure may be nil (no data-plane levels).
func NewService(st Store, measure Measurer, counters *Counters, prices Prices, projects Projects, o Options) *Service {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Minute
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 10 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = 35 * 24 * time.Hour
	}
	if o.Currency == "" {
		o.Currency = "EUR"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if counters == nil {
		counters = NewCounters(0)
	}
	return &Service{store: st, measure: measure, counters: counters, prices: prices, projects: projects, o: o}
}

// Counters are the in-memory counters the data planes bump.
func (s *Service) Counters() *Counters { return s.counters }

// SampleStats says what one sample did.
type SampleStats struct {
	Resources int
	Rows      int
	// Skipped is set when the clock is behind the last sample: nothing is
	// recorded, so a clock stepped back never counts a span twice.
	Skipped bool
}

// Sample records, for every metered resource, the usage since the last
// sample at the level it was last seen at (or since its creation, for a
// new one), closes resources that ended at their end time, and opens the
// levels seen now. Each resource's part is written in one transaction
// (a few hundred resources share one): a crash before it commits loses
// nothing, the next sample covers the span.
func (s *Service) Sample(ctx context.Context, now time.Time) (SampleStats, error) {
	now = now.UTC().Truncate(time.Second)
	levels, clock, epoch, err := s.store.MeterState(ctx)
	if err != nil {
		return SampleStats{}, fmt.Errorf("sample: %w", err)
	}
	if !clock.IsZero() && !now.After(clock) {
		return SampleStats{Skipped: true}, nil
	}
	if epoch.IsZero() {
		epoch = now
	}
	res, err := s.store.MeterResources(ctx, clock)
	if err != nil {
		return SampleStats{}, fmt.Errorf("sample: %w", err)
	}
	ends, err := s.store.MeterEnds(ctx)
	if err != nil {
		return SampleStats{}, fmt.Errorf("sample: %w", err)
	}
	open := make(map[Key]Open, len(levels))
	for _, o := range levels {
		open[o.Key()] = o
	}
	t := Tick{At: now}
	// clamp bounds an end to (from, now].
	clamp := func(end, from time.Time) time.Time {
		end = end.UTC().Truncate(time.Second)
		if end.After(now) {
			return now
		}
		return later(end, from)
	}
	for i := range res {
		r := &res[i]
		if s.measure != nil && r.Ended.IsZero() {
			s.measure.Measure(ctx, r)
		}
		for _, comp := range sortedKeys(r.Levels) {
			v := r.Levels[comp]
			k := Key{r.Type, r.ID, comp}
			o, seen := open[k]
			delete(open, k)
			var read *Open
			if seen {
				read = &o
			} else {
				// First seen: it held this level since it was created
				// (or since metering began).
				o = Open{Ref: r.Ref, Component: comp, Level: v, At: later(r.Created.UTC().Truncate(time.Second), epoch)}
				if o.At.After(now) {
					o.At = now
				}
			}
			end := now
			if !r.Ended.IsZero() {
				// Being deleted: usage stops when the deletion was asked
				// for, and the level stays open there until the row goes.
				end, v = clamp(r.Ended, o.At), o.Level
			}
			if end.After(o.At) {
				t.Rows = append(t.Rows, Row{Ref: o.Ref, Component: comp, From: o.At, To: end, Level: o.Level})
			}
			t.Levels = append(t.Levels, Open{Ref: r.Ref, Component: comp, Level: v, At: end, Read: read})
		}
	}
	ended := map[[2]string]Ended{}
	for _, e := range ends {
		ended[[2]string{e.Type, e.ID}] = e
		t.Ends = append(t.Ends, e.Ref)
	}
	// Levels still open belong to resources whose rows are gone. With an
	// end record they held their level until it; without one their end
	// was already accounted (a deleted bucket) and nothing more is due.
	seen := map[[2]string]bool{}
	for _, k := range sortedOpen(open) {
		o := open[k]
		if e, ok := ended[[2]string{o.Type, o.ID}]; ok {
			if end := clamp(e.Ended, o.At); end.After(o.At) {
				t.Rows = append(t.Rows, Row{Ref: o.Ref, Component: o.Component, From: o.At, To: end, Level: o.Level})
			}
		}
		t.Closed = append(t.Closed, k)
		seen[[2]string{o.Type, o.ID}] = true
	}
	// A resource that lived and died between two samples was never seen
	// open; its end record carries its levels.
	for _, e := range ends {
		if seen[[2]string{e.Type, e.ID}] {
			continue
		}
		start := later(e.Created.UTC().Truncate(time.Second), epoch)
		end := clamp(e.Ended, start)
		if !end.After(start) {
			continue
		}
		for _, comp := range sortedKeys(e.Levels) {
			t.Rows = append(t.Rows, Row{Ref: e.Ref, Component: comp, From: start, To: end, Level: e.Levels[comp]})
		}
	}
	for _, part := range t.split(tickResources) {
		if err := s.store.ApplyMeterTick(ctx, part); err != nil {
			return SampleStats{}, fmt.Errorf("sample: %w", err)
		}
	}
	return SampleStats{Resources: len(res), Rows: len(t.Rows)}, nil
}

// tickResources is how many resources one transaction of a sample
// writes: on SQLite a transaction holds the only writer, which S3 commits
// wait for, so a sample of many resources is written in short ones.
const tickResources = 500

// split cuts a tick into ticks of at most n resources each. Everything of
// one resource (its rows, its levels, its end) stays in one tick, so a
// crash between two of them leaves each resource either sampled or not,
// and the next sample covers those that were not from their last level.
func (t Tick) split(n int) []Tick {
	batch := map[[2]string]int{}
	var out []Tick
	of := func(typ, id string) *Tick {
		k := [2]string{typ, id}
		i, ok := batch[k]
		if !ok {
			i = len(batch) / n
			batch[k] = i
		}
		for len(out) <= i {
			out = append(out, Tick{At: t.At})
		}
		return &out[i]
	}
	for _, r := range t.Rows {
		p := of(r.Type, r.ID)
		p.Rows = append(p.Rows, r)
	}
	for _, o := range t.Levels {
		p := of(o.Type, o.ID)
		p.Levels = append(p.Levels, o)
	}
	for _, k := range t.Closed {
		p := of(k.Type, k.ID)
		p.Closed = append(p.Closed, k)
	}
	for _, e := range t.Ends {
		p := of(e.Type, e.ID)
		p.Ends = append(p.Ends, e)
	}
	if len(out) == 0 {
		out = append(out, Tick{At: t.At}) // the clock still moves
	}
	return out
}

// Flush writes the counters gathered since the last flush.
func (s *Service) Flush(ctx context.Context, now time.Time) error {
	return s.counters.Flush(ctx, s.store, now)
}

// foldWindow is how far back a fold looks: folds run every hour and every
// day, so older rows were folded already (a node down longer leaves some
// unfolded, which costs rows, never usage).
const foldWindow = 7 * 24 * time.Hour

// Fold merges the rows of each finished hour into one row per hour (a
// level that changed at every sample makes one row an hour, not one per
// sample), and rows older than the retention into one row per UTC day.
func (s *Service) Fold(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC()
	hour := now.Add(-time.Hour).Truncate(time.Hour)
	n, err := s.store.FoldUsage(ctx, hour.Add(-foldWindow), hour, time.Hour)
	if err != nil {
		return 0, fmt.Errorf("fold usage into hours: %w", err)
	}
	day := now.Add(-s.o.Retention).Truncate(24 * time.Hour)
	m, err := s.store.FoldUsage(ctx, day.Add(-foldWindow), day, 24*time.Hour)
	if err != nil {
		return 0, fmt.Errorf("fold usage into days: %w", err)
	}
	return n + m, nil
}

// Run samples, flushes and folds on their intervals until ctx ends, then
// flushes the counters and samples once more so that a clean shutdown
// loses nothing.
func (s *Service) Run(ctx context.Context) {
	sample := time.NewTicker(s.o.Interval)
	defer sample.Stop()
	flush := time.NewTicker(s.o.FlushInterval)
	defer flush.Stop()
	var folded time.Time
	step := func(ctx context.Context, what string, f func(context.Context) error) {
		if err := f(ctx); err != nil {
			s.o.Logger.Warn("metering "+what+" failed", "err", err)
		}
	}
	doSample := func(ctx context.Context) error {
		now := s.o.Now()
		if _, err := s.Sample(ctx, now); err != nil {
			return err
		}
		if hour := now.UTC().Truncate(time.Hour); !hour.Equal(folded) {
			if _, err := s.Fold(ctx, now); err != nil {
				return err
			}
			folded = hour
		}
		return nil
	}
	doFlush := func(ctx context.Context) error { return s.Flush(ctx, s.o.Now()) }
	step(ctx, "sample", doSample)
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			step(final, "flush", doFlush)
			step(final, "sample", doSample)
			cancel()
			return
		case <-flush.C:
			step(ctx, "flush", doFlush)
		case <-sample.C:
			step(ctx, "sample", doSample)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedOpen(m map[Key]Open) []Key {
	out := make([]Key, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b Key) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.ID, b.ID), strings.Compare(a.Component, b.Component))
	})
	return out
}
