package httpapi

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

func TestParseLabels(t *testing.T) {
	at := time.Date(2026, 11, 25, 8, 3, 12, 345e6, time.UTC)
	tests := []struct {
		name    string
		body    string
		want    []labelItem
		wantErr string // part of the message; "" for success
	}{
		{"beat relabel", `{"labels":[{"time":"2026-11-25T08:03:12.345Z","code":"131330","action":"relabel","label":"N"}]}`,
			[]labelItem{{Time: at, Code: "131330", Action: "relabel", Label: "N"}}, ""},
		{"beat confirm, other zone", `{"labels":[{"time":"2026-11-25T09:03:12.345+01:00","action":"confirm"}]}`,
			[]labelItem{{Time: at, Action: "confirm"}}, ""},
		{"finding reject", `{"labels":[{"finding":"ecg-0a1b","action":"reject"}]}`,
			[]labelItem{{Finding: "ecg-0a1b", Action: "reject"}}, ""},
		{"unknown class", `{"labels":[{"time":"2026-11-25T08:03:12Z","action":"relabel","label":"X"}]}`, nil, "label 0: class must be one of"},
		{"lower-case class", `{"labels":[{"time":"2026-11-25T08:03:12Z","action":"relabel","label":"v"}]}`, nil, "class must be one of"},
		{"relabel without class", `{"labels":[{"time":"2026-11-25T08:03:12Z","action":"relabel"}]}`, nil, "class must be one of"},
		{"confirm with class", `{"labels":[{"finding":"f","action":"confirm","label":"V"}]}`, nil, "confirm takes no class"},
		{"unknown action", `{"labels":[{"finding":"f","action":"approve"}]}`, nil, "action must be"},
		{"no action", `{"labels":[{"finding":"f"}]}`, nil, "action must be"},
		{"time and finding", `{"labels":[{"finding":"f","time":"2026-11-25T08:03:12Z","action":"reject"}]}`, nil, "either the time"},
		{"neither", `{"labels":[{"action":"reject"}]}`, nil, "either the time"},
		{"finding with code", `{"labels":[{"finding":"f","code":"131330","action":"reject"}]}`, nil, "give no code"},
		{"bad time", `{"labels":[{"time":"yesterday","action":"reject"}]}`, nil, "RFC 3339"},
		{"second item bad", `{"labels":[{"finding":"f","action":"reject"},{"finding":"g","action":"nope"}]}`, nil, "label 1:"},
		{"unknown field", `{"labels":[{"finding":"f","action":"reject","note":"x"}]}`, nil, "unknown field"},
		{"empty", `{"labels":[]}`, nil, "at least one"},
		{"not an object", `[1,2]`, nil, "malformed labels body"},
		{"trailing", `{"labels":[{"finding":"f","action":"reject"}]} {}`, nil, "trailing data"},
		{"too many", `{"labels":[` + strings.Repeat(`{"finding":"f","action":"reject"},`, maxLabelItems) + `{"finding":"f","action":"reject"}]}`, nil, "at most 1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLabels([]byte(tc.body))
			if tc.wantErr != "" {
				if !errors.Is(err, vigil.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseLabels(%.60q) = %v, want ErrInvalid with %q", tc.body, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseLabels(%.60q) = %v", tc.body, err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("parseLabels(%.60q) = %+v, want %+v", tc.body, got, tc.want)
			}
			for i := range got {
				if !got[i].Time.Equal(tc.want[i].Time) || got[i].Code != tc.want[i].Code || got[i].Finding != tc.want[i].Finding ||
					got[i].Action != tc.want[i].Action || got[i].Label != tc.want[i].Label {
					t.Errorf("parseLabels(%.60q)[%d] = %+v, want %+v", tc.body, i, got[i], tc.want[i])
				}
			}
		})
	}
}

// FuzzParseLabels checks that the labels parser never panics, refuses
// with vigil.ErrInvalid only, and that what it accepts is well formed.
func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{
		`{"labels":[{"time":"2026-11-25T08:03:12.345Z","code":"131330","action":"relabel","label":"N"}]}`,
		`{"labels":[{"finding":"ecg-0a1b","action":"confirm"},{"finding":"x","action":"reject"}]}`,
		`{"labels":[{"time":"0001-01-01T00:00:00Z","action":"reject"}]}`,
		`{"labels":null}`, `{}`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := parseLabels(body)
		if err != nil {
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("parseLabels error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if len(items) == 0 || len(items) > maxLabelItems {
			t.Fatalf("%d items accepted", len(items))
		}
		for _, it := range items {
			if (it.Finding == "") == it.Time.IsZero() {
				t.Fatalf("item %+v names both or neither a beat and a finding", it)
			}
			switch it.Action {
			case vigil.LabelConfirm, vigil.LabelReject:
				if it.Label != "" {
					t.Fatalf("item %+v: class on %s", it, it.Action)
				}
			case vigil.LabelRelabel:
				if !vigil.ValidBeatClass(it.Label) {
					t.Fatalf("item %+v: relabel to %q", it, it.Label)
				}
			default:
				t.Fatalf("item %+v: action accepted", it)
			}
		}
	})
}
