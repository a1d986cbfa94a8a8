package ews

import "time"

// Calculate scores in at time now. Values older than opts.MaxAge (or
// DefaultMaxAge) are treated as missing; values measured after now count as
// fresh. See the package doc for partial results and for values between
// chart bands. Calculate does not allocate.
func Calculate(in *Input, now time.Time, opts Options) Result {
	maxAge := opts.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	var r Result
	r.Scale = 1
	if in.Scale2 {
		r.Scale = 2
	}
	fresh := func(p Parameter) bool {
		m := in.Values[p]
		return !m.Time.IsZero() && now.Sub(m.Time) <= maxAge
	}
	oxygenKnown := fresh(AirOrOxygen)
	oxygen := oxygenKnown && in.Values[AirOrOxygen].Value != 0

	used, red := 0, false
	for i := range r.Components {
		p := Parameter(i + 1)
		m := in.Values[p]
		c := Component{Parameter: p, Value: m.Value, Time: m.Time}
		worst := 3
		if p == AirOrOxygen {
			worst = 2
		}
		if !fresh(p) {
			c.Missing = true
			r.MaxScore += worst
			r.Components[i] = c
			continue
		}
		switch p {
		case RespirationRate:
			c.Score = scoreRespRate(m.Value)
		case SpO2:
			if in.Scale2 {
				c.Score = scoreSpO2Scale2(m.Value, oxygen)
				if !oxygenKnown {
					// Could be on oxygen: the upper bound takes that case.
					r.MaxScore += scoreSpO2Scale2(m.Value, true) - c.Score
				}
			} else {
				c.Score = scoreSpO2Scale1(m.Value)
			}
		case AirOrOxygen:
			c.Score = scoreOxygen(oxygen)
		case SystolicBP:
			c.Score = scoreSystolic(m.Value)
		case Pulse:
			c.Score = scorePulse(m.Value)
		case Consciousness:
			c.Score = scoreConsciousness(m.Value)
		case Temperature:
			c.Score = scoreTemperature(m.Value)
		}
		used++
		r.Score += c.Score
		r.MaxScore += c.Score
		if c.Score == 3 {
			red = true
		}
		if m.Time.After(r.Time) {
			r.Time = m.Time
		}
		r.Components[i] = c
	}
	r.Partial = used < NumParameters
	switch {
	case used == 0:
		r.Band = BandNone
	case r.Score >= 7:
		r.Band = BandHigh
	case r.Score >= 5:
		r.Band = BandMedium
	case red:
		r.Band = BandLowMedium
	default:
		r.Band = BandLow
	}
	r.Response = response(r.Score, r.Band)
	return r
}
