package vigil_test

import (
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

func TestDeviceBindingsAt(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	handover := vigil.DeviceBindings{{Patient: "p1", Start: h(0), End: h(10)}, {Patient: "p2", Start: h(10)}}
	overlap := vigil.DeviceBindings{{Patient: "p1", Start: h(0), End: h(10)}, {Patient: "p2", Start: h(5)}}
	sameTwice := vigil.DeviceBindings{{Patient: "p1", Start: h(0), End: h(10)}, {Patient: "p1", Start: h(5), End: h(20)}}
	always := vigil.DeviceBindings{{Patient: "p1"}}
	cases := []struct {
		name string
		b    vigil.DeviceBindings
		at   time.Time
		want string
	}{
		{"before the first period", handover, h(-1), ""},
		{"at a period's start", handover, h(0), "p1"},
		{"inside the first", handover, h(9), "p1"},
		{"at the hand-over (end exclusive)", handover, h(10), "p2"},
		{"open end", handover, h(1000), "p2"},
		{"two patients at once: refused", overlap, h(6), ""},
		{"before the overlap", overlap, h(4), "p1"},
		{"overlapping periods of one patient", sameTwice, h(7), "p1"},
		{"no periods", nil, h(1), ""},
		{"open both sides", always, h(-100000), "p1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.b.At(c.at); got != c.want {
				t.Errorf("At(%v) = %q, want %q", c.at, got, c.want)
			}
		})
	}
}
