package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/spillway-gw/spillway/loadgen"
)

// liveInterval is how often the live line is redrawn.
const liveInterval = 250 * time.Millisecond

// wantLive decides whether `spillway load` draws its live line: "auto" when
// stdout is a terminal, "on" always, "off" never.
func wantLive(mode string, stdout io.Writer) (bool, error) {
	switch mode {
	case "on":
		return true, nil
	case "off":
		return false, nil
	case "auto":
		f, ok := stdout.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())), nil
	}
	return false, fmt.Errorf("progress: %q is not auto, on or off", mode)
}

// liveLine redraws one line with a run's progress until stopped, then
// clears it so the report starts on a clean line. The drawing (bar,
// terminal width, clearing the line) is github.com/schollz/progressbar's.
type liveLine struct {
	bar  *progressbar.ProgressBar
	p    *loadgen.Progress
	stop func()
}

// startLiveLine starts drawing cfg.Progress on w.
func startLiveLine(ctx context.Context, w io.Writer, cfg loadgen.Config) *liveLine {
	total := cfg.Requests
	if total == 0 {
		mix := cfg.Mix
		if len(mix) == 0 {
			mix = loadgen.DefaultMix
		}
		total = len(loadgen.Plan(cfg.Seed, loadgen.Arrivals(cfg.Arrivals), cfg.Rate, cfg.Duration, mix, cfg.StreamShare))
	}
	l := &liveLine{p: cfg.Progress, bar: progressbar.NewOptions(max(total, 1),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(20),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(cfg.Requests > 0),
		progressbar.OptionUseANSICodes(true),
		progressbar.OptionClearOnFinish(),
	)}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(liveInterval)
		defer t.Stop()
		last, lastAt := loadgen.ProgressSnapshot{}, time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				s := l.p.Snapshot()
				l.draw(s, float64(s.Done-last.Done)/now.Sub(lastAt).Seconds())
				last, lastAt = s, now
			}
		}
	})
	l.stop = func() {
		cancel()
		wg.Wait()
		_ = l.bar.Finish()
		_ = l.bar.Clear()
	}
	return l
}

// draw shows snapshot s, with rate the answers per second since the last draw.
func (l *liveLine) draw(s loadgen.ProgressSnapshot, rate float64) {
	l.bar.Describe(fmt.Sprintf("sent %d done %d %5.1f/s | 2xx %d 429 %d 5xx %d other %d | ptu %d tpm %d",
		s.Sent, s.Done, rate, s.OK, s.TooMany, s.ServerErr, s.Other, s.PTU, s.TPM))
	_ = l.bar.Set64(s.Done + s.Dropped)
}
