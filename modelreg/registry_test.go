package modelreg

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/ml"
)

// tinyModel trains a small beat classifier on random feature rows (class
// V when feature 0 is small) drawn with seed, so that different seeds give
// different model files. It takes milliseconds.
func tinyModel(t *testing.T, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	const n = 400
	f := &beatclass.Features{Fs: 360}
	var labels []byte
	for i := range n {
		for range beatclass.NumFeatures {
			f.X = append(f.X, r.Float32())
		}
		f.Beats = append(f.Beats, i)
		// qrs_pp (index 17) must be large enough for the beat to be classifiable.
		f.X[i*beatclass.NumFeatures+17] = 1
		l := byte('N')
		if f.X[i*beatclass.NumFeatures] < 0.3 {
			l = 'V'
		}
		labels = append(labels, l)
	}
	cfg := ml.Config{Rounds: 3, MaxLeaves: 4, MinLeaf: 10, ValidFraction: -1}
	c, _, err := beatclass.Train(context.Background(), []*beatclass.Recording{{Name: "synthetic", Features: f, Labels: labels}},
		beatclass.TrainConfig{Seed: seed, Model: &cfg})
	if err != nil {
		t.Fatalf("train tiny model: %v", err)
	}
	var buf bytes.Buffer
	if err := c.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// clock is a test clock that advances one minute per call.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { c.t = c.t.Add(time.Minute); return c.t }

func newRegistry(t *testing.T) (*Registry, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "models")
	c := &clock{t: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
	r, err := Open(dir, WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

func register(t *testing.T, r *Registry, seed uint64) string {
	t.Helper()
	v := &Version{Data: Data{Records: []string{"101"}, HeldOut: HeldOutRecords, Seed: seed}}
	if err := r.Register(context.Background(), tinyModel(t, seed), v, "dr.ada"); err != nil {
		t.Fatalf("Register(seed %d): %v", seed, err)
	}
	return v.ID
}

func statuses(t *testing.T, r *Registry) string {
	t.Helper()
	l, err := r.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var s []string
	for _, e := range l {
		s = append(s, e.ID+"="+string(e.Status))
	}
	return strings.Join(s, " ")
}

// TestLifecycle walks versions through registration, promotion, rejection
// and rollbacks and checks the statuses and the log after each step.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	r, _ := newRegistry(t)
	if _, err := r.Active(ctx); !errors.Is(err, vigil.ErrNotFound) {
		t.Fatalf("Active on an empty registry: %v, want ErrNotFound", err)
	}
	if l, err := r.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("List on an empty registry = %v, %v", l, err)
	}
	for seed := uint64(1); seed <= 4; seed++ {
		if id := register(t, r, seed); id != "v"+string(rune('0'+seed)) {
			t.Fatalf("registration %d got ID %s", seed, id)
		}
	}
	steps := []struct {
		name string
		do   func() error
		want string // statuses after the step
		err  error  // wanted error kind
	}{
		{"promote v1", func() error { _, err := r.Promote(ctx, "v1", "dr.ada", "first"); return err }, "v1=active v2=candidate v3=candidate v4=candidate", nil},
		{"promote by number", func() error { _, err := r.Promote(ctx, "2", "dr.bo", "better"); return err }, "v1=retired v2=active v3=candidate v4=candidate", nil},
		{"reject v3", func() error { _, err := r.Reject(ctx, "v3", "dr.bo", "worse on S"); return err }, "v1=retired v2=active v3=rejected v4=candidate", nil},
		{"reject again", func() error { _, err := r.Reject(ctx, "v3", "dr.bo", "again"); return err }, "v1=retired v2=active v3=rejected v4=candidate", vigil.ErrConflict},
		{"promote the active", func() error { _, err := r.Promote(ctx, "v2", "dr.bo", "again"); return err }, "v1=retired v2=active v3=rejected v4=candidate", vigil.ErrConflict},
		{"promote without reason", func() error { _, err := r.Promote(ctx, "v4", "dr.bo", " "); return err }, "v1=retired v2=active v3=rejected v4=candidate", vigil.ErrInvalid},
		{"promote without who", func() error { _, err := r.Promote(ctx, "v4", "", "why"); return err }, "v1=retired v2=active v3=rejected v4=candidate", vigil.ErrInvalid},
		{"promote unknown", func() error { _, err := r.Promote(ctx, "v9", "dr.bo", "why"); return err }, "v1=retired v2=active v3=rejected v4=candidate", vigil.ErrNotFound},
		{"promote v4", func() error { _, err := r.Promote(ctx, "v4", "dr.cy", "override"); return err }, "v1=retired v2=retired v3=rejected v4=active", nil},
		{"rollback to v2", func() error { _, err := r.Rollback(ctx, "", "dr.cy", "alarms"); return err }, "v1=retired v2=active v3=rejected v4=retired", nil},
		{"rollback to v1", func() error { _, err := r.Rollback(ctx, "", "dr.cy", "still"); return err }, "v1=active v2=retired v3=rejected v4=retired", nil},
		{"nothing earlier", func() error { _, err := r.Rollback(ctx, "", "dr.cy", "more"); return err }, "v1=active v2=retired v3=rejected v4=retired", vigil.ErrConflict},
		{"rollback to a rejected", func() error { _, err := r.Rollback(ctx, "v3", "dr.cy", "no"); return err }, "v1=active v2=retired v3=rejected v4=retired", vigil.ErrConflict},
		{"rollback --to v4", func() error { _, err := r.Rollback(ctx, "v4", "dr.cy", "fixed"); return err }, "v1=retired v2=retired v3=rejected v4=active", nil},
		{"promote a rejected (override)", func() error { _, err := r.Promote(ctx, "v3", "dr.cy", "reviewed by hand"); return err }, "v1=retired v2=retired v3=active v4=retired", nil},
		{"rollback after override", func() error { _, err := r.Rollback(ctx, "", "dr.cy", "undo"); return err }, "v1=retired v2=retired v3=retired v4=active", nil},
	}
	for _, s := range steps {
		err := s.do()
		if s.err == nil && err != nil || s.err != nil && !errors.Is(err, s.err) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.err)
		}
		if got := statuses(t, r); got != s.want {
			t.Fatalf("after %s: %s, want %s", s.name, got, s.want)
		}
	}
	evs, err := r.Events(ctx)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, string(e.Kind)+":"+e.Version)
	}
	want := "registered:v1 registered:v2 registered:v3 registered:v4 promoted:v1 promoted:v2 rejected:v3 promoted:v4 rolled_back:v2 rolled_back:v1 rolled_back:v4 promoted:v3 rolled_back:v4"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("event log:\n%s\nwant\n%s", got, want)
	}
	last := evs[len(evs)-1]
	if last.By != "dr.cy" || last.Reason != "undo" || last.Previous != "v3" || !last.At.After(evs[0].At) {
		t.Errorf("last event = %+v", last)
	}
	e, err := r.Active(ctx)
	if err != nil || e.ID != "v4" || e.Activated == nil || e.Activated.Kind != EventRolledBack || e.Decided.By != "dr.cy" {
		t.Errorf("Active = %+v, %v", e, err)
	}
	if _, err := r.Classifier(ctx, e.Version); err != nil {
		t.Errorf("Classifier(v4): %v", err)
	}
	byModel, err := r.Get(ctx, e.Model)
	if err != nil || byModel.ID != "v4" {
		t.Errorf("Get(%s) = %v, %v", e.Model, byModel.ID, err)
	}
}

