package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/vitals"
)

// Patient is one simulated patient. The caller creates the Patient, the
// Device bound to it and the device's account; the simulator only uses
// their identifiers.
type Patient struct {
	// ID is the patient's identifier: PID-3 of HL7 messages.
	ID string `json:"patient"`
	// Device is the id readings are sent as (Reading.device, the MQTT
	// topic and user name).
	Device string `json:"device"`
	// Token is the device's bearer token (HTTP Authorization, MQTT
	// password); empty means the sink's default token.
	Token string `json:"token,omitempty"`
	// Scenario is how the patient evolves.
	Scenario Scenario `json:"scenario"`
	// Onset is when, after the start of the simulation, the deterioration
	// begins (ignored for Stable).
	Onset Duration `json:"onset,omitempty"`
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("6h30m").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Config configures a Generator. Patients and Start are required; the zero
// value of the other fields takes the default given.
type Config struct {
	Patients []Patient
	// Seed makes the output reproducible: the same Config yields the same
	// readings, however Until is called.
	Seed uint64
	// Start is the simulated time at which the simulation begins.
	Start time.Time
	// Interval between heart rate, respiratory rate and SpO2 readings
	// (default 1 min).
	Interval time.Duration
	// BPInterval between blood pressure readings (default 30 min).
	BPInterval time.Duration
	// TempInterval between temperature readings (default 1 h). Weight is
	// measured once a day, at 07:00 UTC.
	TempInterval time.Duration
	// ArtefactRate is the probability that a heart rate or SpO2 reading is
	// an artefact: a motion spike in heart rate, a spuriously low SpO2
	// (default 0.005; negative: none).
	ArtefactRate float64
	// DropoutRate is the probability that the SpO2 probe comes off at a
	// reading, for 2–10 readings (default 0.01; negative: none).
	DropoutRate float64
	// GapsPerDay is the expected number of periods, 10–90 min long, in
	// which a patient's devices send nothing (default 1; negative: none).
	GapsPerDay float64
}

// Generator produces the readings of simulated patients: each patient has
// a baseline drawn from the seed, circadian variation (Hermida et al.,
// Chronobiol Int 2002: heart rate and blood pressure peak in the
// afternoon, lowest around 04:00; core temperature peaks early evening),
// autocorrelated noise, artefacts, dropouts and gaps, and the trend of its
// Scenario. A Generator is not safe for concurrent use.
type Generator struct {
	cfg      Config
	patients []*patientState
}

// Streams, each with its own random source, so the output does not depend
// on how Until calls slice time.
const (
	streamSetup = iota
	streamFast
	streamBP
	streamTemp
	streamWeight
	streamGaps
	numStreams
)

type patientState struct {
	p        Patient
	rng      [numStreams]*rand.Rand
	base     params // baseline values, in the fields of params
	next     [numStreams]time.Time
	ar       struct{ hr, rr, spo2, temp float64 }
	dropout  int // SpO2 readings still missing
	gaps     []gap
	gapsTill time.Time // gaps are drawn up to here
}

type gap struct{ from, to time.Time }

// New returns a Generator for cfg.
func New(cfg Config) (*Generator, error) {
	if cfg.Start.IsZero() {
		return nil, errors.New("sim: Config.Start is required")
	}
	if len(cfg.Patients) == 0 {
		return nil, errors.New("sim: no patients")
	}
	cfg.Start = cfg.Start.UTC()
	setDefault(&cfg.Interval, time.Minute)
	setDefault(&cfg.BPInterval, 30*time.Minute)
	setDefault(&cfg.TempInterval, time.Hour)
	if cfg.ArtefactRate == 0 {
		cfg.ArtefactRate = 0.005
	}
	if cfg.DropoutRate == 0 {
		cfg.DropoutRate = 0.01
	}
	if cfg.GapsPerDay == 0 {
		cfg.GapsPerDay = 1
	}
	g := &Generator{cfg: cfg}
	seen := map[string]bool{}
	for i, p := range cfg.Patients {
		if p.Device == "" || p.ID == "" {
			return nil, fmt.Errorf("sim: patient %d needs an ID and a Device", i)
		}
		if seen[p.Device] {
			return nil, fmt.Errorf("sim: device %q is given to two patients", p.Device)
		}
		seen[p.Device] = true
		if p.Scenario.String() == "" {
			return nil, fmt.Errorf("sim: patient %d has no scenario", i)
		}
		s := &patientState{p: p}
		for k := range s.rng {
			s.rng[k] = rand.New(rand.NewPCG(cfg.Seed, uint64(i)*numStreams+uint64(k)))
		}
		r := s.rng[streamSetup]
		s.base = params{
			hr: 62 + 20*r.Float64(), rr: 12 + 5*r.Float64(), spo2: 95.5 + 3*r.Float64(),
			temp: 36.5 + 0.5*r.Float64(), sbp: 112 + 28*r.Float64(), weight: 55 + 50*r.Float64(),
		}
		s.base.dbp = s.base.sbp*0.6 + 4*r.Float64()
		// Devices do not all report on the same second.
		phase := time.Duration(r.Int64N(int64(cfg.Interval)))
		s.next[streamFast] = cfg.Start.Add(phase)
		s.next[streamBP] = cfg.Start.Add(phase % cfg.BPInterval)
		s.next[streamTemp] = cfg.Start.Add(phase % cfg.TempInterval)
		w := time.Date(cfg.Start.Year(), cfg.Start.Month(), cfg.Start.Day(), 7, 0, 0, 0, time.UTC).Add(phase % time.Hour)
		if w.Before(cfg.Start) {
			w = w.Add(24 * time.Hour)
		}
		s.next[streamWeight] = w
		s.gapsTill = cfg.Start
		g.patients = append(g.patients, s)
	}
	return g, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Start returns the simulated start time.
func (g *Generator) Start() time.Time { return g.cfg.Start }

// Done reports false: a Generator never runs out.
func (g *Generator) Done() bool { return false }

// Until returns every reading with a time at or before t not returned yet,
// ordered by time (then patient, then parameter).
func (g *Generator) Until(t time.Time) []vigil.Reading {
	var out []vigil.Reading
	for _, s := range g.patients {
		s.drawGaps(g.cfg, t)
		for ; !s.next[streamFast].After(t); s.next[streamFast] = s.next[streamFast].Add(g.cfg.Interval) {
			out = s.fast(g.cfg, s.next[streamFast], out)
		}
		for ; !s.next[streamBP].After(t); s.next[streamBP] = s.next[streamBP].Add(g.cfg.BPInterval) {
			out = s.bp(g.cfg, s.next[streamBP], out)
		}
		for ; !s.next[streamTemp].After(t); s.next[streamTemp] = s.next[streamTemp].Add(g.cfg.TempInterval) {
			out = s.temp(g.cfg, s.next[streamTemp], out)
		}
		for ; !s.next[streamWeight].After(t); s.next[streamWeight] = s.next[streamWeight].Add(24 * time.Hour) {
			out = s.weight(g.cfg, s.next[streamWeight], out)
		}
		s.pruneGaps()
	}
	return sortByTime(out)
}

// sortByTime orders readings by time, keeping the order of equal times. It
// sorts indexes, not the (large) readings.
func sortByTime(rs []vigil.Reading) []vigil.Reading {
	idx := make([]int32, len(rs))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		if c := rs[a].Time.Compare(*rs[b].Time); c != 0 {
			return c
		}
		return int(a - b)
	})
	out := make([]vigil.Reading, len(rs))
	for i, j := range idx {
		out[i] = rs[j]
	}
	return out
}

