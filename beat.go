package vigil

import (
	"context"
	"strings"
	"time"
)

// BeatClasses are the ANSI/AAMI EC57 beat classes a Beat may have: N
// (normal and bundle-branch-block beats), S (supraventricular ectopic), V
// (ventricular ectopic), F (fusion) and Q (unclassifiable).
const BeatClasses = "NSVFQ"

// ValidBeatClass reports whether c is one of BeatClasses (one letter).
func ValidBeatClass(c string) bool { return len(c) == 1 && strings.Contains(BeatClasses, c) }

// Beat is one heartbeat of a patient's ECG lead as the streaming analysis
// found and classified it, stored for the ECG viewer and for answering
// clinicians' labels.
type Beat struct {
	Patient string
	Device  string
	// Code is the ECG lead (the Waveform.Code it was found in).
	Code string
	// Time is the R peak, UTC; stores keep millisecond precision.
	Time time.Time
	// Class is one of BeatClasses.
	Class string
	// RR is the interval from the previous beat; 0 when unknown (the
	// first beat of a stream).
	RR time.Duration
	// Model is the version of the classifier that gave Class.
	Model string
}

// BeatQuery selects beats of one patient.
type BeatQuery struct {
	Patient string
	Code    string    // "": every lead
	From    time.Time // inclusive; zero: unbounded
	To      time.Time // exclusive; zero: unbounded
	// Limit bounds the answer (stores cap it at BeatLimit).
	Limit int
}

// BeatLimit caps the beats one QueryBeats returns (and is the limit when
// the query sets none): about a day of one lead.
const BeatLimit = 150_000

// ValidateBeats checks what every BeatStore requires of a batch: patient
// and code, a time in the years 1900 to 9999, a class of BeatClasses and
// an RR interval that is not negative. Errors wrap ErrInvalid.
func ValidateBeats(beats []Beat) error {
	for i := range beats {
		b := &beats[i]
		switch {
		case b.Patient == "" || b.Code == "":
			return Errorf(ErrInvalid, "beat %d: patient and code are required", i)
		case !storableTime(b.Time):
			return Errorf(ErrInvalid, "beat %d: time is missing or outside the years 1900 to 9999", i)
		case !ValidBeatClass(b.Class):
			return Errorf(ErrInvalid, "beat %d: class must be one of N, S, V, F, Q", i)
		case b.RR < 0 || b.RR > time.Hour:
			return Errorf(ErrInvalid, "beat %d: RR interval out of range", i)
		}
	}
	return nil
}

// ECGFinding is what the streaming ECG analysis concluded about a stretch
// of a patient's ECG from the classified beats (a run of ventricular
// beats, the burden of premature ventricular or supraventricular beats) or
// from the rhythm (an atrial-fibrillation episode): a suggestion a
// clinician can confirm, reject or relabel (BeatLabel.Finding).
type ECGFinding struct {
	// ID is opaque and stable: the same finding found again has the same id.
	ID      string `json:"id"`
	Patient string `json:"patient"`
	Device  string `json:"device,omitempty"`
	Code    string `json:"code"` // ECG lead
	// Kind is "ventricular-run", "pvc-burden", "sv-run", "sv-burden",
	// "atrial-fibrillation" or "hrv" (a heart-rate variability measurement,
	// see HRV).
	Kind string `json:"kind"`
	// Rule and Severity are those of the alert the finding raised; ""
	// when it raised none.
	Rule     string `json:"rule,omitempty"`
	Severity string `json:"severity,omitempty"`
	// Title is a short text without patient identifiers.
	Title string `json:"title"`
	// Start and End bound the stretch of ECG the finding is about.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Beats is the number of beats of the finding's class (the run's
	// length, the ectopic beats of the burden window); Total the beats
	// classified in the window (burden findings). For "hrv" findings,
	// Beats counts the NN intervals and Total all RR intervals.
	Beats int `json:"beats"`
	Total int `json:"total,omitempty"`
	// BurdenPct is Beats/Total in per cent (burden findings).
	BurdenPct float64 `json:"burden_pct,omitempty"`
	// RateBPM is the rate of a run, beats per minute.
	RateBPM float64 `json:"rate_bpm,omitempty"`
	// Model is the version of the beat classifier whose classes the
	// finding rests on ("" for rhythm findings).
	Model string `json:"model,omitempty"`
	// Explanation says in plain language why, from the top feature
	// attributions of representative beats, such as "short preceding RR
	// (0.41 s vs 0.83 s average), wide QRS (148 ms)".
	Explanation string `json:"explanation"`
	// Evidence lists the R peaks of the beats the finding shows (a run's
	// beats, examples of a burden), at most MaxEvidence.
	Evidence []time.Time `json:"evidence,omitempty"`
	// Found is when the analysis reported it.
	Found time.Time `json:"found"`
	// HRV holds the measures of an "hrv" finding; nil for other kinds.
	HRV *HRVMeasures `json:"hrv,omitempty"`
}

// HRVMeasures are the heart-rate variability measures of one stretch of
// ECG over its NN intervals (intervals between two normal beats), after
// the Task Force of the ESC and NASPE, "Heart rate variability: standards
// of measurement, physiological interpretation and clinical use",
// Circulation 93:1043–1065 (1996), tables 1 and 2. Frequency measures are
// nil when the stretch has too few intervals for them.
type HRVMeasures struct {
	// NN is the number of NN intervals measured, Intervals the number of
	// RR intervals in the stretch (the others touch an ectopic or
	// unreadable beat, or are implausibly short or long).
	NN        int `json:"nn"`
	Intervals int `json:"intervals"`
	// MeanNN, SDNN and RMSSD are in milliseconds; PNN50 in per cent.
	MeanNN float64 `json:"mean_nn_ms"`
	SDNN   float64 `json:"sdnn_ms"`
	RMSSD  float64 `json:"rmssd_ms"`
	PNN50  float64 `json:"pnn50_pct"`
	// LF (0.04–0.15 Hz) and HF (0.15–0.4 Hz) powers in ms², and LF/HF.
	LF   *float64 `json:"lf_ms2,omitempty"`
	HF   *float64 `json:"hf_ms2,omitempty"`
	LFHF *float64 `json:"lf_hf,omitempty"`
}

