package beatclass

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestReplayDump is a development harness, off unless VIGIL_REPLAY_DIR is
// set: for each seed in VIGIL_REPLAY_SEEDS (default 1) it runs the
// leave-one-record-out cross-validation of `vigil model cv --positions
// detector --seed N` and writes, per held-out detected beat, its reference
// label, the final label, the raw margins and the features, plus the
// beats the detector missed, so that rules acting after the trees can be
// replayed on the stored margins (testdata/replay.py). With
// VIGIL_FOLD_CACHE set, the fold models are kept there (TestAdaptReplay).
func TestReplayDump(t *testing.T) {
	out := os.Getenv("VIGIL_REPLAY_DIR")
	if out == "" {
		t.Skip("VIGIL_REPLAY_DIR not set")
	}
	recs := loadDirAt(t, needData(t), nil, PositionsDetector)
	seeds := strings.Split(os.Getenv("VIGIL_REPLAY_SEEDS"), ",")
	if seeds[0] == "" {
		seeds = []string{"1"}
	}
	for _, s := range seeds {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(out, "replay-seed"+s+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		fmt.Fprintf(w, "record,sample,ref,pred,mN,mS,mV,mF,%s\n", strings.Join(FeatureNames(), ","))
		for k, r := range recs {
			c := foldModel(t, os.Getenv("VIGIL_FOLD_CACHE"), recs, k, seed)
			pred := c.Label(r.Features)
			mg := make([]float64, len(modelClasses))
			for i := range r.Features.Len() {
				row := r.Features.Row(i)
				c.model.Margins(row, mg)
				fmt.Fprintf(w, "%s,%d,%c,%c,%g,%g,%g,%g", r.Name, r.Features.Beats[i], r.Labels[i], pred[i], mg[0], mg[1], mg[2], mg[3])
				for _, v := range row {
					w.WriteByte(',')
					w.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
				}
				w.WriteByte('\n')
			}
			for ci, n := range r.Missed {
				for range n {
					fmt.Fprintf(w, "%s,-1,%c,missed,0,0,0,0%s\n", r.Name, Classes[ci], strings.Repeat(",NaN", NumFeatures))
				}
			}
			t.Logf("seed %d: %s done", seed, r.Name)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplayExplainRule prints the explanation of the first beats of a
// held-out record (VIGIL_EXPLAIN_RECORD, default 208) that a rule
// (VIGIL_EXPLAIN_RULE: fusion, the default, late or wide)
// changes, for the README.
func TestReplayExplainRule(t *testing.T) {
	if os.Getenv("VIGIL_REPLAY_DIR") == "" {
		t.Skip("VIGIL_REPLAY_DIR not set")
	}
	name := os.Getenv("VIGIL_EXPLAIN_RECORD")
	if name == "" {
		name = "208"
	}
	// The rules of applyRules up to and including the one explained.
	order := []func([]float32, []float64, bool) bool{notVentricular, fusion}
	switch os.Getenv("VIGIL_EXPLAIN_RULE") {
	case "late":
		order = append(order, lateP)
	case "wide":
		order = append(order, lateP, wideNoPWave)
	}
	recs := loadDirAt(t, needData(t), nil, PositionsDetector)
	var train []*Recording
	var test *Recording
	for _, r := range recs {
		if r.Name == name {
			test = r
		} else {
			train = append(train, r)
		}
	}
	c, _, err := Train(context.Background(), train, TrainConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range test.Features.Len() {
		row := test.Features.Row(i)
		p := make([]float64, len(modelClasses))
		c.model.Proba(row, p)
		changed := false
		for _, rule := range order {
			changed = rule(row, p, true)
		}
		if !changed {
			continue
		}
		res := c.Classify(test.Features, i)
		t.Logf("%s beat %d (sample %d, reference %c): %c %s", name, i, test.Features.Beats[i], test.Labels[i], res.Class, res.Explanation)
		if n++; n == 3 {
			break
		}
	}
}
