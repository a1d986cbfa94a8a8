package beatclass

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAdaptReplay is a development harness, off unless VIGIL_FOLD_CACHE
// is set: for each seed in VIGIL_REPLAY_SEEDS (default 1) it labels each
// DS1 record with the leave-one-record-out fold model of `vigil model cv
// --positions detector --seed N` (trained once and kept in the cache
// directory, so that a change to the rules or to Adapt is measured in
// seconds), and prints the figures of `vigil model cv --adapt-minutes 5`
// — all beats with the global model, and the beats after the first 5
// minutes with the global and the adapted classifier — and, per record,
// the S and V beats the adapted classifier finds and calls falsely.
// With VIGIL_ADAPT_DUMP set it also writes adapt-seedN.csv there: per
// beat after the window, its reference, global and adapted labels.
func TestAdaptReplay(t *testing.T) {
	cache := os.Getenv("VIGIL_FOLD_CACHE")
	if cache == "" {
		t.Skip("VIGIL_FOLD_CACHE not set")
	}
	recs := loadDirAt(t, needData(t), nil, PositionsDetector)
	seeds := strings.Split(os.Getenv("VIGIL_REPLAY_SEEDS"), ",")
	if seeds[0] == "" {
		seeds = []string{"1"}
	}
	dump := os.Getenv("VIGIL_ADAPT_DUMP")
	for _, s := range seeds {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		var w *bufio.Writer
		if dump != "" {
			f, err := os.Create(filepath.Join(dump, "adapt-seed"+s+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w = bufio.NewWriter(f)
			defer w.Flush()
			fmt.Fprintln(w, "record,index,ref,global,adapted,typ,nlab,vlab,dN_shape,dV_shape,dF_shape,dN,dS,dV,dF")
		}
		var all, global, adapted Confusion
		var per strings.Builder
		for k, r := range recs {
			c := foldModel(t, cache, recs, k, seed)
			all.AddRecording(r, c.Label(r.Features))
			n := WindowBeats(r.Features, 5)
			g := c.Label(r.Features)
			global.AddAll(r.Labels[n:], g[n:])
			a, err := c.Adapt(context.Background(), r.Features, Feedback(r.Labels[:n]))
			if err != nil {
				t.Fatal(err)
			}
			al := a.Label(r.Features)
			var rc Confusion
			rc.AddAll(r.Labels[n:], al[n:])
			adapted.Merge(rc)
			fmt.Fprintf(&per, "%s:", r.Name)
			for _, cl := range []byte("SVF") {
				i := classIndex(cl)
				if tot := rc.Row(i); tot > 0 || rc.Col(i) > 0 {
					fmt.Fprintf(&per, " %c %d/%d +%d", cl, rc.Counts[i][i], tot, rc.Col(i)-rc.Counts[i][i])
				}
			}
			per.WriteByte('\n')
			if w != nil {
				le := a.local
				for i := n; i < len(al); i++ {
					fmt.Fprintf(w, "%s,%d,%c,%c,%c", r.Name, i, r.Labels[i], g[i], al[i])
					if le == nil {
						w.WriteString(",NaN,0,0,NaN,NaN,NaN,NaN,NaN,NaN,NaN\n")
						continue
					}
					var lab [len(modelClasses)]int
					shape, full := localDistances(le, r.Features.Row(i))
					for _, y := range le.y {
						lab[y]++
					}
					fmt.Fprintf(w, ",%g,%d,%d,%g,%g,%g,%g,%g,%g,%g\n", le.typ, lab[0], lab[2], shape[0], shape[2], shape[3], full[0], full[1], full[2], full[3])
				}
			}
		}
		t.Logf("seed %d per record (adapted, after the window):\n%s", seed, per.String())
		t.Logf("seed %d all beats, global: %s", seed, figures(&all))
		t.Logf("seed %d after 5 min, global: %s", seed, figures(&global))
		t.Logf("seed %d after 5 min, adapted: %s", seed, figures(&adapted))
	}
}

// foldModel returns the model of the fold that holds out recs[k], from the
// cache directory or trained (and then cached; cache "": not kept).
func foldModel(t *testing.T, cache string, recs []*Recording, k int, seed uint64) *Classifier {
	t.Helper()
	path := filepath.Join(cache, fmt.Sprintf("fold-seed%d-%s.vgml", seed, recs[k].Name))
	if b, err := os.ReadFile(path); cache != "" && err == nil {
		c, err := Load(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var train []*Recording
	for i, o := range recs {
		if i != k {
			train = append(train, o)
		}
	}
	c, _, err := Train(context.Background(), train, TrainConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	if cache == "" {
		return c
	}
	var buf bytes.Buffer
	if err := c.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d: fold %s trained", seed, recs[k].Name)
	return c
}

// figures formats a confusion matrix as the README's tables do.
func figures(c *Confusion) string {
	return fmt.Sprintf("%.2f · S %.1f/%.1f · V %.1f/%.1f · F %.1f/%.1f", 100*c.Accuracy(),
		100*c.Se('S'), 100*c.PP('S'), 100*c.Se('V'), 100*c.PP('V'), 100*c.Se('F'), 100*c.PP('F'))
}

// localDistances returns, per class, the distance of row to the nearest
// labelled beat of that class over the shape columns alone and over
// both halves (localExpert.dist), in typical distances.
func localDistances(le *localExpert, row []float32) (shape, full [len(modelClasses)]float64) {
	point := make([]float32, len(le.cols))
	for c, j := range le.cols {
		point[c] = float32(le.z(c, row[j]))
	}
	for k := range shape {
		shape[k], full[k] = math.Inf(1), math.Inf(1)
	}
	for j, y := range le.y {
		a, b := le.halves(point, j)
		shape[y] = min(shape[y], math.Sqrt(2*a)/le.typ)
		full[y] = min(full[y], math.Sqrt(2*max(a, b))/le.typ)
	}
	return shape, full
}
