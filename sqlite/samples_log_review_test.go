package sqlite_test

import (
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
)

// TestSampleLogOwnerAfterOtherProcess stores readings through another
// process (a second store on the directory, which writes to the table)
// after the owner has read its series' latest times, then sends the same
// readings to the owner: they are duplicates, the owner must not log them
// again, and its reads must not show them twice.
func TestSampleLogOwnerAfterOtherProcess(t *testing.T) {
	dir, owner, other := twoProcesses(t)
	const n = 30
	// The owner learns each series' latest time (second 10).
	if _, err := owner.AppendSamples(t.Context(), spread(n, 10, "http")); err != nil {
		t.Fatal(err)
	}
	// The other process stores second 20 in the table.
	if got, err := other.AppendSamples(t.Context(), spread(n, 20, "http")); err != nil || !got[0] {
		t.Fatalf("other: AppendSamples = %v, %v; want stored", got, err)
	}
	for _, tc := range []struct {
		name  string
		batch []vigil.Sample
	}{
		{"many devices", spread(n, 20, "http")},
		{"one device", spread(n, 20, "http")[5:6]},
	} {
		got, err := owner.AppendSamples(t.Context(), tc.batch)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for i, ok := range got {
			if ok {
				t.Errorf("%s: owner's copy of the other's sample %d stored = true, want false", tc.name, i)
			}
		}
	}
	got, err := owner.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p4"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("owner reads p4 = %+v, want 2 samples", got)
	}
	if table, log := logRows(t, dir); table != n || log != n {
		t.Errorf("%d rows in the table, %d in the log; want %d each", table, log, n)
	}
}

// TestSampleLogOtherProcessClaims sends the FHIR copy of a reading the
// owner logged through another process (which marks it in the log table):
// the owner's readers, who read the log from the owner's memory, must see
// the claim once the owner has written again.
func TestSampleLogOtherProcessClaims(t *testing.T) {
	_, owner, other := twoProcesses(t)
	const n = 30
	if _, err := owner.AppendSamples(t.Context(), spread(n, 10, "http")); err != nil {
		t.Fatal(err)
	}
	if got, err := other.AppendSamples(t.Context(), spread(n, 10, "fhir")[4:5]); err != nil || got[0] {
		t.Fatalf("other: AppendSamples(FHIR copy) = %v, %v; want a duplicate", got, err)
	}
	// The owner's next write (of another patient) notices the other's.
	if _, err := owner.AppendSamples(t.Context(), spread(n, 20, "http")); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*sqlite.Samples{"owner": owner, "other": other} {
		got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p4"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Source != "fhir" || got[1].Source != "http" {
			t.Errorf("%s reads p4 = %+v, want two samples, the first the FHIR copy's", name, got)
		}
	}
}
