package metering_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/testenv"
)

// env is a metering service over a real store, with the default tenant
// and catalog, and a clock the test moves.
type env struct {
	t       testing.TB
	ctx     context.Context
	st      *sqlstore.Store
	svc     *metering.Service
	p       identity.Principal
	project identity.Project
	market  *marketplace.Service
}

func newEnv(t testing.TB, dsn string) *env {
	t.Helper()
	ctx := context.Background()
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(t.TempDir(), "db.sqlite")
	}
	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	id, err := identity.NewService(st, identity.Options{JWTKey: key})
	if err != nil {
		t.Fatal(err)
	}
	res, err := id.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := id.AuthenticateToken(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	prs, err := id.ListProjects(ctx, p, identity.ProjectFilter{}, pageAll)
	if err != nil || len(prs.Items) != 1 {
		t.Fatalf("projects: %v %v", prs, err)
	}
	market := marketplace.NewService(st, id, nil)
	if err := market.EnsureDefaultCatalog(ctx, []string{"ssd"}); err != nil {
		t.Fatal(err)
	}
	svc := metering.NewService(st, nil, nil, market, id, metering.Options{Retention: 48 * time.Hour, Now: func() time.Time { return t0 }})
	return &env{t: t, ctx: ctx, st: st, svc: svc, p: p, project: prs.Items[0], market: market}
}

var (
	t0          = time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)
	pageAll     = page.Request{Limit: page.MaxLimit}
	systemScope = access.System
)

const gib = int64(1) << 30

func (e *env) createVolume(id string, size int64, created time.Time) {
	e.t.Helper()
	v := volume.Volume{ID: id, ProjectID: e.project.ID, Name: id, Size: size, Type: "ssd", Zone: "nova", Status: volume.Available,
		BackendID: "b-" + id, Created: created, Updated: created, Metadata: map[string]string{}, Tags: []string{}}
	if err := e.st.Apply(e.ctx, volume.Intent{ProjectID: e.project.ID, NewVolume: &v}); err != nil {
		e.t.Fatal(err)
	}
}

