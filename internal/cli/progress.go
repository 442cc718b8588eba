package cli

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// meter counts the bytes a transfer moves and times it, for the summary
// and, when a person watches, for a bar with the rate and the time left.
// Both count only what this run moves: bytes an earlier, interrupted run
// had moved shrink the bar's total instead of filling it at once, which
// would make its rate a burst that the summary's rate never had.
type meter struct {
	w     io.Writer
	desc  string
	start time.Time
	bar   *progressbar.ProgressBar // nil: nobody watches

	mu      sync.Mutex
	moved   int64 // bytes this run moved
	total   int64 // bytes this run moves
	shown   int64 // of moved, what the bar was given
	drawn   time.Time
	elapsed time.Duration // set by done
}

// redraw is how often the bar moves: often enough to look live, rarely
// enough that parts in parallel do not queue on the bar.
const redraw = 100 * time.Millisecond

// newMeter draws on w only when w is a terminal: a bar redrawn with
// carriage returns is noise in a log or a pipe.
func newMeter(w io.Writer, total int64, desc string, show bool) *meter {
	m := &meter{w: w, desc: desc, start: time.Now(), total: total}
	f, ok := w.(*os.File)
	if !show || !ok || !term.IsTerminal(int(f.Fd())) || total <= 0 {
		return m
	}
	m.bar = newBar(w, total, desc)
	return m
}

// newBar draws a transfer's bar on w. It goes when the transfer is done:
// the summary that follows says what moved and at what rate, once.
func newBar(w io.Writer, total int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionClearOnFinish(),
	)
}

// add counts n bytes moved. The bar is given them at most every redraw,
// and never the last byte before done: the bar must not say 100% while
// the transfer still has work to do (completing an upload).
func (m *meter) add(n int64) {
	if n <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.moved += n
	if m.bar != nil && time.Since(m.drawn) >= redraw {
		m.draw()
	}
}

// draw gives the bar what it has not been given yet, up to the byte
// before the last. Called with mu held.
func (m *meter) draw() {
	if d := min(m.moved, m.total-1) - m.shown; d > 0 {
		m.bar.Add64(d)
		m.shown += d
	}
	m.drawn = time.Now()
}

// skip takes n bytes that an earlier run already moved off what this run
// moves.
func (m *meter) skip(n int64) {
	if n <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total -= n
	if m.bar == nil {
		return
	}
	// Bytes of other files may have filled the bar past the new total's
	// last byte; take them back first, or the bar would finish now.
	if last := max(m.total-1, 0); m.shown > last {
		m.bar.Set64(last)
		m.shown = last
	}
	m.bar.ChangeMax64(max(m.total, 1))
}

// phase says on the bar what the transfer is doing besides moving bytes
// ("completing…"); "" goes back to the plain description.
func (m *meter) phase(what string) {
	if m.bar == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.draw()
	if what == "" {
		m.bar.Describe(m.desc)
	} else {
		m.bar.Describe(m.desc + ": " + what)
	}
}

// done stops the clock and ends the bar: cleared on success, for the
// summary to take its place; left where it stopped otherwise, on a line
// of its own so that the error starts clean.
func (m *meter) done(ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.elapsed = time.Since(m.start)
	switch {
	case m.bar == nil:
	case ok:
		m.bar.Finish()
	default:
		m.bar.Exit()
		io.WriteString(m.w, "\n")
	}
}

// summary is what the run moved and how long it took, for the rate the
// summary prints: the same bytes and the same clock as the bar's.
func (m *meter) summary() (moved int64, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.moved, m.elapsed
}

// countedSection reads part of a file and counts each byte once however
// often the SDK rewinds it (to retry a request).
type countedSection struct {
	*io.SectionReader
	m   *meter
	hwm int64
}

func (r *countedSection) Read(p []byte) (int, error) {
	n, err := r.SectionReader.Read(p)
	if pos, _ := r.SectionReader.Seek(0, io.SeekCurrent); pos > r.hwm {
		r.m.add(pos - r.hwm)
		r.hwm = pos
	}
	return n, err
}
