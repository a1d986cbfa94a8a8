package refpair

import (
	"testing"

	"github.com/vigilhealth/vigil"
)

func TestFind(t *testing.T) {
	subj := vigil.SearchParam{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: "p1"}}}
	byMod := vigil.SearchParam{Name: "patient", Type: vigil.ParamReference, Modifier: "Patient", Values: []vigil.SearchValue{{RefID: "p1"}}}
	bare := vigil.SearchParam{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefID: "p1"}}}
	url := vigil.SearchParam{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{URI: "http://x/Patient/p1"}}}
	code := vigil.SearchParam{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org", Code: "8867-4"}}}
	sysOnly := vigil.SearchParam{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org"}}}
	notCode := code
	notCode.Modifier = "not"
	two := code
	two.Values = append([]vigil.SearchValue{{Code: "x", AnySystem: true}}, code.Values...)
	performer := subj
	performer.Name = "performer"
	chained := subj
	chained.Chain = &vigil.SearchParam{Name: "name", Type: vigil.ParamString}
	tests := []struct {
		name   string
		params []vigil.SearchParam
		ri, ti int
		ok     bool
	}{
		{"subject and code", []vigil.SearchParam{subj, code}, 0, 1, true},
		{"code first, patient by type modifier", []vigil.SearchParam{code, byMod}, 1, 0, true},
		{"bare id", []vigil.SearchParam{bare, code}, -1, 1, false},
		{"absolute URL", []vigil.SearchParam{url, code}, -1, 1, false},
		{"system only", []vigil.SearchParam{subj, sysOnly}, 0, -1, false},
		{":not", []vigil.SearchParam{subj, notCode}, 0, -1, false},
		{"two codes", []vigil.SearchParam{subj, two}, 0, -1, false},
		{"not a paired reference", []vigil.SearchParam{performer, code}, -1, 1, false},
		{"chain", []vigil.SearchParam{chained, code}, -1, 1, false},
	}
	for _, tc := range tests {
		ri, ti, ok := Find(tc.params)
		if ri != tc.ri || ti != tc.ti || ok != tc.ok {
			t.Errorf("%s: Find = %d, %d, %v; want %d, %d, %v", tc.name, ri, ti, ok, tc.ri, tc.ti, tc.ok)
		}
	}
	if got := RefType(&byMod); got != "Patient" {
		t.Errorf("RefType by modifier = %q", got)
	}
}