func TestRegisterRejects(t *testing.T) {
	ctx := context.Background()
	r, _ := newRegistry(t)
	m := tinyModel(t, 1)
	if err := r.Register(ctx, m, &Version{}, "dr.ada"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		model []byte
		by    string
		want  error
	}{
		{"the same model again", m, "dr.ada", vigil.ErrConflict},
		{"not a model", []byte("VGML but not really"), "dr.ada", vigil.ErrInvalid},
		{"nobody", tinyModel(t, 2), " ", vigil.ErrInvalid},
		{"control characters in who", tinyModel(t, 2), "dr.ada\n[forged] promoted", vigil.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Register(ctx, tc.model, &Version{}, tc.by); !errors.Is(err, tc.want) {
				t.Errorf("Register = %v, want %v", err, tc.want)
			}
		})
	}
	if got := statuses(t, r); got != "v1=candidate" {
		t.Errorf("statuses = %s", got)
	}
}

// TestDamage checks that damage to the files is detected, not served, and
// that a version left half-registered by a crash is ignored but its ID is
// not reused.
func TestDamage(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   error // from Active
	}{
		{"edited event", func(t *testing.T, dir string) {
			p := filepath.Join(dir, eventsFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte("dr.ada"), []byte("dr.eve"), 1), 0o640)
		}, vigil.ErrInvalid},
		{"first event removed", func(t *testing.T, dir string) {
			p := filepath.Join(dir, eventsFile)
			b, _ := os.ReadFile(p)
			lines := bytes.SplitAfter(b, []byte("\n"))
			os.WriteFile(p, bytes.Join(lines[1:], nil), 0o640)
		}, vigil.ErrInvalid},
		{"torn last line", func(t *testing.T, dir string) {
			p := filepath.Join(dir, eventsFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-5], 0o640)
		}, vigil.ErrInvalid},
		{"model file replaced", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, versionsDir, "v1", modelFile), tinyModel(t, 9), 0o640)
		}, vigil.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, dir := newRegistry(t)
			register(t, r, 1)
			if _, err := r.Promote(ctx, "v1", "dr.ada", "first"); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir)
			_, _, err := LoadActive(ctx, dir)
			if !errors.Is(err, tc.want) {
				t.Errorf("LoadActive after damage: %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("orphan version directory", func(t *testing.T) {
		r, dir := newRegistry(t)
		register(t, r, 1)
		if err := os.MkdirAll(filepath.Join(dir, versionsDir, "v2"), 0o750); err != nil {
			t.Fatal(err)
		}
		if id := register(t, r, 2); id != "v3" {
			t.Errorf("next ID after an orphan v2 = %s, want v3", id)
		}
		if got := statuses(t, r); got != "v1=candidate v3=candidate" {
			t.Errorf("statuses = %s", got)
		}
	})
}

