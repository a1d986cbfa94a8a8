package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/vitals"
)

// Config configures a Service.
type Config struct {
	// Samples stores what is accepted. Required.
	Samples vigil.SampleStore
	// DeviceBindings returns a device's binding history (which patient
	// it was bound to when): a reading is the patient's bound at the time
	// it was taken. Required.
	DeviceBindings func(ctx context.Context, device string) (vigil.DeviceBindings, error)
	// SeesPatient reports whether the principal of ctx may see (and so
	// record readings for) a patient; used for clinicians. Nil: clinicians
	// may not submit.
	SeesPatient func(ctx context.Context, patient string) (bool, error)
	// Sink receives the newly stored samples and waveforms (not the
	// duplicates), after they are durable. Nil: none.
	Sink func(ctx context.Context, samples []vigil.Sample, waves []vigil.Waveform)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxFuture is how far ahead of the server clock a reading may be
	// stamped (device clock skew); later ones are rejected. Default 5 min.
	MaxFuture time.Duration
	// MaxItems bounds a batch (default 10,000).
	MaxItems int
	// Horizon, when set, is told about every batch from before its
	// received time is taken until its readings are stored, so that FHIR
	// clients polling by _lastUpdated (which is the received time of a
	// reading) are told from when to ask next without missing a batch
	// that commits late (vigil.WriteHorizon). Nil: not tracked.
	Horizon *vigil.WriteHorizon
	// Audit, when set, records each batch that did not come over HTTP (the
	// HTTP layer audits its own requests): the source and the patients
	// whose readings were stored or already there. An error fails the
	// batch (the sender retries; storage is idempotent).
	Audit func(ctx context.Context, source string, patients []string) error
}

// Service implements vigil.Ingester.
type Service struct {
	cfg Config
}

var _ vigil.Ingester = (*Service)(nil)

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Samples == nil || cfg.DeviceBindings == nil {
		return nil, errors.New("ingest: Config.Samples and DeviceBindings are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxFuture <= 0 {
		cfg.MaxFuture = DefaultMaxFuture
	}
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = 10000
	}
	return &Service{cfg: cfg}, nil
}

// earliest is the oldest time a reading may carry.
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultMaxFuture is how far ahead of the server clock a reading may be
// stamped (device clock skew).
const DefaultMaxFuture = 5 * time.Minute

// timeProblem says what is wrong with a reading's time, or "".
func timeProblem(t, now time.Time, maxFuture time.Duration) string {
	switch {
	case t.After(now.Add(maxFuture)):
		return "time is in the future"
	case t.Before(earliest):
		return "time is before 2000"
	}
	return ""
}

// CheckTimes drops the samples whose time ingestion would reject (in the
// future beyond DefaultMaxFuture, or before 2000): the FHIR path applies
// it so that a far-future value cannot mask newer readings.
func CheckTimes(ss []vigil.Sample, now time.Time) []vigil.Sample {
	return slices.DeleteFunc(ss, func(s vigil.Sample) bool { return timeProblem(s.Time, now, DefaultMaxFuture) != "" })
}

// ECG lead codes accepted for waveforms: ISO/IEEE 11073-10101 MDC codes
// (partition 2) of the standard leads, as FHIR examples use them with
// system urn:oid:2.16.840.1.113883.6.24.
var waveCodes = map[string]string{
	"131329": "MDC_ECG_LEAD_I", "131330": "MDC_ECG_LEAD_II", "131389": "MDC_ECG_LEAD_III",
	"131390": "MDC_ECG_LEAD_AVR", "131391": "MDC_ECG_LEAD_AVL", "131392": "MDC_ECG_LEAD_AVF",
	"131331": "MDC_ECG_LEAD_V1", "131332": "MDC_ECG_LEAD_V2", "131333": "MDC_ECG_LEAD_V3",
	"131334": "MDC_ECG_LEAD_V4", "131335": "MDC_ECG_LEAD_V5", "131336": "MDC_ECG_LEAD_V6",
}

// IsWaveformCode reports whether code names an accepted waveform (an ECG
// lead).
func IsWaveformCode(code string) bool { _, ok := waveCodes[code]; return ok }

// Limits of a waveform chunk.
const (
	maxWaveSamples = 100000
	maxRateHz      = 10000
)

// errNotBound is the one answer to every reading whose device or patient
// the caller may not submit for, so that nobody learns from it which
// patient a device belongs to.
const errNotBound = "the reading's device or patient is not one this account may submit for (device bound to no patient at the reading's time, or to another)"

// item is one reading on its way through a batch.
type item struct {
	samples []int // indexes into the batch's samples
	wave    int   // index into waves, or -1
	err     string
}

