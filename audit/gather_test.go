package audit

import (
	"testing"
	"time"
)

// TestGather checks how the writer fills a group commit: it takes what is
// queued, waits for more only while it holds fewer records than the
// previous commit did (never for a lone caller), and stops waiting at
// GroupDelay or Close.
func TestGather(t *testing.T) {
	cases := []struct {
		name   string
		delay  time.Duration
		want   int // the previous commit's size
		queued int // callers already waiting
		later  int // callers that come after gather started
		stop   bool
		got    int
	}{
		{name: "lone caller", delay: time.Hour, want: 1, queued: 0, later: 0, got: 1},
		{name: "first commit", delay: time.Hour, want: 0, queued: 2, later: 0, got: 3},
		{name: "enough queued", delay: time.Hour, want: 3, queued: 4, later: 0, got: 5},
		{name: "waits for the previous size", delay: time.Hour, want: 4, queued: 1, later: 2, got: 4},
		{name: "delay ends the wait", delay: 20 * time.Millisecond, want: 8, queued: 1, later: 0, got: 2},
		{name: "no delay", delay: -1, want: 8, queued: 1, later: 0, got: 2},
		{name: "close ends the wait", delay: time.Hour, want: 8, queued: 0, later: 0, stop: true, got: 1},
		{name: "max batch", delay: time.Hour, want: 100, queued: 2, later: 0, got: 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := &Trail{opt: Options{GroupDelay: c.delay, MaxBatch: 3}, reqs: make(chan *appendReq), stop: make(chan struct{})}
			if c.name != "max batch" {
				tr.opt.MaxBatch = 1024
			}
			send := func() { tr.reqs <- &appendReq{} }
			for range c.queued {
				go send()
			}
			// Let the queued callers block on the channel: gather must
			// find them without waiting.
			time.Sleep(50 * time.Millisecond)
			if c.stop {
				close(tr.stop)
			}
			batch := []*appendReq{{}}
			done := make(chan struct{})
			go func() {
				defer close(done)
				wait := time.NewTimer(time.Hour)
				wait.Stop()
				tr.gather(&batch, c.want, wait)
			}()
			for range c.later {
				go send()
			}
			<-done
			if len(batch) != c.got {
				t.Errorf("gather(want %d, %d queued, %d later) took %d records, want %d", c.want, c.queued, c.later, len(batch), c.got)
			}
			// Release the callers gather did not take.
			go func() {
				for {
					select {
					case <-tr.reqs:
					case <-time.After(time.Second):
						return
					}
				}
			}()
		})
	}
}
