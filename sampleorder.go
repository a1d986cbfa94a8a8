package vigil

import "strings"

// CompareSamples orders samples as SampleStore.QuerySamples returns them:
// by time, then code, then device. It returns -1, 0 or +1.
func CompareSamples(a, b *Sample) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := strings.Compare(a.Code, b.Code); c != 0 {
		return c
	}
	return strings.Compare(a.Device, b.Device)
}

// MergeSamples merges lists, each already in CompareSamples order (reversed
// when desc), into one list in the same order, of at most limit samples.
// It consumes lists (their slices are advanced). A store reading one list
// per series merges them with it; the cost is len(lists) comparisons per
// sample returned.
func MergeSamples(lists [][]Sample, limit int, desc bool) []Sample {
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	out := make([]Sample, 0, min(total, limit))
	if len(lists) == 1 {
		return append(out, lists[0][:min(len(lists[0]), limit)]...)
	}
	for len(out) < limit {
		best := -1
		for i, l := range lists {
			if len(l) == 0 {
				continue
			}
			if best < 0 {
				best = i
				continue
			}
			c := CompareSamples(&l[0], &lists[best][0])
			if desc {
				c = -c
			}
			if c < 0 {
				best = i
			}
		}
		if best < 0 {
			break
		}
		out = append(out, lists[best][0])
		lists[best] = lists[best][1:]
	}
	return out
}