// Ingest implements vigil.Ingester.
func (s *Service) Ingest(ctx context.Context, source string, items []vigil.Reading) ([]vigil.ItemResult, error) {
	p := vigil.PrincipalFrom(ctx)
	if p == nil {
		return nil, vigil.Errorf(vigil.ErrUnauthorized, "authentication required")
	}
	if p.NeedsSecondFactor {
		return nil, vigil.Errorf(vigil.ErrForbidden, "enrol a second factor first")
	}
	switch p.Role {
	case vigil.RoleDevice, vigil.RolePatient, vigil.RoleClinician:
		if p.Scopes != nil && !vigil.Allows(p.Scopes, "Observation", true) {
			return nil, vigil.Errorf(vigil.ErrForbidden, "the token's scopes do not allow submitting observations")
		}
	case vigil.RoleService:
		if !vigil.Allows(p.Scopes, "Observation", true) {
			return nil, vigil.Errorf(vigil.ErrForbidden, "a service needs system/Observation.write to submit readings")
		}
	default:
		return nil, vigil.Errorf(vigil.ErrForbidden, "this account may not submit readings")
	}
	if len(items) > s.cfg.MaxItems {
		return nil, vigil.Errorf(vigil.ErrTooLarge, "a batch holds at most %d readings", s.cfg.MaxItems)
	}
	defer s.cfg.Horizon.Begin(func() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) })()
	now := s.cfg.Now().UTC()
	b := &batch{s: s, p: p, now: now, source: source, bound: map[string]vigil.DeviceBindings{}, seen: map[string]bool{}}
	st := make([]item, len(items))
	for i := range items {
		st[i] = b.prepare(ctx, &items[i])
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if b.fatal != nil {
			return nil, b.fatal
		}
	}
	var stored []bool
	if len(b.samples) > 0 {
		var err error
		if stored, err = s.cfg.Samples.AppendSamples(ctx, b.samples); err != nil {
			return nil, fmt.Errorf("ingest: store samples: %w", err)
		}
	}
	waveStored := make([]bool, len(b.waves))
	for i := range b.waves {
		ok, err := s.cfg.Samples.AppendWaveform(ctx, &b.waves[i])
		if err != nil {
			return nil, fmt.Errorf("ingest: store waveform: %w", err)
		}
		waveStored[i] = ok
	}
	out := make([]vigil.ItemResult, len(items))
	var newSamples []vigil.Sample
	var newWaves []vigil.Waveform
	for i, it := range st {
		out[i].Index = i
		switch {
		case it.err != "":
			out[i].Status, out[i].Error = vigil.ItemRejected, it.err
		case it.wave >= 0:
			out[i].Status = vigil.ItemDuplicate
			out[i].Patient = b.waves[it.wave].Patient
			if waveStored[it.wave] {
				out[i].Status = vigil.ItemStored
				newWaves = append(newWaves, b.waves[it.wave])
			}
		default:
			out[i].Status = vigil.ItemDuplicate
			if len(it.samples) > 0 {
				out[i].Patient = b.samples[it.samples[0]].Patient
			}
			for _, k := range it.samples {
				if stored[k] {
					out[i].Status = vigil.ItemStored
					newSamples = append(newSamples, b.samples[k])
				}
			}
		}
	}
	if s.cfg.Audit != nil && source != "http" {
		var patients []string
		for i := range out {
			if out[i].Patient != "" && !slices.Contains(patients, out[i].Patient) {
				patients = append(patients, out[i].Patient)
			}
		}
		if err := s.cfg.Audit(ctx, source, patients); err != nil {
			return nil, fmt.Errorf("ingest: audit: %w", err)
		}
	}
	if s.cfg.Sink != nil && (len(newSamples) > 0 || len(newWaves) > 0) {
		s.cfg.Sink(ctx, newSamples, newWaves)
	}
	return out, nil
}

// batch collects the normalised content of one Ingest call.
type batch struct {
	s       *Service
	p       *vigil.Principal
	now     time.Time
	source  string
	bound   map[string]vigil.DeviceBindings // device → binding history, per batch
	seen    map[string]bool                 // patients a clinician may see
	samples []vigil.Sample
	waves   []vigil.Waveform
	fatal   error
}

// patientFor resolves and authorizes the patient of a reading; it returns
// a rejection text when the reading may not be stored.
func (b *batch) patientFor(ctx context.Context, r *vigil.Reading) (device, patient, reject string) {
	device, patient = r.Device, r.Patient
	p := b.p
	if p.Role == vigil.RoleDevice {
		if device == "" {
			device = p.Device
		}
		if device != p.Device {
			return "", "", errNotBound
		}
	}
	if device != "" {
		bs, ok := b.bound[device]
		if !ok {
			var err error
			bs, err = b.s.cfg.DeviceBindings(ctx, device)
			if err != nil {
				b.fatal = fmt.Errorf("ingest: device binding: %w", err)
				return "", "", ""
			}
			b.bound[device] = bs
		}
		// The patient bound when the reading was taken: for a waveform
		// chunk at its start and at its last sample (a chunk across a
		// change of patient is refused).
		var bp string
		switch {
		case r.Start != nil && r.RateHz > 0 && len(r.Samples) > 0:
			last := r.Start.Add(time.Duration(float64(len(r.Samples)-1) / r.RateHz * float64(time.Second)))
			if bp = bs.At(*r.Start); bs.At(last) != bp {
				bp = ""
			}
		case r.Start != nil:
			bp = bs.At(*r.Start)
		case r.Time != nil:
			bp = bs.At(*r.Time)
		default:
			bp = bs.At(b.now)
		}
		if bp == "" || (patient != "" && patient != bp) {
			return "", "", errNotBound
		}
		patient = bp
	}
	if patient == "" {
		if p.Role == vigil.RolePatient {
			patient = p.Patient
		} else {
			return "", "", "a reading needs a device (bound to a patient) or a patient"
		}
	}
	switch p.Role {
	case vigil.RolePatient:
		if patient != p.Patient {
			return "", "", errNotBound
		}
	case vigil.RoleClinician:
		ok, known := b.seen[patient]
		if !known {
			if b.s.cfg.SeesPatient == nil {
				ok = false
			} else {
				var err error
				if ok, err = b.s.cfg.SeesPatient(ctx, patient); err != nil {
					b.fatal = err
					return "", "", ""
				}
			}
			b.seen[patient] = ok
		}
		if !ok {
			return "", "", errNotBound
		}
	}
	return device, patient, ""
}