// askDelete moves the volume to deleting as asked at the given time.
func (e *env) askDelete(id string, at time.Time) {
	e.t.Helper()
	if err := e.st.Apply(e.ctx, volume.Intent{ProjectID: e.project.ID, VolumeID: id, From: []volume.Status{volume.Available}, To: volume.Deleting}); err != nil {
		e.t.Fatal(err)
	}
	v, err := e.st.GetVolume(e.ctx, systemScope, id)
	if err != nil {
		e.t.Fatal(err)
	}
	v.Updated = at
	if err := e.st.UpdateVolume(e.ctx, v, []volume.Status{volume.Deleting}, volume.Event{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) remove(id string) {
	e.t.Helper()
	if err := e.st.RemoveVolume(e.ctx, id); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) sample(at time.Time) metering.SampleStats {
	e.t.Helper()
	st, err := e.svc.Sample(e.ctx, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// usage returns the quantities of a component per period start.
func (e *env) usage(component, granularity string, from, to time.Time) map[string]string {
	e.t.Helper()
	pts, err := e.svc.Usage(e.ctx, e.p, metering.Query{ProjectID: e.project.ID, Component: component, From: from, To: to, Granularity: granularity})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pts {
		out[p.Start.Format("15:04")] = p.Quantity
	}
	return out
}

// TestExactGiBHours: a 10 GiB volume created at 00:07 and whose deletion
// is asked at 01:37 used exactly 15 GiB-hours (8.833… in the first hour,
// 6.166… in the second), whatever the sample interval, including one
// longer than its life (it lived and died between two samples) and one
// where the sampler sees it being deleted before its row goes.
func TestExactGiBHours(t *testing.T) {
	for _, interval := range []time.Duration{time.Minute, 7 * time.Minute, 15 * time.Minute, time.Hour, 4 * time.Hour} {
		for _, seeDeleting := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/seeDeleting=%v", interval, seeDeleting), func(t *testing.T) {
				exactTimeline(t, "", interval, seeDeleting)
			})
		}
	}
}

// TestExactGiBHoursPostgres runs the timeline on PostgreSQL.
func TestExactGiBHoursPostgres(t *testing.T) {
	for _, seeDeleting := range []bool{false, true} {
		exactTimeline(t, testenv.FreshPostgres(t), 15*time.Minute, seeDeleting)
	}
}

func exactTimeline(t *testing.T, dsn string, interval time.Duration, seeDeleting bool) {
	t.Helper()
	e, id := newEnv(t, dsn), "v1"
	created, asked := t0.Add(7*time.Minute), t0.Add(97*time.Minute)
	state := 0 // 0 not yet created, 1 live, 2 deleting, 3 removed
	for now := t0; !now.After(t0.Add(12 * time.Hour)); now = now.Add(interval) {
		if state == 0 && now.After(created) {
			e.createVolume(id, 10*gib, created)
			state = 1
		}
		if state == 1 && now.After(asked) {
			e.askDelete(id, asked)
			state = 2
			if !seeDeleting {
				e.remove(id)
				state = 3
			}
		} else if state == 2 {
			e.remove(id)
			state = 3
		}
		if _, err := e.svc.Sample(e.ctx, now); err != nil {
			t.Fatal(err)
		}
		if state == 3 {
			break
		}
	}
	if state != 3 {
		t.Fatalf("timeline did not finish: state %d", state)
	}
	pts, err := e.svc.Usage(e.ctx, e.p, metering.Query{ResourceID: id, Component: metering.VolumeProvisioned, From: t0, To: t0.Add(6 * time.Hour), Granularity: metering.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hours := map[string]string{}
	for _, p := range pts {
		hours[p.Start.Format("15:04")] = p.Quantity
	}
	if hours["00:00"] != "8.833333" || hours["01:00"] != "6.166667" || len(hours) != 2 {
		t.Errorf("hours = %v, want 00:00 8.833333 and 01:00 6.166667", hours)
	}
	days, err := e.svc.Usage(e.ctx, e.p, metering.Query{ResourceID: id, Component: metering.VolumeProvisioned, From: t0, To: t0.Add(24 * time.Hour), Granularity: metering.Day})
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 1 || days[0].Quantity != "15.000000" {
		t.Errorf("day total = %+v, want 15.000000 GiB-hours", days)
	}
}

// resize grows the volume at the given time, as ExtendVolume does, and
// brings it back to available.
func (e *env) resize(id string, size int64, at time.Time) {
	e.t.Helper()
	err := e.st.Apply(e.ctx, volume.Intent{ProjectID: e.project.ID, VolumeID: id, From: []volume.Status{volume.Available},
		To: volume.Resizing, NewSize: size, At: at})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.SetVolumeStatus(e.ctx, id, []volume.Status{volume.Resizing}, volume.Available, ""); err != nil {
		e.t.Fatal(err)
	}
}

// TestResizeExact: a 10 GiB volume created at 00:07, grown to 20 GiB at
// 00:37 and whose deletion is asked at 01:37 used exactly 5 + 20 = 25
// GiB-hours (12.666… in the first hour, 12.333… in the second), whatever
// the sample interval: the resize closes the old level in its own
// transaction. At 4 h it lived, grew and died between two samples.
func TestResizeExact(t *testing.T) {
	for _, interval := range []time.Duration{7 * time.Minute, time.Hour, 4 * time.Hour} {
		t.Run(interval.String(), func(t *testing.T) { resizeTimeline(t, "", interval, false) })
	}
	t.Run("postgres", func(t *testing.T) { resizeTimeline(t, testenv.FreshPostgres(t), 15*time.Minute, false) })
	// A sample that read the levels before the resize committed, and
	// writes after it, must not count the old level over the new one.
	t.Run("racing", func(t *testing.T) { resizeTimeline(t, "", 15*time.Minute, true) })
	t.Run("racing/postgres", func(t *testing.T) { resizeTimeline(t, testenv.FreshPostgres(t), 15*time.Minute, true) })
}

// racingStore lets a resize commit between a sample's reads and its write.
type racingStore struct {
	*sqlstore.Store
	before func()
}

func (r *racingStore) ApplyMeterTick(ctx context.Context, t metering.Tick) error {
	if f := r.before; f != nil {
		r.before = nil
		f()
	}
	return r.Store.ApplyMeterTick(ctx, t)
}

func resizeTimeline(t *testing.T, dsn string, interval time.Duration, racing bool) {
	e, id := newEnv(t, dsn), "v1"
	rs := &racingStore{Store: e.st}
	svc := metering.NewService(rs, nil, nil, nil, nil, metering.Options{})
	created, grown, asked := t0.Add(7*time.Minute), t0.Add(37*time.Minute), t0.Add(97*time.Minute)
	state := 0 // 0 not yet created, 1 live, 2 grown, 3 removed
	for now := t0; state != 3; now = now.Add(interval) {
		if now.After(t0.Add(12 * time.Hour)) {
			t.Fatalf("timeline did not finish: state %d", state)
		}
		if state == 0 && now.After(created) {
			e.createVolume(id, 10*gib, created)
			state = 1
		}
		if state == 1 && now.After(grown) {
			if racing {
				rs.before = func() { e.resize(id, 20*gib, grown) }
			} else {
				e.resize(id, 20*gib, grown)
			}
			state = 2
		}
		if state == 2 && now.After(asked) {
			e.askDelete(id, asked)
			e.remove(id)
			state = 3
		}
		if _, err := svc.Sample(e.ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	hours := e.usage(metering.VolumeProvisioned, metering.Hour, t0, t0.Add(6*time.Hour))
	if hours["00:00"] != "12.666667" || hours["01:00"] != "12.333333" || len(hours) != 2 {
		t.Errorf("hours = %v, want 00:00 12.666667 and 01:00 12.333333", hours)
	}
	if days := e.usage(metering.VolumeProvisioned, metering.Day, t0, t0.Add(24*time.Hour)); days["00:00"] != "25.000000" {
		t.Errorf("day = %v, want 25.000000 GiB-hours", days)
	}
}

// TestCrashBetweenSamples: a sample that never commits (the process died
// before) loses nothing: the next sample covers the span from the last
// committed one.
func TestCrashBetweenSamples(t *testing.T) {
	e := newEnv(t, "")
	e.sample(t0)
	e.createVolume("v1", 4*gib, t0.Add(30*time.Minute))
	e.sample(t0.Add(time.Hour))
	// The process dies here: samples due at 02:00 and 03:00 never run.
	// A new process (a new service over the same store) resumes at 04:00.
	svc := metering.NewService(e.st, nil, nil, nil, nil, metering.Options{})
	if _, err := svc.Sample(e.ctx, t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := e.usage(metering.VolumeProvisioned, metering.Day, t0, t0.Add(24*time.Hour))
	if got["00:00"] != "14.000000" { // 4 GiB × 3.5 h
		t.Errorf("usage after a crash = %v, want 14 GiB-hours", got)
	}
}

// TestClockSteps: a clock stepped back records nothing until it passes
// the last sample again, so no span is counted twice; a clock that jumped
// ahead and came back counts the jump once.
func TestClockSteps(t *testing.T) {
	e := newEnv(t, "")
	e.createVolume("v1", gib, t0)
	e.sample(t0)
	e.sample(t0.Add(10 * time.Minute))
	if st := e.sample(t0.Add(5 * time.Minute)); !st.Skipped {
		t.Error("a sample behind the clock was not skipped")
	}
	e.sample(t0.Add(20 * time.Minute))
	e.sample(t0.Add(60 * time.Minute)) // a jump ahead …
	for _, m := range []int{30, 40, 50} {
		if st := e.sample(t0.Add(time.Duration(m) * time.Minute)); !st.Skipped { // … and back
			t.Errorf("sample at +%dm was not skipped", m)
		}
	}
	e.sample(t0.Add(90 * time.Minute))
	got := e.usage(metering.VolumeProvisioned, metering.Day, t0, t0.Add(24*time.Hour))
	if got["00:00"] != "1.500000" {
		t.Errorf("usage = %v, want 1.5 GiB-hours over 90 minutes", got)
	}
}

// TestFoldKeepsTotals: rows older than the retention fold into one row
// per day, the totals stay exact, and the store shrinks.
func TestFoldKeepsTotals(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { foldKeepsTotals(t, "") })
	t.Run("postgres", func(t *testing.T) { foldKeepsTotals(t, testenv.FreshPostgres(t)) })
}

func foldKeepsTotals(t *testing.T, dsn string) {
	e := newEnv(t, dsn)
	e.sample(t0)
	// A volume whose size changes every sample makes one row per sample.
	for i := 0; i < 3*24*4; i++ {
		now := t0.Add(time.Duration(i) * 15 * time.Minute)
		if i == 0 {
			e.createVolume("v1", gib, now)
		} else {
			v, err := e.st.GetVolume(e.ctx, systemScope, "v1")
			if err != nil {
				t.Fatal(err)
			}
			if err := e.st.Apply(e.ctx, volume.Intent{ProjectID: e.project.ID, VolumeID: "v1", From: []volume.Status{volume.Available}, NewSize: v.Size + gib,
				Reserve: volume.Usage{StorageBytes: gib}}); err != nil {
				t.Fatal(err)
			}
		}
		e.sample(now.Add(time.Minute))
	}
	before := e.usage(metering.VolumeProvisioned, metering.Month, t0, t0.AddDate(0, 1, 0))
	rowsBefore, err := e.st.UsageRowCount(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := e.svc.Fold(e.ctx, t0.Add(5*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rowsAfter, _ := e.st.UsageRowCount(e.ctx)
	after := e.usage(metering.VolumeProvisioned, metering.Month, t0, t0.AddDate(0, 1, 0))
	if before["00:00"] != after["00:00"] || before["00:00"] == "" {
		t.Errorf("month total changed by folding: %v → %v", before, after)
	}
	if removed == 0 || rowsAfter >= rowsBefore || rowsAfter > 8 {
		t.Errorf("fold removed %d rows: %d → %d", removed, rowsBefore, rowsAfter)
	}
	t.Logf("fold: %d rows → %d, month total %s GiB-hours", rowsBefore, rowsAfter, after["00:00"])
}

// TestInvoiceReproducible: the same month invoiced twice gives the same
// bytes, in JSON and CSV, and the prices are the default plan's.
func TestInvoiceReproducible(t *testing.T) {
	e := newEnv(t, "")
	e.sample(t0)
	e.createVolume("v1", 10*gib, t0)
	sn := volume.Snapshot{ID: "s1", ProjectID: e.project.ID, VolumeID: "v1", Name: "s1", Size: 10 * gib, Status: volume.SnapAvailable,
		BackendID: "b-s1", Created: t0, Updated: t0, Metadata: map[string]string{}}
	if err := e.st.Apply(e.ctx, volume.Intent{ProjectID: e.project.ID, NewSnapshot: &sn}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetSnapshotExclusive(e.ctx, "s1", 2*gib); err != nil {
		t.Fatal(err)
	}
	// A marketplace volume of 10 GB on the default plan (0.05 per GB and
	// month), in use all month: its limit is billed whatever is used.
	e.marketVolume("v1", 10)
	for h := 1; h <= 24*31; h++ {
		e.sample(t0.Add(time.Duration(h) * time.Hour))
	}
	var first [2][]byte
	for i := 0; i < 2; i++ {
		inv, err := e.svc.Invoice(e.ctx, e.p, e.project.OrganisationID, t0)
		if err != nil {
			t.Fatal(err)
		}
		j, err := inv.JSON()
		if err != nil {
			t.Fatal(err)
		}
		c, err := inv.CSV()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = [2][]byte{j, c}
			continue
		}
		if !bytes.Equal(first[0], j) || !bytes.Equal(first[1], c) {
			t.Fatalf("invoices differ:\n%s\n---\n%s", first[0], j)
		}
		// 2 GiB of snapshot for 744 hours at 0.00004 per GiB-hour, and
		// the volume's 10 GB limit for the month at 0.05.
		if inv.Total != "0.56" || len(inv.Lines) != 3 {
			t.Errorf("invoice total %s with %d lines:\n%s", inv.Total, len(inv.Lines), j)
		}
	}
	if os.Getenv("METER_PRINT") != "" {
		t.Logf("%s\n%s", first[0], first[1])
	}
}

// marketVolume records a marketplace volume resource "r1" of gb GB on the
// default volume plan (0.05 per GB and month), created at t0 by a Create
// order done, pointing at the volume scope.
func (e *env) marketVolume(scope string, gb int64) marketplace.Resource {
	e.t.Helper()
	offs, err := e.market.Offerings(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, o := range offs {
		if o.Kind != marketplace.KindVolume {
			continue
		}
		pls, err := e.market.Plans(e.ctx, o.ID)
		if err != nil || len(pls) == 0 {
			e.t.Fatal(pls, err)
		}
		res := marketplace.Resource{ID: "r1", ProjectID: e.project.ID, OfferingID: o.ID, PlanID: pls[0].ID, Name: "data", State: marketplace.ResOK,
			Limits: map[string]int64{"storage": gb}, Attributes: map[string]any{}, ScopeType: "volume", ScopeID: scope, Created: t0, Modified: t0}
		order := marketplace.Order{ID: "o1", ProjectID: e.project.ID, OfferingID: o.ID, PlanID: pls[0].ID, ResourceID: "r1", Type: marketplace.TypeCreate,
			State: marketplace.Done, Limits: res.Limits, Attributes: map[string]any{}, Created: t0, Modified: t0}
		if err := e.st.CreateOrder(e.ctx, order, &res, nil); err != nil {
			e.t.Fatal(err)
		}
		return res
	}
	e.t.Fatal("no volume offering")
	return marketplace.Resource{}
}

// TestLimitChangeBilledPerPeriod: a 10 GB marketplace volume raised to
// 40 GB by an Update order done on the 11th of a 31-day month is billed
// 10 GB for 10/31 of the month and 40 GB for 21/31 of it (at 0.05 per GB
// and month: 0.161290 + 1.354839 = 1.52), not 40 GB for all of it (2.00).
func TestLimitChangeBilledPerPeriod(t *testing.T) {
	e := newEnv(t, "")
	res := e.marketVolume("", 10)
	at := t0.Add(10 * 24 * time.Hour)
	upd := marketplace.Order{ID: "o2", ProjectID: e.project.ID, OfferingID: res.OfferingID, PlanID: res.PlanID, ResourceID: res.ID,
		Type: marketplace.TypeUpdate, State: marketplace.Executing, Limits: map[string]int64{"storage": 40}, Attributes: map[string]any{},
		Created: at, Modified: at}
	if err := e.st.CreateOrder(e.ctx, upd, nil, nil); err != nil {
		t.Fatal(err)
	}
	upd.State, upd.CompletedAt = marketplace.Done, &at
	res.Limits, res.Modified = upd.Limits, at
	if err := e.st.FinishOrder(e.ctx, upd, res); err != nil {
		t.Fatal(err)
	}
	inv, err := e.svc.Invoice(e.ctx, e.p, e.project.OrganisationID, t0)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := inv.JSON()
	if inv.Total != "1.52" || len(inv.Lines) != 2 {
		t.Fatalf("invoice total %s with %d lines, want 1.52 in 2:\n%s", inv.Total, len(inv.Lines), j)
	}
	for i, want := range []string{"3.225806", "27.096774"} { // GB-months
		if inv.Lines[i].Quantity != want {
			t.Errorf("line %d quantity %s, want %s:\n%s", i, inv.Lines[i].Quantity, want, j)
		}
	}
	costs, err := e.svc.Costs(e.ctx, e.p, e.project.ID, t0, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(costs) != 1 || costs[0].Total != "1.52" {
		t.Errorf("costs = %+v, want 1.52", costs)
	}
}

// TestCountersLoseNothing: requests counted from many goroutines while
// flushes run all reach the store, exactly; requests on buckets that do
// not exist are forgotten, and a full map refuses new keys instead of
// growing.
func TestCountersLoseNothing(t *testing.T) {
	e := newEnv(t, "")
	e.fleet(0, 4)
	counters := e.svc.Counters()
	const workers, each = 8, 2000
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				counters.S3Request(fmt.Sprintf("bucket-%05d", (w+i)%4), "GetObject", 10, 100)
				counters.S3Request("no-such-bucket", "PutObject", 1, 0)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	now := t0
	for flushing := true; flushing; {
		select {
		case <-done:
			flushing = false
		default:
		}
		now = now.Add(time.Minute)
		if err := e.svc.Flush(e.ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	pts, err := e.svc.Usage(e.ctx, e.p, metering.Query{ProjectID: e.project.ID, From: t0, To: now.Add(time.Hour), Granularity: metering.Month})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range pts {
		got[p.Component] = p.Quantity
	}
	if got[metering.S3Get] != fmt.Sprintf("%d.000000", workers*each) || got[metering.S3Put] != "" {
		t.Errorf("usage %v: want %d GETs and no PUT (its bucket does not exist)", got, workers*each)
	}
	small := metering.NewCounters(2)
	for i := range 5 {
		small.S3Request(fmt.Sprintf("b%d", i), "GetObject", 0, 0)
	}
	if small.Dropped() != 3 {
		t.Errorf("a map of 2 keys took %d of 5", 5-small.Dropped())
	}
}