// MaxEvidence bounds ECGFinding.Evidence.
const MaxEvidence = 64

// Validate checks what every BeatStore requires of a finding. Errors wrap
// ErrInvalid.
func (f *ECGFinding) Validate() error {
	switch {
	case f.ID == "" || f.Patient == "" || f.Kind == "":
		return Errorf(ErrInvalid, "ECG finding: id, patient and kind are required")
	case !storableTime(f.Start) || !storableTime(f.End) || f.End.Before(f.Start):
		return Errorf(ErrInvalid, "ECG finding: start and end must be times in the years 1900 to 9999, start first")
	case len(f.Evidence) > MaxEvidence:
		return Errorf(ErrInvalid, "ECG finding: more than %d evidence beats", MaxEvidence)
	}
	return nil
}

// ECGFindingQuery selects findings of one patient whose Start is in
// [From, To); zero bounds do not filter.
type ECGFindingQuery struct {
	Patient  string
	From, To time.Time
	Kind     string // "": every kind
	Limit    int    // 0: stores cap it at FindingLimit
}

// FindingLimit caps the findings one ECGFindings returns (and is the limit
// when the query sets none).
const FindingLimit = 1000

// Check returns the limit a store applies to q (Limit capped at
// FindingLimit), or an error wrapping ErrInvalid when q names no patient.
func (q *ECGFindingQuery) Check() (limit int, err error) {
	return checkQuery("finding", q.Patient, q.Limit, FindingLimit)
}

// Check returns the limit a store applies to q (Limit capped at
// BeatLimit), or an error wrapping ErrInvalid when q names no patient.
func (q *BeatQuery) Check() (limit int, err error) {
	return checkQuery("beat", q.Patient, q.Limit, BeatLimit)
}

func checkQuery(what, patient string, limit, max int) (int, error) {
	if patient == "" {
		return 0, Errorf(ErrInvalid, "%s query: patient is required", what)
	}
	if limit <= 0 || limit > max {
		limit = max
	}
	return limit, nil
}

// BeatStore keeps the beats and ECG findings of the streaming analysis.
// Implementations are safe for concurrent use.
type BeatStore interface {
	// AppendBeats stores beats durably, all or none; a beat with the
	// same patient, code, device and time as a stored one is kept once.
	// It fails with ErrInvalid as ValidateBeats says.
	AppendBeats(ctx context.Context, beats []Beat) error
	// QueryBeats returns beats in time order (then code and device).
	QueryBeats(ctx context.Context, q *BeatQuery) ([]Beat, error)
	// AddECGFindings stores findings durably; a finding with the id of a
	// stored one replaces it (a burden updated as it grows).
	AddECGFindings(ctx context.Context, fs []ECGFinding) error
	// ECGFindings returns findings newest Start first.
	ECGFindings(ctx context.Context, q *ECGFindingQuery) ([]ECGFinding, error)
	// ECGFinding returns one finding of a patient, or ErrNotFound.
	ECGFinding(ctx context.Context, patient, id string) (*ECGFinding, error)
}

// The actions of a BeatLabel.
const (
	LabelConfirm = "confirm"
	LabelReject  = "reject"
	LabelRelabel = "relabel"
)

// MaxBeatLabels bounds the labels one AddBeatLabels call stores.
const MaxBeatLabels = 5000

// ValidateBeatLabels checks what every BeatLabelStore requires of a batch:
// patient, code and a time in the years 1900 to 9999; an action of
// confirm (Label equal to a Suggested class), reject (no Label) or relabel
// (Label a class other than Suggested); Suggested and Label from
// BeatClasses; who answered and when. Errors wrap ErrInvalid.
func ValidateBeatLabels(labels []BeatLabel) error {
	if len(labels) > MaxBeatLabels {
		return Errorf(ErrInvalid, "at most %d labels at a time", MaxBeatLabels)
	}
	for i := range labels {
		l := &labels[i]
		switch {
		case l.Patient == "" || l.Code == "":
			return Errorf(ErrInvalid, "label %d: patient and code are required", i)
		case !storableTime(l.Time) || !storableTime(l.At):
			return Errorf(ErrInvalid, "label %d: beat time and answer time must be in the years 1900 to 9999", i)
		case l.By == "":
			return Errorf(ErrInvalid, "label %d: who answered is required", i)
		case l.Suggested != "" && !ValidBeatClass(l.Suggested):
			return Errorf(ErrInvalid, "label %d: suggested class must be one of N, S, V, F, Q", i)
		}
		switch l.Action {
		case LabelConfirm:
			if l.Suggested == "" || l.Label != l.Suggested {
				return Errorf(ErrInvalid, "label %d: a confirmation repeats the suggested class", i)
			}
		case LabelReject:
			if l.Label != "" {
				return Errorf(ErrInvalid, "label %d: a rejection names no class (relabel to give one)", i)
			}
		case LabelRelabel:
			if !ValidBeatClass(l.Label) || l.Label == l.Suggested {
				return Errorf(ErrInvalid, "label %d: a relabel gives a class of N, S, V, F, Q other than the suggested one", i)
			}
		default:
			return Errorf(ErrInvalid, "label %d: action must be confirm, reject or relabel", i)
		}
	}
	return nil
}
