package sim

import (
	"context"
	"errors"
	"time"

	"github.com/vigilhealth/vigil"
)

// Source yields readings in simulated time: a Generator or a Replay.
type Source interface {
	// Start is the simulated time the source begins at.
	Start() time.Time
	// Until returns the readings with a time at or before t not returned
	// yet, in time order.
	Until(t time.Time) []vigil.Reading
	// Done reports whether the source has nothing more to return.
	Done() bool
}

// Sink delivers readings to a Vigil server.
type Sink interface {
	// Send delivers rs (several devices, in time order). It returns how
	// many readings the server rejected so far that were not reported by
	// an earlier call (MQTT reports rejections asynchronously). An error
	// means some readings were not delivered; one wrapping
	// vigil.ErrUnauthorized or vigil.ErrForbidden stops the Runner.
	Send(ctx context.Context, rs []vigil.Reading) (rejected int, err error)
	// Close releases connections.
	Close() error
}

// Progress is where a run stands.
type Progress struct {
	Sim      time.Time     // simulated time reached
	Elapsed  time.Duration // real time since the start
	Sent     int64         // readings handed to the sink
	Rejected int64         // readings the server rejected
	Failed   int64         // readings whose delivery failed
	LastErr  error         // the last delivery error
}

// Runner drives a Source against a clock and hands its readings to a Sink.
// Simulated time runs Speed times as fast as real time from the source's
// Start; every Step of real time the readings due are sent.
type Runner struct {
	Source Source
	Sink   Sink
	// Speed is simulated seconds per real second (default 1).
	Speed float64
	// Duration is the simulated time to run; 0 runs until ctx ends or the
	// source is done.
	Duration time.Duration
	// Step is the real time between sends (default 1 s).
	Step time.Duration
	// MaxBatch bounds the readings per Send (default 5000).
	MaxBatch int
	// Now and Sleep are the clock (default time.Now and a timer).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Report, when set, is called after every step.
	Report func(Progress)
}

// Run streams until the simulated Duration is reached, the source is done
// or ctx ends (which is not an error). It returns the final progress, and
// an error when the sink refused the credentials or failed on the very
// first send (a wrong target).
func (r *Runner) Run(ctx context.Context) (Progress, error) {
	now, sleep := r.Now, r.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	speed, step, maxBatch := r.Speed, r.Step, r.MaxBatch
	if speed <= 0 {
		speed = 1
	}
	if step <= 0 {
		step = time.Second
	}
	if maxBatch <= 0 {
		maxBatch = 5000
	}
	start, simStart := now(), r.Source.Start()
	var p Progress
	delivered := false
	for {
		p.Elapsed = now().Sub(start)
		p.Sim = simStart.Add(time.Duration(float64(p.Elapsed) * speed))
		last := r.Duration > 0 && !p.Sim.Before(simStart.Add(r.Duration))
		if last {
			p.Sim = simStart.Add(r.Duration)
		}
		rs := r.Source.Until(p.Sim)
		for len(rs) > 0 {
			batch := rs[:min(len(rs), maxBatch)]
			rs = rs[len(batch):]
			rej, err := r.Sink.Send(ctx, batch)
			p.Sent += int64(len(batch))
			p.Rejected += int64(rej)
			if err != nil {
				if ctx.Err() != nil {
					return p, nil
				}
				p.Failed += int64(len(batch))
				p.LastErr = err
				if !delivered || errors.Is(err, vigil.ErrUnauthorized) || errors.Is(err, vigil.ErrForbidden) {
					return p, err
				}
				continue
			}
			delivered = true
		}
		if r.Report != nil {
			r.Report(p)
		}
		if last || r.Source.Done() {
			return p, nil
		}
		if err := sleep(ctx, step); err != nil {
			return p, nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
