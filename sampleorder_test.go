package vigil_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

func TestMergeSamples(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	s := func(sec int, code, dev string) vigil.Sample {
		return vigil.Sample{Time: t0.Add(time.Duration(sec) * time.Second), Code: code, Device: dev}
	}
	name := func(ss []vigil.Sample) []string {
		var out []string
		for _, x := range ss {
			out = append(out, fmt.Sprintf("%d/%s/%s", int(x.Time.Sub(t0).Seconds()), x.Code, x.Device))
		}
		return out
	}
	asc := [][]vigil.Sample{
		{s(0, "b", "d"), s(2, "b", "d"), s(4, "b", "d")},
		{s(1, "a", "d"), s(2, "a", "d"), s(2, "b", "c")},
		{},
	}
	tests := []struct {
		name  string
		lists [][]vigil.Sample
		limit int
		desc  bool
		want  []string
	}{
		{"ascending, equal times by code then device", asc, 10, false,
			[]string{"0/b/d", "1/a/d", "2/a/d", "2/b/c", "2/b/d", "4/b/d"}},
		{"limit", asc, 3, false, []string{"0/b/d", "1/a/d", "2/a/d"}},
		{"one list", asc[:1], 2, false, []string{"0/b/d", "2/b/d"}},
		{"descending", [][]vigil.Sample{
			{s(4, "b", "d"), s(2, "b", "d"), s(0, "b", "d")},
			{s(2, "b", "c"), s(2, "a", "d"), s(1, "a", "d")},
		}, 10, true, []string{"4/b/d", "2/b/d", "2/b/c", "2/a/d", "1/a/d", "0/b/d"}},
		{"nothing", nil, 10, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lists := make([][]vigil.Sample, len(tt.lists))
			copy(lists, tt.lists)
			if got := name(vigil.MergeSamples(lists, tt.limit, tt.desc)); !slices.Equal(got, tt.want) {
				t.Errorf("MergeSamples = %v, want %v", got, tt.want)
			}
		})
	}
}
