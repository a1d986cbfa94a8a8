package modelreg

import (
	"strings"
	"testing"

	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// matrix builds a confusion matrix from per-class (reference, predicted,
// count) triples.
func matrix(cells ...any) *beatclass.Confusion {
	var c beatclass.Confusion
	for i := 0; i < len(cells); i += 3 {
		r, p, n := cells[i].(byte), cells[i+1].(byte), cells[i+2].(int)
		for range n {
			c.Add(r, p)
		}
	}
	return &c
}

func TestRuleDecide(t *testing.T) {
	// The champion: 1000 N (10 called V), 100 V (90 found), 50 S (40 found).
	champ := matrix(byte('N'), byte('N'), 990, byte('N'), byte('V'), 10, byte('V'), byte('V'), 90, byte('V'), byte('N'), 10,
		byte('S'), byte('S'), 40, byte('S'), byte('N'), 10)
	tests := []struct {
		name    string
		cand    *beatclass.Confusion
		promote bool
		reason  string // a failed comparison that must be reported
	}{
		{"identical", champ, true, ""},
		{"better", matrix(byte('N'), byte('N'), 1000, byte('V'), byte('V'), 100, byte('S'), byte('S'), 50), true, ""},
		{"V Se down 1 point: within tolerance", matrix(byte('N'), byte('N'), 990, byte('N'), byte('V'), 10, byte('V'), byte('V'), 89, byte('V'), byte('N'), 11,
			byte('S'), byte('S'), 40, byte('S'), byte('N'), 10), true, ""},
		{"V Se down 5 points", matrix(byte('N'), byte('N'), 990, byte('N'), byte('V'), 10, byte('V'), byte('V'), 85, byte('V'), byte('N'), 15,
			byte('S'), byte('S'), 40, byte('S'), byte('N'), 10), false, "held-out: V Se 85.00 % < champion 90.00 %"},
		{"V +P down (more false V)", matrix(byte('N'), byte('N'), 970, byte('N'), byte('V'), 30, byte('V'), byte('V'), 90, byte('V'), byte('N'), 10,
			byte('S'), byte('S'), 40, byte('S'), byte('N'), 10), false, "held-out: V +P"},
		{"S Se down", matrix(byte('N'), byte('N'), 990, byte('N'), byte('V'), 10, byte('V'), byte('V'), 90, byte('V'), byte('N'), 10,
			byte('S'), byte('S'), 30, byte('S'), byte('N'), 20), false, "held-out: S Se"},
		{"accuracy down", matrix(byte('N'), byte('N'), 970, byte('N'), byte('F'), 30, byte('V'), byte('V'), 90, byte('V'), byte('N'), 10,
			byte('S'), byte('S'), 40, byte('S'), byte('N'), 10), false, "held-out: accuracy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := DefaultRule().Decide(tc.cand, champ, nil, nil)
			if d.Promote != tc.promote {
				t.Errorf("Promote = %v, want %v (reasons %v)", d.Promote, tc.promote, d.Reasons)
			}
			if tc.reason != "" && !strings.Contains(strings.Join(d.Reasons, "\n"), tc.reason) {
				t.Errorf("reasons %q lack %q", d.Reasons, tc.reason)
			}
			if !strings.Contains(strings.Join(d.Notes, "\n"), "recent labels: none") {
				t.Errorf("notes %q do not say the recent labels were not compared", d.Notes)
			}
		})
	}
	t.Run("recent labels too few", func(t *testing.T) {
		few := matrix(byte('N'), byte('V'), 30)
		d := DefaultRule().Decide(champ, champ, few, matrix(byte('N'), byte('N'), 30))
		if !d.Promote || !strings.Contains(strings.Join(d.Notes, "\n"), "recent labels: not compared, 30 beats") {
			t.Errorf("Decide = %+v", d)
		}
	})
	t.Run("worse on the recent labels", func(t *testing.T) {
		d := DefaultRule().Decide(champ, champ, matrix(byte('N'), byte('N'), 50, byte('V'), byte('N'), 30),
			matrix(byte('N'), byte('N'), 50, byte('V'), byte('V'), 30))
		if d.Promote || !strings.Contains(strings.Join(d.Reasons, "\n"), "recent labels: V Se 0.00 %") {
			t.Errorf("Decide = %+v", d)
		}
	})
	t.Run("classes with few beats are not compared", func(t *testing.T) {
		small := matrix(byte('N'), byte('N'), 100, byte('S'), byte('S'), 5, byte('V'), byte('V'), 5)
		worse := matrix(byte('N'), byte('N'), 100, byte('S'), byte('N'), 5, byte('V'), byte('N'), 5)
		d := DefaultRule().Decide(worse, small, nil, nil)
		// Accuracy fell from 100 % to 90.9 %: that alone refuses it.
		if d.Promote || len(d.Reasons) != 1 || !strings.Contains(strings.Join(d.Notes, "\n"), "V Se not compared, 5 reference beats") {
			t.Errorf("Decide = %+v", d)
		}
	})
}