func (b *batch) prepare(ctx context.Context, r *vigil.Reading) item {
	it := item{wave: -1}
	reject := func(msg string) item { it.err = msg; return it }
	if r.Code == "" {
		return reject("code is required")
	}
	device, patient, why := b.patientFor(ctx, r)
	if why != "" || b.fatal != nil {
		return reject(why)
	}
	if len(r.Samples) > 0 || r.RateHz != 0 || r.Start != nil {
		return b.prepareWave(r, device, patient)
	}
	if r.Time == nil {
		return reject("time is required")
	}
	t := r.Time.UTC().Truncate(time.Millisecond)
	if msg := timeProblem(t, b.now, b.s.cfg.MaxFuture); msg != "" {
		return reject(msg)
	}
	add := func(code string, value *float64, unit string) string {
		if value == nil {
			return "value is required"
		}
		rd, err := vitals.Normalize(code, *value, unit)
		if err != nil {
			return vigil.PublicMessage(err)
		}
		it.samples = append(it.samples, len(b.samples))
		b.samples = append(b.samples, vigil.Sample{Patient: patient, Device: device, Code: rd.Code, Time: t, Value: rd.Value,
			Unit: rd.Unit, Received: b.now, Source: b.source})
		return ""
	}
	if len(r.Components) > 0 {
		if r.Code != vitals.CodeBPPanel {
			return reject("only the blood-pressure panel (85354-9) has components")
		}
		if r.Value != nil {
			return reject("a panel carries its values in components")
		}
		var sys, dia *float64
		for _, c := range r.Components {
			switch c.Code {
			case vitals.CodeSystolic:
				sys = c.Value
			case vitals.CodeDiastolic:
				dia = c.Value
			default:
				return reject("blood-pressure components are systolic (8480-6) and diastolic (8462-4)")
			}
		}
		n := len(b.samples)
		for _, c := range r.Components {
			if msg := add(c.Code, c.Value, c.Unit); msg != "" {
				b.samples = b.samples[:n]
				return reject(msg)
			}
		}
		if sys != nil && dia != nil && *dia >= *sys {
			b.samples = b.samples[:n]
			it.samples = nil
			return reject("diastolic pressure must be below systolic")
		}
		return it
	}
	if r.Code == vitals.CodeBPPanel {
		return reject("a blood-pressure panel needs systolic and diastolic components")
	}
	if msg := add(r.Code, r.Value, r.Unit); msg != "" {
		return reject(msg)
	}
	return it
}

func (b *batch) prepareWave(r *vigil.Reading, device, patient string) item {
	it := item{wave: -1}
	reject := func(msg string) item { it.err = msg; return it }
	if !IsWaveformCode(r.Code) {
		return reject("unknown waveform code (want an MDC ECG lead code such as 131330 for lead II)")
	}
	switch {
	case r.Start == nil:
		return reject("a waveform chunk needs start")
	case !(r.RateHz > 0 && r.RateHz <= maxRateHz):
		return reject(fmt.Sprintf("rate_hz must be in (0, %d]", maxRateHz))
	case !(r.Gain > 0) || math.IsInf(r.Gain, 0):
		return reject("gain must be a positive number")
	case len(r.Samples) == 0:
		return reject("a waveform chunk needs samples")
	case len(r.Samples) > maxWaveSamples:
		return reject(fmt.Sprintf("a waveform chunk holds at most %d samples", maxWaveSamples))
	case r.Unit != "mV" && r.Unit != "uV":
		return reject("waveform unit must be mV or uV")
	}
	start := r.Start.UTC().Truncate(time.Millisecond)
	if msg := timeProblem(start, b.now, b.s.cfg.MaxFuture); msg != "" {
		return reject(msg)
	}
	it.wave = len(b.waves)
	b.waves = append(b.waves, vigil.Waveform{Patient: patient, Device: device, Code: r.Code, Start: start, RateHz: r.RateHz,
		Gain: r.Gain, Unit: r.Unit, Samples: r.Samples, Received: b.now, Source: b.source})
	return it
}
