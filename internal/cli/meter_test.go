package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestMeterHoldsTheEnd: the bar reaches its end only when the transfer is
// done (not when the last byte is sent, while the upload still completes),
// says what it is doing meanwhile, and counts only what this run moves:
// bytes an earlier run moved shrink its total, and the summary leaves
// them out, even when other files had filled the bar past the new end.
func TestMeterHoldsTheEnd(t *testing.T) {
	var screen bytes.Buffer
	m := &meter{w: &screen, desc: "upload 2 files", start: time.Now(), total: 100}
	m.bar = newBar(&screen, 100, m.desc)

	m.add(60)
	m.phase("") // draws what add may have held back for the next redraw
	if got := m.bar.State().CurrentNum; got != 60 {
		t.Fatalf("the bar shows %d of 60 bytes moved", got)
	}
	m.skip(40) // the other file's parts were all there
	if m.bar.IsFinished() || m.bar.State().CurrentNum != 59 || m.bar.GetMax64() != 60 {
		t.Fatalf("after the skip the bar shows %d of %d, finished %v", m.bar.State().CurrentNum, m.bar.GetMax64(), m.bar.IsFinished())
	}
	m.phase("completing…")
	if !strings.Contains(screen.String(), "upload 2 files: completing…") {
		t.Errorf("the bar never said it was completing:\n%q", screen.String())
	}
	if m.bar.IsFinished() {
		t.Fatal("the bar finished before the transfer did")
	}
	m.done(true)
	if !m.bar.IsFinished() {
		t.Error("the bar did not finish with the transfer")
	}
	if moved, took := m.summary(); moved != 60 || took <= 0 {
		t.Errorf("summary: %d bytes in %v, want the 60 this run moved", moved, took)
	}
}