func TestLoadActive(t *testing.T) {
	ctx := context.Background()
	def, err := beatclass.Default()
	if err != nil {
		t.Fatal(err)
	}
	r, dir := newRegistry(t)
	c, e, err := LoadActive(ctx, dir)
	if err != nil || e != nil || c.Version() != def.Version() {
		t.Fatalf("LoadActive(missing registry) = %v, %v, %v; want the default model", c.Version(), e, err)
	}
	register(t, r, 1)
	if c, e, err = LoadActive(ctx, dir); err != nil || e != nil || c.Version() != def.Version() {
		t.Fatalf("LoadActive(no active version) = %v, %v, %v; want the default model", c.Version(), e, err)
	}
	if _, err := r.Promote(ctx, "v1", "dr.ada", "first"); err != nil {
		t.Fatal(err)
	}
	c, e, err = LoadActive(ctx, dir)
	if err != nil || e == nil || e.ID != "v1" || c.Version() != e.Model {
		t.Fatalf("LoadActive = %v, %+v, %v; want v1", c, e, err)
	}
}

// TestConcurrentWriters registers from several goroutines at once: every
// registration gets its own ID and the log stays consistent.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	r, _ := newRegistry(t)
	models := make([][]byte, 6)
	for i := range models {
		models[i] = tinyModel(t, uint64(i+1))
	}
	errs := make(chan error, len(models))
	for _, m := range models {
		go func() { errs <- r.Register(ctx, m, &Version{}, "dr.ada") }()
	}
	for range models {
		if err := <-errs; err != nil {
			t.Errorf("Register: %v", err)
		}
	}
	l, err := r.List(ctx)
	if err != nil || len(l) != len(models) {
		t.Fatalf("List = %d versions, %v; want %d", len(l), err, len(models))
	}
	seen := map[string]bool{}
	for _, e := range l {
		seen[e.ID] = true
	}
	if len(seen) != len(models) {
		t.Errorf("IDs %v not distinct", seen)
	}
}
