package monitor

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// ECGConfig configures the beat classification of the streaming ECG
// analysis: every beat the detector finds is classified (N, S, V, F, Q)
// once the beat after it is known, stored with its class for the ECG
// viewer, and summarised into findings (runs of ventricular or
// supraventricular beats, their burden) that raise alerts.
type ECGConfig struct {
	// Off turns beat classification off: beats, heart rate and rhythm
	// are analysed as before, nothing is classified or stored.
	Off bool
	// Classifier is the active beat model; nil: beatclass.Default(), the
	// model that ships with Vigil.
	Classifier *beatclass.Classifier
	// Beats receives the classified beats and the findings; nil: they are
	// not stored (the alerts are raised all the same).
	Beats vigil.BeatStore
	// Labels, when set, holds clinicians' beat labels: a patient's
	// confirmed and relabelled beats adapt the classifier for that patient
	// (beatclass Adapt) when the patient's stream starts, and again after
	// LabelsChanged. Adaptation also needs Beats and Samples (the stored
	// signal around the labelled beats).
	Labels vigil.BeatLabelStore
	// BurdenWindow is the span over which the burden of ventricular and
	// supraventricular beats is measured (default 1 hour).
	BurdenWindow time.Duration
	// BurdenPct is the burden that raises a finding, in per cent of the
	// classified beats of the window (default 10); the finding clears
	// below half of it.
	BurdenPct float64
	// BurdenMinBeats is the least number of classified beats in the window
	// before a burden is judged (default 300, about 4 minutes).
	BurdenMinBeats int
	// RunBeats is the least number of consecutive ectopic beats that make
	// a run (default 3: a ventricular triplet is non-sustained VT).
	RunBeats int
	// Sustained is the length from which a run of ventricular beats above
	// 100/min is sustained ventricular tachycardia (default 30 s).
	Sustained time.Duration

	// active is the model in use (Classifier, then SetECGClassifier's),
	// shared by the copies of the config.
	active *atomic.Pointer[beatclass.Classifier]
}

func (c *ECGConfig) setDefaults() error {
	if c.Off {
		return nil
	}
	if c.Classifier == nil {
		d, err := beatclass.Default()
		if err != nil {
			return fmt.Errorf("monitor: load the default beat model: %w", err)
		}
		c.Classifier = d
	}
	c.active = new(atomic.Pointer[beatclass.Classifier])
	c.active.Store(c.Classifier)
	if c.BurdenWindow <= 0 {
		c.BurdenWindow = time.Hour
	}
	if c.BurdenPct <= 0 {
		c.BurdenPct = 10
	}
	if c.BurdenMinBeats <= 0 {
		c.BurdenMinBeats = 300
	}
	if c.RunBeats <= 0 {
		c.RunBeats = 3
	}
	if c.Sustained <= 0 {
		c.Sustained = 30 * time.Second
	}
	if c.BurdenWindow > maxBurdenMinutes*time.Minute {
		return vigil.Errorf(vigil.ErrInvalid, "monitor: ECG burden window longer than %d minutes", maxBurdenMinutes)
	}
	return nil
}

// SetECGClassifier makes c the active beat model (a promotion or a
// rollback in the model registry): each lead's stream switches to it with
// its next chunk (a patient-adapted model is rebuilt on c). It does
// nothing when classification is off. Safe for concurrent use.
func (m *Monitor) SetECGClassifier(c *beatclass.Classifier) {
	if m.cfg.ECG.Off || c == nil {
		return
	}
	m.cfg.ECG.active.Store(c)
}

// ECGModel returns the version of the active beat model ("" when
// classification is off).
func (m *Monitor) ECGModel() string {
	if m.cfg.ECG.Off {
		return ""
	}
	return m.cfg.ECG.active.Load().Version()
}
