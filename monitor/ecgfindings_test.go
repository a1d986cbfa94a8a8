package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// TestEctopyFindings feeds class sequences straight to a lead's summary
// (no signal: the classifier keeps no rows, so explanations are empty)
// and checks the runs and burdens it reports.
func TestEctopyFindings(t *testing.T) {
	c, err := beatclass.Default()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	// seq builds a sequence: n beats of class c every rr.
	type part struct {
		class byte
		n     int
		rr    time.Duration
	}
	tests := []struct {
		name  string
		parts []part
		want  []string // kind/severity/beats of each event, "clear kind" for a clear
	}{
		{"sinus", []part{{'N', 100, 800 * time.Millisecond}}, nil},
		{"couplet", []part{{'N', 10, 800 * time.Millisecond}, {'V', 2, 400 * time.Millisecond}, {'N', 10, 800 * time.Millisecond}}, nil},
		{"triplet NSVT", []part{{'N', 10, 800 * time.Millisecond}, {'V', 3, 400 * time.Millisecond}, {'N', 10, 800 * time.Millisecond}},
			[]string{"ventricular-run/high/3"}},
		{"slow run AIVR", []part{{'N', 10, time.Second}, {'V', 6, 800 * time.Millisecond}, {'N', 10, time.Second}},
			[]string{"ventricular-run/medium/6"}},
		{"sustained VT", []part{{'N', 10, 800 * time.Millisecond}, {'V', 100, 400 * time.Millisecond}, {'N', 5, 800 * time.Millisecond}},
			[]string{"ventricular-run/critical/76", "ventricular-run/critical/100"}},
		{"SV run", []part{{'N', 10, 800 * time.Millisecond}, {'S', 4, 350 * time.Millisecond}, {'N', 3, 800 * time.Millisecond}},
			[]string{"sv-run/low/4"}},
		{"Q breaks a run", []part{{'N', 10, 800 * time.Millisecond}, {'V', 2, 400 * time.Millisecond}, {'Q', 1, 400 * time.Millisecond}, {'V', 2, 400 * time.Millisecond}, {'N', 3, 800 * time.Millisecond}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ECGConfig{Classifier: c}
			if err := cfg.setDefaults(); err != nil {
				t.Fatal(err)
			}
			st := &ecgStream{origin: t0, fs: 250, device: "d", code: "131330"}
			if st.cls, err = c.NewStream(250); err != nil {
				t.Fatal(err)
			}
			var evs []ecgEvent
			var sample int64
			for _, p := range tc.parts {
				for range p.n {
					sample += int64(p.rr.Seconds() * 250)
					evs = st.beat(&cfg, "p1", sample, st.at(sample), p.class, p.class != 'Q', evs)
				}
			}
			var got []string
			for _, e := range evs {
				if e.clear != "" {
					got = append(got, "clear "+e.finding.Kind)
					continue
				}
				got = append(got, fmt.Sprintf("%s/%s/%d", e.finding.Kind, e.finding.Severity, e.finding.Beats))
				if e.finding.Model != c.Version() || !strings.Contains(e.finding.Title, c.Version()) {
					t.Errorf("finding %+v: model missing", e.finding)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("events %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEctopyBurden checks the burden finding: raised when 10 % of an
// hour's beats are V (once enough beats are classified), followed every
// 10 minutes while it lasts, cleared below 5 %.
func TestEctopyBurden(t *testing.T) {
	c, err := beatclass.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg := ECGConfig{Classifier: c}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	st := &ecgStream{origin: t0, fs: 250, device: "d", code: "131330"}
	if st.cls, err = c.NewStream(250); err != nil {
		t.Fatal(err)
	}
	var evs []ecgEvent
	var sample int64
	// 40 minutes with every 6th beat a V (16.7 %), then 90 minutes without.
	for i := range 75 * 130 {
		sample += 200 // 0.8 s
		class := byte('N')
		if i < 75*40 && i%6 == 5 {
			class = 'V'
		}
		evs = st.beat(&cfg, "p1", sample, st.at(sample), class, true, evs)
	}
	var got []string
	for _, e := range evs {
		switch {
		case e.clear != "":
			got = append(got, "clear "+e.clear)
		case e.quiet:
			got = append(got, "update")
		default:
			got = append(got, fmt.Sprintf("raise %s %s %.1f%% of %d", e.finding.Rule, e.finding.Severity, e.finding.BurdenPct, e.finding.Total))
		}
	}
	t.Logf("events: %v", got)
	if len(got) < 3 || !strings.HasPrefix(got[0], "raise ecg-pvc-burden medium 16.") || got[len(got)-1] != "clear ecg-pvc-burden" {
		t.Errorf("burden events %v; want a raise at 16.x %%, updates, a clear", got)
	}
	first := evs[0].finding
	if first.Total < cfg.BurdenMinBeats || first.Total > cfg.BurdenMinBeats+80 {
		t.Errorf("burden judged after %d beats, want just over %d", first.Total, cfg.BurdenMinBeats)
	}
	for _, e := range evs[1:] {
		if e.finding.ID != first.ID {
			t.Errorf("burden finding id changed: %s then %s", first.ID, e.finding.ID)
		}
	}
}
