package modelreg

import (
	"math"
	"time"

	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/ml"
)

// Version is one registered model: the file and everything needed to judge
// it later — what trained it, how it scored, against which champion, and a
// summary of its training beats for drift reports. It is written once, at
// registration, and never changed; its status comes from the event log.
type Version struct {
	// ID is the registry's name for it: "v1", "v2", … in registration order.
	ID string `json:"id"`
	// Model is the classifier's version ("beatclass-" and 12 hex digits of
	// the file's SHA-256): what beat labels and findings record.
	Model string `json:"model"`
	// SHA256 is the hex SHA-256 of model.vgml, checked on every load.
	SHA256 string `json:"sha256"`
	// Task is what the model does ("ecg-beats").
	Task string `json:"task"`
	// Registered is when it was registered (UTC) and RegisteredBy by whom.
	Registered   time.Time `json:"registered"`
	RegisteredBy string    `json:"registered_by"`
	// Parent is the version that was active when this one was trained ("" for none).
	Parent string `json:"parent,omitempty"`
	// Data says what it was trained on.
	Data Data `json:"data"`
	// HeldOut is its score on the held-out DS1 records; Recent on the newest
	// clinician labels, which it did not train on (nil when there were none).
	HeldOut *Metrics `json:"held_out,omitempty"`
	Recent  *Metrics `json:"recent,omitempty"`
	// Champion is the active model's score on the same beats when this
	// version was registered (nil for the first version).
	Champion *Champion `json:"champion,omitempty"`
	// Decision is the promotion rule's verdict at registration.
	Decision *Decision `json:"decision,omitempty"`
	// Summary describes its training beats (feature histograms, class mix).
	Summary *beatclass.Summary `json:"summary,omitempty"`
}

// Data describes a version's training data.
type Data struct {
	// Records are the DS1 records trained on; HeldOut those kept out of
	// training to evaluate every version on the same beats.
	Records []string `json:"records"`
	HeldOut []string `json:"held_out"`
	// RecordBeats is the number of training beats from Records.
	RecordBeats int `json:"record_beats"`
	// Labels is the number of clinician-labelled beats trained on, from
	// LabelPatients patients, answered between LabelsFrom and LabelsUntil;
	// LabelClasses counts them by class.
	Labels        int            `json:"labels"`
	LabelPatients int            `json:"label_patients"`
	LabelsFrom    time.Time      `json:"labels_from,omitzero"`
	LabelsUntil   time.Time      `json:"labels_until,omitzero"`
	LabelClasses  map[string]int `json:"label_classes,omitempty"`
	// RecentLabels is the number of labelled beats kept out of training to
	// compare this version with the champion, answered between RecentFrom
	// and RecentUntil.
	RecentLabels int       `json:"recent_labels"`
	RecentFrom   time.Time `json:"recent_from,omitzero"`
	RecentUntil  time.Time `json:"recent_until,omitzero"`
	// LabelsSkipped counts answers not used, by reason.
	LabelsSkipped map[string]int `json:"labels_skipped,omitempty"`
	// SummaryAt says where the training summary took the DS1 beats:
	// "detected" (the beats Vigil's detector finds, as in service) or
	// "reference" (the annotated positions).
	SummaryAt string `json:"summary_at,omitempty"`
	// Seed, Config, Rounds and Temperature are the training settings and
	// their outcome; TrainBeats counts all training beats.
	Seed        uint64   `json:"seed"`
	Config      Settings `json:"config"`
	TrainBeats  int      `json:"train_beats"`
	Rounds      int      `json:"rounds"`
	Temperature float64  `json:"temperature"`
}

// Settings are the tree-learner settings of a training run (ml.Config
// without its callbacks and worker count, which do not change the model).
type Settings struct {
	Rounds        int     `json:"rounds"`
	LearningRate  float64 `json:"learning_rate"`
	MaxLeaves     int     `json:"max_leaves"`
	MaxDepth      int     `json:"max_depth"`
	MinLeaf       int     `json:"min_leaf"`
	L2            float64 `json:"l2"`
	MaxBins       int     `json:"max_bins,omitempty"`
	EarlyStop     int     `json:"early_stop"`
	ValidFraction float64 `json:"valid_fraction"`
	Refit         bool    `json:"refit"`
}

func settingsOf(c ml.Config) Settings {
	return Settings{Rounds: c.Rounds, LearningRate: c.LearningRate, MaxLeaves: c.MaxLeaves, MaxDepth: c.MaxDepth,
		MinLeaf: c.MinLeaf, L2: c.L2, MaxBins: c.MaxBins, EarlyStop: c.EarlyStop, ValidFraction: c.ValidFraction, Refit: c.Refit}
}

// Champion is the active model's score when a candidate was registered.
type Champion struct {
	ID      string   `json:"id"`
	HeldOut *Metrics `json:"held_out,omitempty"`
	Recent  *Metrics `json:"recent,omitempty"`
}

// Metrics is a model's score on a set of beats: the AAMI confusion matrix
// and what follows from it. Se and PP (positive predictivity) hold only the
// classes for which they are defined (a reference beat, resp. a beat
// labelled with the class).
type Metrics struct {
	Beats     int                 `json:"beats"`
	Confusion beatclass.Confusion `json:"confusion"`
	Accuracy  float64             `json:"accuracy"`
	Se        map[string]float64  `json:"se"`
	PP        map[string]float64  `json:"pp"`
}

// NewMetrics computes the metrics of a confusion matrix.
func NewMetrics(c beatclass.Confusion) *Metrics {
	m := &Metrics{Beats: c.Total(), Confusion: c, Accuracy: c.Accuracy(), Se: map[string]float64{}, PP: map[string]float64{}}
	for i := range beatclass.Classes {
		k := beatclass.Classes[i]
		if v := c.Se(k); !math.IsNaN(v) {
			m.Se[string(k)] = v
		}
		if v := c.PP(k); !math.IsNaN(v) {
			m.PP[string(k)] = v
		}
	}
	return m
}

// Decision is the promotion rule's verdict on a candidate.
type Decision struct {
	// Promote is true when the candidate is not worse than the champion on
	// every comparison made.
	Promote bool `json:"promote"`
	// Reasons lists the comparisons the candidate failed.
	Reasons []string `json:"reasons,omitempty"`
	// Notes lists the comparisons not made and why (too few beats).
	Notes []string `json:"notes,omitempty"`
}
