package vigil

import (
	"context"
	"time"
)

// BeatLabel is a clinician's answer to the beat classifier about one ECG
// beat: it confirms the model's class, rejects it, or relabels the beat.
// Labels are the feedback that adapts the classification for the patient
// and, accumulated, retrains the global model (issue #6).
type BeatLabel struct {
	// Patient is the Patient id the beat belongs to.
	Patient string `json:"patient"`
	// Code is the LOINC code of the ECG lead the beat was found in (the
	// Waveform.Code), so that the signal around it can be read back.
	Code string `json:"code"`
	// Time is the beat's fiducial point (R peak), UTC.
	Time time.Time `json:"time"`
	// Suggested is the model's AAMI class (N, S, V, F or Q); "" when the
	// clinician labelled a beat the model did not classify.
	Suggested string `json:"suggested,omitempty"`
	// Label is the class the clinician gives: equal to Suggested for a
	// confirmation, another class for a relabel, "" for a rejection that
	// names no class.
	Label string `json:"label,omitempty"`
	// Action is "confirm", "reject" or "relabel".
	Action string `json:"action"`
	// Model is the version of the model whose suggestion was answered.
	Model string `json:"model,omitempty"`
	// Finding is the id of the finding (suggestion) answered, if any.
	Finding string `json:"finding,omitempty"`
	// By is the answering account's id; At is when it answered.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// BeatLabelQuery selects labels; zero fields do not filter.
type BeatLabelQuery struct {
	Patient      string
	Since, Until time.Time // label At in [Since, Until)
	Model        string
	Limit        int // 0: all
}

// BeatLabelStore keeps clinicians' beat labels. Labels are appended, never
// changed: a later answer about the same beat supersedes an earlier one
// for training, and both stay for the record.
type BeatLabelStore interface {
	// AddBeatLabels stores labels durably, all or none.
	AddBeatLabels(ctx context.Context, labels []BeatLabel) error
	// BeatLabels returns the labels matching q, oldest first.
	BeatLabels(ctx context.Context, q BeatLabelQuery) ([]BeatLabel, error)
}
