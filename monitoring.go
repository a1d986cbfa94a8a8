package vigil

import (
	"context"
	"math"
	"time"
)

// Sample is one stored vital-sign reading, already normalised at ingest
// (package vitals): Code is a LOINC code, Value is in Unit, the code's
// canonical UCUM unit. Samples are stored compactly (not as FHIR JSON) and
// shown to FHIR clients as Observations.
type Sample struct {
	Patient string    `json:"patient"`          // Patient id
	Device  string    `json:"device,omitempty"` // Device id, "" when entered by hand or unknown
	Code    string    `json:"code"`             // LOINC
	Time    time.Time `json:"time"`             // when measured (effective time), UTC, millisecond precision
	Value   float64   `json:"value"`
	Unit    string    `json:"unit"` // canonical UCUM unit
	// Received is when Vigil accepted it (UTC).
	Received time.Time `json:"received"`
	// Source is the ingestion path: "http", "mqtt", "hl7", "fhir", "sim";
	// "ecg" for heart rates Vigil derived from an ECG stream.
	Source string `json:"source,omitempty"`
}

// SampleKey identifies a sample for idempotency: the same patient, code,
// device and time is the same reading, whatever path it came by again.
type SampleKey struct {
	Patient string
	Code    string
	Device  string
	Time    time.Time
}

// Key returns the sample's idempotency key.
func (s *Sample) Key() SampleKey {
	return SampleKey{Patient: s.Patient, Code: s.Code, Device: s.Device, Time: s.Time}
}

// Waveform is one chunk of a sampled signal (ECG), stored compressed.
type Waveform struct {
	Patient string
	Device  string
	Code    string    // e.g. LOINC 131328 (MDC ECG lead) or a Vigil code
	Start   time.Time // time of Samples[0], UTC
	RateHz  float64   // samples per second
	Gain    float64   // physical units per ADC unit (e.g. mV per count)
	Unit    string    // physical unit, e.g. "mV"
	Samples []int32   // raw ADC values
	// Received and Source as for Sample.
	Received time.Time
	Source   string
}

// End returns the time just after the last sample.
func (w *Waveform) End() time.Time {
	if w.RateHz <= 0 {
		return w.Start
	}
	return w.Start.Add(time.Duration(float64(len(w.Samples)) / w.RateHz * float64(time.Second)))
}

// SampleQuery selects samples of one patient.
type SampleQuery struct {
	Patient string
	Codes   []string  // empty: all codes
	From    time.Time // inclusive; zero: unbounded
	To      time.Time // exclusive; zero: unbounded
	// Limit bounds the answer (stores cap it); Desc returns newest first.
	Limit int
	Desc  bool
}

// SampleStore keeps vital-sign samples and waveform chunks. Implementations
// are safe for concurrent use.
type SampleStore interface {
	// AppendSamples stores samples durably (it returns after commit). The
	// result says, per sample, whether it was stored (true) or was a
	// duplicate of a stored one (false: same SampleKey), which is not an
	// error. Either all of the batch is committed or none. A duplicate
	// whose Source is "fhir" (the copy of an Observation stored through the
	// FHIR API) makes the stored sample's Source "fhir" too: the reading is
	// then shown through that Observation only, not a second time.
	AppendSamples(ctx context.Context, s []Sample) ([]bool, error)
	// AppendWaveform stores one chunk durably; false when a chunk with the
	// same patient, device, code and start is already stored.
	AppendWaveform(ctx context.Context, w *Waveform) (bool, error)
	// QuerySamples returns samples in time order (newest first with Desc).
	QuerySamples(ctx context.Context, q *SampleQuery) ([]Sample, error)
	// LatestSamples returns the newest sample of each code of a patient.
	LatestSamples(ctx context.Context, patient string) ([]Sample, error)
	// QueryWaveforms returns the chunks of a patient and code overlapping
	// [from, to), in start order.
	QueryWaveforms(ctx context.Context, patient, code string, from, to time.Time) ([]Waveform, error)
	Close() error
}

// AlertStatus is the lifecycle state of an alert.
type AlertStatus string

// The alert lifecycle: open → acknowledged → resolved.
const (
	AlertOpen         AlertStatus = "open"
	AlertAcknowledged AlertStatus = "acknowledged"
	AlertResolved     AlertStatus = "resolved"
)

// Alert is a finding that needs a clinician: one open alert per patient
// and rule at a time.
type Alert struct {
	ID       string      `json:"id"`
	Patient  string      `json:"patient"`
	Rule     string      `json:"rule"`     // e.g. "news2", "spo2-low-5min", "missing-data"
	Severity string      `json:"severity"` // "low", "medium", "high", "critical"
	Status   AlertStatus `json:"status"`
	Title    string      `json:"title"` // short, no patient identifiers
	Created  time.Time   `json:"created"`
	Updated  time.Time   `json:"updated"`
	// Readings are the samples that triggered the alert.
	Readings []Sample `json:"readings"`
	// Lifecycle: who acknowledged or resolved it, when, with what note.
	AckBy        string    `json:"ack_by,omitempty"`
	AckAt        time.Time `json:"ack_at,omitzero"`
	ResolvedBy   string    `json:"resolved_by,omitempty"`
	ResolvedAt   time.Time `json:"resolved_at,omitzero"`
	Note         string    `json:"note,omitempty"`
	SnoozedUntil time.Time `json:"snoozed_until,omitzero"`
	// Escalations counts how many times it was escalated for want of an
	// acknowledgement.
	Escalations int `json:"escalations"`
}

// MaxWaveformDuration is the longest waveform chunk a SampleStore accepts,
// so that one key range finds every chunk overlapping a time window.
const MaxWaveformDuration = time.Hour

// ValidateSamples checks what every SampleStore requires of a batch: a
// patient, a code, a time in the years 1900 to 9999 (PostgreSQL names its
// partitions by four-digit year) and a finite value. Errors wrap
// ErrInvalid and name the sample's index.
func ValidateSamples(batch []Sample) error {
	for i := range batch {
		s := &batch[i]
		switch {
		case s.Patient == "" || s.Code == "":
			return Errorf(ErrInvalid, "sample %d: patient and code are required", i)
		case !storableTime(s.Time):
			return Errorf(ErrInvalid, "sample %d: time is missing or outside the years 1900 to 9999", i)
		case math.IsNaN(s.Value) || math.IsInf(s.Value, 0):
			return Errorf(ErrInvalid, "sample %d: value is not a finite number", i)
		}
	}
	return nil
}

// Validate checks what every SampleStore requires of a waveform chunk.
// Errors wrap ErrInvalid.
func (w *Waveform) Validate() error {
	switch {
	case w.Patient == "" || w.Code == "":
		return Errorf(ErrInvalid, "waveform: patient and code are required")
	case !storableTime(w.Start):
		return Errorf(ErrInvalid, "waveform: start is missing or outside the years 1900 to 9999")
	case !(w.RateHz > 0) || math.IsInf(w.RateHz, 0):
		return Errorf(ErrInvalid, "waveform: rate must be a positive number")
	case math.IsNaN(w.Gain) || math.IsInf(w.Gain, 0):
		return Errorf(ErrInvalid, "waveform: gain is not a finite number")
	case float64(len(w.Samples))/w.RateHz > MaxWaveformDuration.Seconds():
		return Errorf(ErrInvalid, "waveform: chunk longer than %v", MaxWaveformDuration)
	}
	return nil
}

// storableTime reports whether t is in the years 1900 to 9999.
func storableTime(t time.Time) bool {
	y := t.UTC().Year()
	return 1900 <= y && y <= 9999
}