// progress is how far the scenario has gone at t, from 0 to 1.
func (s *patientState) progress(cfg Config, t time.Time) float64 {
	c := s.p.Scenario.Course()
	if c == 0 {
		return 0
	}
	return min(1, max(0, float64(t.Sub(cfg.Start)-time.Duration(s.p.Onset))/float64(c)))
}

// circadian is cos of the hour of day against a peak hour: 1 at the peak,
// −1 twelve hours away.
func circadian(t time.Time, peakHour float64) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	return math.Cos(2 * math.Pi * (h - peakHour) / 24)
}

// ar1 advances an AR(1) process with coefficient phi and stationary
// standard deviation sigma.
func ar1(x *float64, r *rand.Rand, phi, sigma float64) float64 {
	*x = phi**x + sigma*math.Sqrt(1-phi*phi)*r.NormFloat64()
	return *x
}

func (s *patientState) inGap(t time.Time) bool {
	for _, g := range s.gaps {
		if !t.Before(g.from) && t.Before(g.to) {
			return true
		}
	}
	return false
}

// drawGaps draws the device-off periods starting before t (one draw per
// hour slot, in slot order).
func (s *patientState) drawGaps(cfg Config, t time.Time) {
	if cfg.GapsPerDay < 0 {
		return
	}
	r := s.rng[streamGaps]
	for ; !s.gapsTill.After(t); s.gapsTill = s.gapsTill.Add(time.Hour) {
		if r.Float64() < cfg.GapsPerDay/24 {
			from := s.gapsTill.Add(time.Duration(r.Int64N(int64(time.Hour))))
			s.gaps = append(s.gaps, gap{from, from.Add(10*time.Minute + time.Duration(r.Int64N(int64(80*time.Minute))))})
		}
	}
}

