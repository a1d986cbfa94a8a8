package audit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
)

func TestEncodeRoundTrip(t *testing.T) {
	full := &vigil.AuditRecord{
		Seq: 1 << 40, Time: time.Date(2026, 3, 4, 5, 6, 7, 891234000, time.UTC),
		ActorID: "a1", ActorName: "Zoë Nurse", Role: "clinician", Action: vigil.AuditBreakGlass, Outcome: vigil.AuditSuccess,
		Resources: []string{"Observation/o-1/_history/3", "Patient/p.2"}, Patients: []string{"Patient/p.2", "Patient/p1"},
		Source: "[2001:db8::1]:443", RequestID: "r-9", Detail: "unconscious on arrival, no CareTeam yet",
	}
	tests := []struct {
		name string
		rec  *vigil.AuditRecord
	}{
		{"minimal", &vigil.AuditRecord{Seq: 1, Time: time.Unix(0, 0).UTC(), Action: vigil.AuditLoginFailed, Outcome: vigil.AuditDenied}},
		{"full", full},
		{"search with many patients", &vigil.AuditRecord{Seq: 7, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ActorID: "x", Action: vigil.AuditSearch,
			Outcome: vigil.AuditSuccess, Patients: []string{"Patient/a", "Patient/b", "Patient/c"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := audit.Encode(tc.rec)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := audit.Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := *tc.rec
			want.Time = want.Time.Truncate(time.Microsecond)
			if !equalRecords(&got, &want) {
				t.Errorf("Decode(Encode(r)) = %+v, want %+v", got, want)
			}
			again, err := audit.Encode(&got)
			if err != nil || string(again) != string(data) {
				t.Errorf("Encode(Decode(b)) = %x, %v, want %x", again, err, data)
			}
		})
	}
}

func equalRecords(a, b *vigil.AuditRecord) bool {
	eq := func(x, y []string) bool {
		return strings.Join(x, "\x00") == strings.Join(y, "\x00") && len(x) == len(y)
	}
	return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.ActorID == b.ActorID && a.ActorName == b.ActorName &&
		a.Role == b.Role && a.Action == b.Action && a.Outcome == b.Outcome && eq(a.Resources, b.Resources) &&
		eq(a.Patients, b.Patients) && a.Source == b.Source && a.RequestID == b.RequestID && a.Detail == b.Detail
}

func TestEncodeRejects(t *testing.T) {
	ok := func() *vigil.AuditRecord {
		return &vigil.AuditRecord{Seq: 1, Time: time.Now(), Action: vigil.AuditRead, Outcome: vigil.AuditSuccess}
	}
	tests := []struct {
		name   string
		change func(r *vigil.AuditRecord)
	}{
		{"no sequence number", func(r *vigil.AuditRecord) { r.Seq = 0 }},
		{"unknown action", func(r *vigil.AuditRecord) { r.Action = "peek" }},
		{"empty action", func(r *vigil.AuditRecord) { r.Action = "" }},
		{"unknown outcome", func(r *vigil.AuditRecord) { r.Outcome = "maybe" }},
		{"time before 1970", func(r *vigil.AuditRecord) { r.Time = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }},
		{"newline in detail", func(r *vigil.AuditRecord) { r.Detail = "a\nb" }},
		{"invalid UTF-8 in name", func(r *vigil.AuditRecord) { r.ActorName = "\xff" }},
		{"detail too long", func(r *vigil.AuditRecord) { r.Detail = strings.Repeat("x", 1025) }},
		{"resource without id", func(r *vigil.AuditRecord) { r.Resources = []string{"Observation/"} }},
		{"resource with a URL", func(r *vigil.AuditRecord) { r.Resources = []string{"http://x/Observation/1"} }},
		{"lower-case type", func(r *vigil.AuditRecord) { r.Resources = []string{"observation/1"} }},
		{"bad history", func(r *vigil.AuditRecord) { r.Resources = []string{"Observation/1/_history/x"} }},
		{"patient of another type", func(r *vigil.AuditRecord) { r.Patients = []string{"Group/1"} }},
		{"patient id too long", func(r *vigil.AuditRecord) { r.Patients = []string{"Patient/" + strings.Repeat("a", 65)} }},
		{"patient with history", func(r *vigil.AuditRecord) { r.Patients = []string{"Patient/1/_history/1"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ok()
			tc.change(r)
			if _, err := audit.Encode(r); !errors.Is(err, vigil.ErrInvalid) {
				t.Errorf("Encode(%s) = %v, want ErrInvalid", tc.name, err)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := audit.Encode(&vigil.AuditRecord{Seq: 5, Time: time.Unix(1e9, 0), Action: vigil.AuditRead, Outcome: vigil.AuditSuccess,
		Patients: []string{"Patient/a", "Patient/b"}})
	if err != nil {
		t.Fatal(err)
	}
	unsorted, err := audit.Encode(&vigil.AuditRecord{Seq: 5, Time: time.Unix(1e9, 0), Action: vigil.AuditRead, Outcome: vigil.AuditSuccess,
		Patients: []string{"Patient/b", "Patient/a"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{2}, good[1:]...)},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"truncated", good[:len(good)-1]},
		{"non-minimal varint", append([]byte{1, 0x85, 0x00}, good[2:]...)},
		{"patients out of order", unsorted},
		{"zero sequence number", append([]byte{1, 0}, good[2:]...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := audit.Decode(tc.data); !errors.Is(err, vigil.ErrInvalid) {
				t.Errorf("Decode(%x) = %v, want ErrInvalid", tc.data, err)
			}
		})
	}
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// re-encodes to the same bytes (one encoding per record).
func FuzzDecode(f *testing.F) {
	for i := 1; i < 12; i++ {
		r := testRecord(i)
		r.Seq = int64(i)
		data, err := audit.Encode(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{1, 1, 0, 0, 0, 0, 4, 'r', 'e', 'a', 'd', 7, 's', 'u', 'c', 'c', 'e', 's', 's', 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := audit.Decode(data)
		if err != nil {
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		again, err := audit.Encode(&r)
		if err != nil {
			t.Fatalf("Encode(Decode(%x)): %v", data, err)
		}
		if string(again) != string(data) {
			t.Fatalf("Encode(Decode(%x)) = %x", data, again)
		}
	})
}
