package ecg

// FuseLeads combines beats detected independently on two leads of one
// recording using their signal quality: in each quality segment the beats
// of lead 0 are kept unless lead 0 is unreadable there and lead 1 is
// readable, in which case lead 1's beats are used. Beats closer than the
// 200 ms refractory period to the previous kept beat (the same QRS seen
// on both leads at a segment boundary) are dropped. Both leads must share
// the sampling rate fs and the quality segmentation.
//
// Choosing per segment rather than voting per beat keeps the primary
// lead's accuracy where it is readable and falls back to the other lead
// only where the primary one would otherwise yield noise or nothing.
func FuseLeads(beats [2][]Beat, quality [2][]Quality, fs float64) []Beat {
	refr := int64(refractory * fs)
	out := make([]Beat, 0, len(beats[0]))
	var idx [2]int
	last := int64(-1 << 62)
	emit := func(lead int, end int64) {
		for idx[lead] < len(beats[lead]) && beats[lead][idx[lead]].Sample < end {
			b := beats[lead][idx[lead]]
			idx[lead]++
			if b.Sample-last >= refr {
				out = append(out, b)
				last = b.Sample
			}
		}
	}
	skip := func(lead int, end int64) {
		for idx[lead] < len(beats[lead]) && beats[lead][idx[lead]].Sample < end {
			idx[lead]++
		}
	}
	n := min(len(quality[0]), len(quality[1]))
	for i := 0; i < n; i++ {
		q0, q1 := quality[0][i], quality[1][i]
		lead := 0
		if !q0.Usable() && q1.Usable() {
			lead = 1
		}
		emit(lead, q0.End)
		skip(1-lead, q0.End)
	}
	emit(0, 1<<62) // after the last assessed segment: lead 0
	return out
}
