package beatclass

import (
	"context"
	"testing"
)

// TestAdaptLocal adapts the default model to the synthetic lead's first
// 48 beats: a beat like the labelled ones takes their class, a beat unlike
// all of them keeps the global model's.
func TestAdaptLocal(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	x, beats, ectopic := synthECG()
	f, err := Extract(x, 360, beats)
	if err != nil {
		t.Fatal(err)
	}
	const window = 48
	tests := []struct {
		name        string
		ectopicAs   byte // the clinician's label of the wide beats in the window
		wantEctopic byte // their class after the window
	}{
		{"wide beats labelled F take F", 'F', 'F'},
		{"wide beats labelled N take N", 'N', 'N'},
		{"wide beats not labelled keep the global V", 'Q', 'V'},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			labels := make([]byte, window)
			for i := range labels {
				labels[i] = 'N'
				if ectopic[i] {
					labels[i] = tc.ectopicAs
				}
			}
			a, err := c.Adapt(context.Background(), f, labels)
			if err != nil {
				t.Fatalf("Adapt: %v", err)
			}
			got := a.Label(f)
			for i := window; i < f.Len()-1; i++ {
				want := byte('N')
				if ectopic[i] {
					want = tc.wantEctopic
				}
				if got[i] != want {
					t.Errorf("beat %d labelled %c, want %c", i, got[i], want)
				}
				if r := a.Classify(f, i); r.Class != got[i] {
					t.Errorf("beat %d: Classify %c, Label %c", i, r.Class, got[i])
				}
			}
		})
	}
	// Too few labels: the global model itself.
	if a, err := c.Adapt(context.Background(), f, []byte("NNNN")); err != nil || a != c {
		t.Errorf("Adapt with 4 labels = %v, %v; want the global classifier", a, err)
	}
}
