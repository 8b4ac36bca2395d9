package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/opensignum/signum/lib/client"
)

// progressMin is the smallest batch that gets a progress bar (on a terminal): below it, a
// line per file is as easy to follow.
const progressMin = 8

// isTerminal decides whether w is a terminal: a bar redrawn in place is for people, a line
// per file for CI logs and pipes. Tests replace it.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress reports files as signum sign finishes them.
type progress interface {
	// done is called as each file finishes (never concurrently: client.SignFiles).
	done(r client.FileResult)
	// finish ends the report once every file has finished.
	finish()
}

// progress is the report for a batch of total files on the error output: a bar on a
// terminal for progressMin files or more, a line per signed file otherwise, nothing for -o
// json (its answer is the report).
func (a *app) progress(total int) progress {
	switch {
	case a.output != "text":
		return quiet{}
	case total >= progressMin && isTerminal(a.errOut):
		return newBar(a.errOut, total, time.Now)
	}
	return &lines{w: a.errOut, total: total}
}

type quiet struct{}

func (quiet) done(client.FileResult) {}
func (quiet) finish()                {}

// lines is a line per signed file: "[3/5] signed app.exe (authenticode)".
type lines struct {
	w           io.Writer
	total, seen int
}

func (l *lines) done(r client.FileResult) {
	l.seen++
	if r.Error == "" {
		fmt.Fprintf(l.w, "[%d/%d] signed %s (%s)\n", l.seen, l.total, r.Output, r.Kind)
	}
}

func (l *lines) finish() {}

// bar is one line redrawn in place: files done of total, the rate and the time left.
type bar struct {
	w                   io.Writer
	total, seen, failed int
	now                 func() time.Time
	start, drawn        time.Time
	width               int
}

// barRedraw is the least time between redraws: a batch of small files finishes faster than a
// terminal is worth redrawing.
const barRedraw = 100 * time.Millisecond

func newBar(w io.Writer, total int, now func() time.Time) *bar {
	b := &bar{w: w, total: total, now: now, start: now(), width: 24}
	b.draw(b.start)
	return b
}

func (b *bar) done(r client.FileResult) {
	b.seen++
	if r.Error != "" {
		b.failed++
	}
	if t := b.now(); b.seen == b.total || t.Sub(b.drawn) >= barRedraw {
		b.draw(t)
	}
}

func (b *bar) finish() {
	b.draw(b.now())
	fmt.Fprintln(b.w)
}

// draw writes the bar as it stands at t over the previous one.
func (b *bar) draw(t time.Time) {
	b.drawn = t
	filled := 0
	if b.total > 0 {
		filled = b.width * b.seen / b.total
	}
	line := fmt.Sprintf("signing [%s%s] %d/%d files", strings.Repeat("#", filled), strings.Repeat("-", b.width-filled), b.seen, b.total)
	if b.failed > 0 {
		line += fmt.Sprintf(", %d failed", b.failed)
	}
	if elapsed := t.Sub(b.start); b.seen > 0 && elapsed > 0 {
		rate := float64(b.seen) / elapsed.Seconds()
		line += fmt.Sprintf("  %.1f files/s", rate)
		if left := b.total - b.seen; left > 0 {
			eta := time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second)
			line += fmt.Sprintf("  ETA %s", eta)
		}
	}
	// "\r" returns to the line's start; "\x1b[K" clears what a longer line left behind.
	fmt.Fprint(b.w, "\r"+line+"\x1b[K")
}
