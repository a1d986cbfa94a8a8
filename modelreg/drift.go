package modelreg

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// ECGLeads are the waveform codes a drift report reads by default: the
// ISO/IEEE 11073-10101 MDC codes of the twelve standard leads, the codes
// ingestion accepts for ECG waveforms.
var ECGLeads = []string{"131329", "131330", "131389", "131390", "131391", "131392",
	"131331", "131332", "131333", "131334", "131335", "131336"}

// DriftConfig is the input of DriftReport.
type DriftConfig struct {
	// Samples is the store the recent waveforms are read from, for
	// Patients (ids) on the Leads (nil: ECGLeads), from From to To.
	Samples  vigil.SampleStore
	Patients []string
	Leads    []string
	From, To time.Time
	// Classifier labels the recent beats (the active model) and Summary is
	// its training summary (Version.Summary).
	Classifier *beatclass.Classifier
	Summary    *beatclass.Summary
	// Beats, when set, is the store of the beats the server classified:
	// the class mix it served in the window (with the classifier's model
	// version) is reported beside the re-labelled one.
	Beats vigil.BeatStore
	// MaxBeats stops reading once this many beats are counted (0: no limit).
	MaxBeats int
	// Log, if set, receives progress messages.
	Log func(msg string)
}

// DriftResult is a drift report and what it was computed from.
type DriftResult struct {
	beatclass.DriftReport
	// Series is the number of patient leads with signal in the window,
	// Hours the hours of signal read.
	Series int
	Hours  float64
	// Truncated is true when MaxBeats stopped the reading.
	Truncated bool
	// Served counts, by class (Classes order), the stored beats the server
	// labelled with the classifier's model version in the window;
	// ServedOther those labelled by other versions. ServedPSI compares the
	// served class mix with the training one (NaN without served beats).
	Served      [len(beatclass.Classes)]int
	ServedOther int
	ServedPSI   float64
	ServedLevel string
}

// driftWindow is the span of signal read at a time; driftContext the
// signal read before it so that its first beats have their RR history and
// template (their features are not counted twice: only beats inside the
// window are).
const (
	driftWindow  = time.Hour
	driftContext = 5 * time.Minute
)

// DriftReport compares recent beats with a model's training beats. For each
// patient and lead it reads the stored waveforms hour by hour, detects the
// beats with Vigil's QRS detector, computes their features and labels them
// with the classifier (as the server would have), and accumulates the
// feature histograms and class mix that beatclass.Drift compares with the
// training summary.
func DriftReport(ctx context.Context, cfg DriftConfig) (*DriftResult, error) {
	if cfg.Samples == nil || cfg.Classifier == nil || cfg.Summary == nil {
		return nil, vigil.Errorf(vigil.ErrInvalid, "drift report needs a sample store, a classifier and a training summary")
	}
	if err := cfg.Summary.Check(); err != nil {
		return nil, err
	}
	if !cfg.From.Before(cfg.To) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "drift window is empty")
	}
	leads := cfg.Leads
	if leads == nil {
		leads = ECGLeads
	}
	d := cfg.Summary.NewDrift()
	res := &DriftResult{}
	beats := 0
	for pi, p := range cfg.Patients {
		for _, code := range leads {
			seen := false
			for w := cfg.From; w.Before(cfg.To); w = w.Add(driftWindow) {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				end := w.Add(driftWindow)
				if end.After(cfg.To) {
					end = cfg.To
				}
				chunks, err := cfg.Samples.QueryWaveforms(ctx, p, code, w.Add(-driftContext), end)
				if err != nil {
					return nil, err
				}
				segs, _ := assemble(chunks)
				for si := range segs {
					s := &segs[si]
					det, err := detect(s)
					if err != nil {
						return nil, err
					}
					if len(det) == 0 {
						continue
					}
					f, err := beatclass.Extract(s.x, s.fs, det)
					if err != nil {
						return nil, err
					}
					lo, _ := s.index(w)
					hi, _ := s.index(end)
					var keep []int
					for i, b := range det {
						if b >= lo && b < hi {
							keep = append(keep, i)
						}
					}
					if len(keep) == 0 {
						continue
					}
					seen = true
					sub := f.Subset(keep)
					d.Add(sub, cfg.Classifier.Label(sub))
					beats += len(keep)
					res.Hours += float64(min(hi, len(s.x))-max(lo, 0)) / s.fs / 3600
				}
				if cfg.MaxBeats > 0 && beats >= cfg.MaxBeats {
					res.Truncated = true
					break
				}
			}
			if seen {
				res.Series++
			}
			if res.Truncated {
				break
			}
		}
		if cfg.Log != nil {
			cfg.Log(fmt.Sprintf("patient %d of %d read: %d beats so far", pi+1, len(cfg.Patients), beats))
		}
		if res.Truncated {
			break
		}
	}
	res.DriftReport = d.Report(res.Series)
	res.ServedPSI = math.NaN()
	if cfg.Beats != nil {
		if err := served(ctx, &cfg, res); err != nil {
			return nil, err
		}
		res.ServedPSI, _ = beatclass.ClassMixPSI(cfg.Summary.Predicted, res.Served)
	}
	res.ServedLevel = beatclass.DriftLevel(res.ServedPSI)
	return res, nil
}

// served counts the stored beats of the patients in the window by class,
// page by page.
func served(ctx context.Context, cfg *DriftConfig, res *DriftResult) error {
	model := cfg.Classifier.Version()
	for _, p := range cfg.Patients {
		from := cfg.From
		for {
			bs, err := cfg.Beats.QueryBeats(ctx, &vigil.BeatQuery{Patient: p, From: from, To: cfg.To, Limit: vigil.BeatLimit})
			if err != nil {
				return err
			}
			for _, b := range bs {
				k := strings.Index(beatclass.Classes, b.Class)
				switch {
				case b.Model != model:
					res.ServedOther++
				case k >= 0:
					res.Served[k]++
				}
			}
			if len(bs) < vigil.BeatLimit {
				break
			}
			// Stores keep milliseconds: the next page starts after the last beat.
			from = bs[len(bs)-1].Time.Truncate(time.Millisecond).Add(time.Millisecond)
		}
	}
	return nil
}