// pruneGaps forgets the gaps that end before every stream's next reading.
func (s *patientState) pruneGaps() {
	first := s.next[streamFast]
	for _, n := range s.next[streamBP:streamGaps] {
		if n.Before(first) {
			first = n
		}
	}
	for len(s.gaps) > 0 && s.gaps[0].to.Before(first) {
		s.gaps = s.gaps[1:]
	}
}

func (s *patientState) reading(code, unit string, t time.Time, v float64) vigil.Reading {
	ts := t
	return vigil.Reading{Device: s.p.Device, Code: code, Time: &ts, Value: &v, Unit: unit}
}

func (s *patientState) fast(cfg Config, t time.Time, out []vigil.Reading) []vigil.Reading {
	r := s.rng[streamFast]
	p, e := s.progress(cfg, t), s.p.Scenario.params()
	// Draw every random number whatever is emitted, so gaps do not shift
	// the sequence.
	hr := s.base.hr + 5*circadian(t, 16) + e.hr*p + ar1(&s.ar.hr, r, 0.8, 3)
	rr := s.base.rr + 1*circadian(t, 15) + e.rr*p + ar1(&s.ar.rr, r, 0.7, 1.2)
	spo2 := s.base.spo2 + e.spo2*p + ar1(&s.ar.spo2, r, 0.6, 0.8)
	spike, lowSpO2, probeOff := r.Float64(), r.Float64(), r.Float64()
	spikeSize, lowValue, offFor := 30+40*r.Float64(), 70+15*r.Float64(), 2+r.IntN(9)
	if cfg.ArtefactRate > 0 && spike < cfg.ArtefactRate {
		hr += spikeSize // motion artefact
	}
	if cfg.ArtefactRate > 0 && lowSpO2 < cfg.ArtefactRate {
		spo2 = lowValue // poor perfusion or motion: a spurious low value
	}
	if s.inGap(t) {
		return out
	}
	out = append(out,
		s.reading(vitals.CodeHeartRate, "/min", t, clamp(math.Round(hr), 30, 220)),
		s.reading(vitals.CodeRespRate, "/min", t, clamp(math.Round(rr), 5, 60)))
	if s.dropout > 0 {
		s.dropout--
		return out
	}
	if cfg.DropoutRate > 0 && probeOff < cfg.DropoutRate {
		s.dropout = offFor - 1
		return out
	}
	return append(out, s.reading(vitals.CodeSpO2PulseOx, "%", t, clamp(math.Round(spo2), 50, 100)))
}

func (s *patientState) bp(cfg Config, t time.Time, out []vigil.Reading) []vigil.Reading {
	r := s.rng[streamBP]
	p, e := s.progress(cfg, t), s.p.Scenario.params()
	c := circadian(t, 14)
	sbp := math.Round(s.base.sbp + 7*c + e.sbp*p + 6*r.NormFloat64())
	dbp := math.Round(s.base.dbp + 4*c + e.dbp*p + 4*r.NormFloat64())
	sbp = clamp(sbp, 60, 250)
	dbp = clamp(dbp, 30, sbp-15)
	if s.inGap(t) {
		return out
	}
	ts := t
	return append(out, vigil.Reading{Device: s.p.Device, Code: vitals.CodeBPPanel, Time: &ts,
		Components: []vigil.ReadingComponent{
			{Code: vitals.CodeSystolic, Value: &sbp, Unit: "mm[Hg]"},
			{Code: vitals.CodeDiastolic, Value: &dbp, Unit: "mm[Hg]"},
		}})
}

func (s *patientState) temp(cfg Config, t time.Time, out []vigil.Reading) []vigil.Reading {
	r := s.rng[streamTemp]
	p, e := s.progress(cfg, t), s.p.Scenario.params()
	v := s.base.temp + 0.3*circadian(t, 18) + e.temp*p + ar1(&s.ar.temp, r, 0.5, 0.12)
	if s.inGap(t) {
		return out
	}
	return append(out, s.reading(vitals.CodeBodyTemp, "Cel", t, clamp(math.Round(v*10)/10, 34, 42)))
}

func (s *patientState) weight(cfg Config, t time.Time, out []vigil.Reading) []vigil.Reading {
	r := s.rng[streamWeight]
	p, e := s.progress(cfg, t), s.p.Scenario.params()
	v := s.base.weight + e.weight*p + 0.25*r.NormFloat64()
	if s.inGap(t) {
		return out
	}
	return append(out, s.reading(vitals.CodeWeight, "kg", t, math.Round(v*10)/10))
}

func clamp(v, lo, hi float64) float64 { return min(hi, max(lo, v)) }
