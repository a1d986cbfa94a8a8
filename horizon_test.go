package vigil_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

func TestWriteHorizon(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	clock := t0
	now := func() time.Time { return clock }
	var h vigil.WriteHorizon
	if got := h.At(now); !got.Equal(t0) {
		t.Fatalf("At with nothing in flight = %v, want the clock %v", got, t0)
	}
	endA := h.Begin(now) // begins at t0
	clock = t0.Add(time.Second)
	endB := h.Begin(now) // begins at t0+1s
	clock = t0.Add(2 * time.Second)
	steps := []struct {
		name string
		do   func()
		want time.Time
	}{
		{"two in flight", func() {}, t0},
		{"the first ends", endA, t0.Add(time.Second)},
		{"the first ends twice", endA, t0.Add(time.Second)},
		{"the second ends", endB, t0.Add(2 * time.Second)},
	}
	for _, s := range steps {
		s.do()
		if got := h.At(now); !got.Equal(s.want) {
			t.Errorf("%s: At = %v, want %v", s.name, got, s.want)
		}
	}
	var none *vigil.WriteHorizon
	none.Begin(now)()
	if got := none.At(now); !got.Equal(clock) {
		t.Errorf("nil horizon: At = %v, want the clock", got)
	}
}

// A write that is still in flight holds the horizon at its beginning, so a
// client polling from the horizon will see it once it commits.
func ExampleWriteHorizon() {
	clock := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	var h vigil.WriteHorizon
	end := h.Begin(now) // a write stamps its version at 10:00:00
	clock = clock.Add(5 * time.Second)
	fmt.Println(h.At(now).Format(time.TimeOnly)) // poll from here next time
	end()                                        // committed
	fmt.Println(h.At(now).Format(time.TimeOnly))
	// Output:
	// 10:00:00
	// 10:00:05
}

// BenchmarkWriteHorizon measures what every write pays to register in the
// horizon (Begin and its end) with writers on every core, and a poll's At
// beside them.
func BenchmarkWriteHorizon(b *testing.B) {
	var h vigil.WriteHorizon
	now := time.Now
	b.Run("begin-end", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.Begin(now)()
			}
		})
	})
	b.Run("at", func(b *testing.B) {
		for range 32 {
			defer h.Begin(now)()
		}
		for b.Loop() {
			h.At(now)
		}
	})
}
