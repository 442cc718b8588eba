package cli

import (
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// meter counts the bytes a transfer moved and, when a person watches,
// draws them as a bar with the rate and the time left.
type meter struct {
	n   atomic.Int64
	bar *progressbar.ProgressBar // nil: nobody watches
}

// newMeter draws on w only when w is a terminal: a bar redrawn with
// carriage returns is noise in a log or a pipe.
func newMeter(w io.Writer, total int64, desc string, show bool) *meter {
	m := &meter{}
	f, ok := w.(*os.File)
	if !show || !ok || !term.IsTerminal(int(f.Fd())) || total <= 0 {
		return m
	}
	m.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
	)
	return m
}

func (m *meter) add(n int64) {
	if n <= 0 {
		return
	}
	m.n.Add(n)
	if m.bar != nil {
		m.bar.Add64(n)
	}
}

// done ends the bar: full on success, where it stopped otherwise, and
// ends its line either way so that what follows starts clean.
func (m *meter) done(ok bool) {
	switch {
	case m.bar == nil:
	case ok:
		m.bar.Finish()
	case !m.bar.IsFinished():
		m.bar.Exit()
	}
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
