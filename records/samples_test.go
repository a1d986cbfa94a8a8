package records_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/access"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/httpapi"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/records"
	"github.com/vigilhealth/vigil/sampleobs"
	"github.com/vigilhealth/vigil/sqlite"
)

// sampleFixture is a resource store and a sample store of one backend,
// with a Service that shows the samples (no access control) and one
// behind the access policy.
type sampleFixture struct {
	model   *fhir.Model
	store   vigil.ResourceStore
	samples vigil.SampleStore
	svc     *records.Service // WithSamples(samples, nil)
	guarded *records.Service // access.Policy store, WithSamples(samples, policy.SeesPatient)
}

var sampleModel = sync1(fhir.LoadR4)

// sync1 memoises a loader for the test binary (the model is read-only).
func sync1[T any](f func() (T, error)) func(t testing.TB) T {
	var v T
	var err error
	done := false
	return func(t testing.TB) T {
		t.Helper()
		if !done {
			v, err = f()
			done = true
		}
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		return v
	}
}

// eachSampleBackend runs fn against SQLite and PostgreSQL.
func eachSampleBackend(t *testing.T, fn func(t *testing.T, f *sampleFixture)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLiteFixture(t)) })
	t.Run("postgres", func(t *testing.T) {
		ctx := context.Background()
		u := testenv.Postgres(t)
		db, err := postgres.Open(ctx, u)
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		smp, err := postgres.OpenSamples(ctx, u)
		if err != nil {
			db.Close()
			t.Fatalf("postgres.OpenSamples: %v", err)
		}
		fn(t, newSampleFixture(t, db, smp))
	})
}

func openSQLiteFixture(t testing.TB) *sampleFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	smp, err := sqlite.OpenSamples(ctx, dir, sqlite.WithSynchronous(sqlite.SyncNormal))
	if err != nil {
		db.Close()
		t.Fatalf("sqlite.OpenSamples: %v", err)
	}
	return newSampleFixture(t, db, smp)
}

func newSampleFixture(t testing.TB, db vigil.ResourceStore, smp vigil.SampleStore) *sampleFixture {
	t.Helper()
	t.Cleanup(func() { smp.Close(); db.Close() })
	model := sampleModel(t)
	pol := access.New(db, model)
	return &sampleFixture{
		model: model, store: db, samples: smp,
		svc:     records.New(db, model, records.WithSamples(smp, nil)),
		guarded: records.New(pol.Store(), model, records.WithSamples(smp, pol.SeesPatient)),
	}
}

const (
	codeHR   = "8867-4"
	codeSpO2 = "2708-6"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// readings returns the test readings of a patient: heart rate every 10
// minutes and SpO2 in between, 12 of each, from t0.
func readings(patient string) []vigil.Sample {
	var out []vigil.Sample
	for i := range 12 {
		at := t0.Add(time.Duration(i) * 10 * time.Minute)
		out = append(out,
			vigil.Sample{Patient: patient, Device: "dev1", Code: codeHR, Time: at, Value: float64(60 + i), Unit: "/min", Received: at.Add(time.Second), Source: "http"},
			vigil.Sample{Patient: patient, Device: "dev1", Code: codeSpO2, Time: at.Add(5 * time.Minute), Value: float64(90 + i%5), Unit: "%", Received: at.Add(5*time.Minute + time.Second), Source: "http"})
	}
	return out
}

// storeAsFHIR writes samples as ordinary stored Observations (server ids).
func (f *sampleFixture) storeAsFHIR(t testing.TB, list []vigil.Sample) {
	t.Helper()
	ctx := context.Background()
	for i := range list {
		data, err := sampleobs.Observation(&list[i])
		if err != nil {
			t.Fatalf("Observation: %v", err)
		}
		if _, err := f.svc.Create(ctx, "Observation", data, ""); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
}

func (f *sampleFixture) appendSamples(t testing.TB, list []vigil.Sample) {
	t.Helper()
	if _, err := f.samples.AppendSamples(context.Background(), list); err != nil {
		t.Fatalf("AppendSamples: %v", err)
	}
}

func (f *sampleFixture) putPatient(t testing.TB, id string) {
	t.Helper()
	obj := map[string]any{"resourceType": "Patient", "id": id}
	if _, err := f.svc.UpdateObject(context.Background(), "Patient", id, obj, ""); err != nil {
		t.Fatalf("put Patient/%s: %v", id, err)
	}
}

// populate stores three patients with the same readings: ps as samples,
// pf as stored Observations, pm half and half (even readings as samples).
func (f *sampleFixture) populate(t testing.TB) {
	t.Helper()
	for _, p := range []string{"ps", "pf", "pm"} {
		f.putPatient(t, p)
	}
	f.appendSamples(t, readings("ps"))
	f.storeAsFHIR(t, readings("pf"))
	var even, odd []vigil.Sample
	for i, s := range readings("pm") {
		if i%2 == 0 {
			even = append(even, s)
		} else {
			odd = append(odd, s)
		}
	}
	f.appendSamples(t, even)
	f.storeAsFHIR(t, odd)
}

// bundle is the part of a searchset the tests read.
type bundle struct {
	Total *int `json:"total"`
	Link  []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
		Search   struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

func (b *bundle) next() string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

// entry is what identifies a reading across patients: code, time, value.
type entry struct {
	ID, Sig string
}

func (b *bundle) matches(t testing.TB) []entry {
	t.Helper()
	var out []entry
	for _, e := range b.Entry {
		if e.Search.Mode != "match" {
			continue
		}
		var o struct {
			ID   string `json:"id"`
			Code struct {
				Coding []struct{ Code string } `json:"coding"`
			} `json:"code"`
			Effective     string `json:"effectiveDateTime"`
			ValueQuantity struct {
				Value json.Number `json:"value"`
			} `json:"valueQuantity"`
		}
		if err := json.Unmarshal(e.Resource, &o); err != nil {
			t.Fatalf("entry: %v", err)
		}
		code := ""
		if len(o.Code.Coding) > 0 {
			code = o.Code.Coding[0].Code
		}
		out = append(out, entry{ID: o.ID, Sig: code + "@" + o.Effective + "=" + string(o.ValueQuantity.Value)})
	}
	return out
}

func sigs(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Sig
	}
	return out
}

// search runs one search page.
func search(t testing.TB, ctx context.Context, svc *records.Service, typ, compartment, query string) (*bundle, *records.Page) {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	page, err := svc.Search(ctx, &records.SearchRequest{Type: typ, Query: q, Base: "http://x/fhir", Compartment: compartment})
	if err != nil {
		t.Fatalf("Search(%s %q): %v", typ, query, err)
	}
	var b bundle
	if err := json.Unmarshal(page.Bundle, &b); err != nil {
		t.Fatalf("bundle: %v", err)
	}
	return &b, page
}

// searchAll follows next links and returns every match, failing on an
// entry seen twice.
func searchAll(t testing.TB, ctx context.Context, svc *records.Service, typ, compartment, query string, between func()) []entry {
	t.Helper()
	var out []entry
	seen := map[string]bool{}
	for range 1000 {
		b, _ := search(t, ctx, svc, typ, compartment, query)
		for _, e := range b.matches(t) {
			if seen[e.ID] {
				t.Fatalf("search %q: %s returned twice", query, e.ID)
			}
			seen[e.ID] = true
			out = append(out, e)
		}
		next := b.next()
		if next == "" {
			return out
		}
		u, err := url.Parse(next)
		if err != nil {
			t.Fatal(err)
		}
		query = u.RawQuery
		if between != nil {
			between()
		}
	}
	t.Fatalf("search %q: more than 1000 pages", query)
	return nil
}

// TestSampleSearchMatchesStored checks that samples answer searches
// exactly as the same readings stored as FHIR Observations do: the store's
// own search is the oracle. ps has the readings as samples, pm half and
// half, pf as stored Observations.
func TestSampleSearchMatchesStored(t *testing.T) {
	eachSampleBackend(t, func(t *testing.T, f *sampleFixture) {
		f.populate(t)
		ctx := context.Background()
		tests := []struct {
			name, query string
			want        int // matches expected (a check on the oracle too)
		}{
			{"all", "", 24},
			{"code", "code=8867-4", 12},
			{"code with system", "code=http://loinc.org|2708-6", 12},
			{"code of another system", "code=http://snomed.info/sct|8867-4", 0},
			{"two codes", "code=8867-4,2708-6&_sort=-date&date=ge2026-01-01T00:40:00Z", 16},
			{"ge sorted", "date=ge2026-01-01T01:00:00Z&_sort=date", 12},
			{"lt sorted desc", "date=lt2026-01-01T00:30:00Z&_sort=-date", 6},
			{"eq day", "date=eq2026-01-01", 24},
			{"eq second", "date=2026-01-01T00:20:00Z", 1},
			{"gt and le", "date=gt2026-01-01T00:20:00Z&date=le2026-01-01T01:10:00Z&_sort=date", 10},
			{"ne", "date=ne2026-01-01T00:20:00Z&code=8867-4&_sort=-date", 11},
			{"sa", "date=sa2026-01-01T01:00:00Z", 11},
			{"eb", "date=eb2026-01-01T00:10:00Z", 2},
			{"two values ORed", "date=lt2026-01-01T00:10:00Z,ge2026-01-01T01:50:00Z&_sort=date", 4},
			{"next day", "date=ge2026-01-02", 0},
			{"category", "category=vital-signs&_sort=date", 24},
			{"other category", "category=laboratory", 0},
			{"sorted", "_sort=date", 24},
			{"sorted desc", "_sort=-date&code=2708-6", 12},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				sorted := strings.Contains(tc.query, "_sort")
				oracle := sigs(searchAll(t, ctx, f.svc, "Observation", "", "subject=Patient/pf&_count=1000&"+tc.query, nil))
				if len(oracle) != tc.want {
					t.Fatalf("stored Observations: %d matches, want %d", len(oracle), tc.want)
				}
				for _, p := range []string{"ps", "pm"} {
					for _, form := range []struct{ typ, comp, q string }{
						{"Observation", "", "subject=Patient/" + p + "&_count=3&" + tc.query},
						{"Observation", "", "patient=" + p + "&_count=5&" + tc.query},
						{"Observation", "Patient/" + p, "_count=2&" + tc.query},
					} {
						got := sigs(searchAll(t, ctx, f.svc, form.typ, form.comp, form.q, nil))
						want := oracle
						if !sorted {
							got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(oracle))
						}
						if !slices.Equal(got, want) {
							t.Errorf("%s %s %q:\n got %v\nwant %v", form.comp, p, form.q, got, want)
						}
						b, _ := search(t, ctx, f.svc, form.typ, form.comp, form.q+"&_total=accurate")
						if b.Total == nil || *b.Total != tc.want {
							t.Errorf("%s %q: total %v, want %d", form.comp, form.q, b.Total, tc.want)
						}
						b, _ = search(t, ctx, f.svc, form.typ, form.comp, form.q+"&_summary=count")
						if b.Total == nil || *b.Total != tc.want || len(b.Entry) != 0 {
							t.Errorf("%s %q _summary=count: total %v with %d entries, want %d", form.comp, form.q, b.Total, len(b.Entry), tc.want)
						}
					}
				}
			})
		}
	})
}

// TestSamplePagingWhileArriving pages with _count=2 while new samples
// arrive between pages: every reading present at the start is returned
// exactly once.
func TestSamplePagingWhileArriving(t *testing.T) {
	eachSampleBackend(t, func(t *testing.T, f *sampleFixture) {
		f.populate(t)
		ctx := context.Background()
		for _, query := range []string{"subject=Patient/pm&_count=2", "subject=Patient/pm&_count=2&_sort=date", "subject=Patient/pm&_count=2&_sort=-date"} {
			before := searchAll(t, ctx, f.svc, "Observation", "", strings.Replace(query, "_count=2", "_count=1000", 1), nil)
			if len(before) < 24 {
				t.Fatalf("%q: %d matches before, want at least 24", query, len(before))
			}
			n := 0
			got := searchAll(t, ctx, f.svc, "Observation", "", query, func() {
				// One reading later than all, one earlier, one at a time
				// already listed (another device).
				if n >= 12 {
					return
				}
				n++
				at := t0.Add(time.Duration(n) * time.Second)
				f.appendSamples(t, []vigil.Sample{
					{Patient: "pm", Device: "dev2", Code: codeHR, Time: t0.Add(24 * time.Hour).Add(time.Duration(n) * time.Minute), Value: 70, Unit: "/min", Received: at},
					{Patient: "pm", Device: "dev2", Code: codeHR, Time: t0.Add(-time.Duration(n) * time.Minute), Value: 71, Unit: "/min", Received: at},
					{Patient: "pm", Device: fmt.Sprintf("dev%d", n+2), Code: codeHR, Time: t0.Add(time.Duration(n%12) * 10 * time.Minute), Value: 72, Unit: "/min", Received: at},
				})
			})
			have := map[string]bool{}
			for _, e := range got {
				have[e.ID] = true
			}
			for _, e := range before {
				if !have[e.ID] {
					t.Errorf("%q: %s (%s) lost while paging", query, e.ID, e.Sig)
				}
			}
			if n < 11 {
				t.Errorf("%q: %d pages, want at least 12", query, n+1)
			}
		}
	})
}

// TestSampleRead reads samples by id and vread, and checks the rendering
// against the FHIR validator.
func TestSampleRead(t *testing.T) {
	eachSampleBackend(t, func(t *testing.T, f *sampleFixture) {
		ctx := context.Background()
		list := readings("ps")
		f.appendSamples(t, list)
		s := list[6] // heart rate at 00:30
		id, err := sampleobs.SampleID(s.Key())
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.svc.Read(ctx, "Observation", id)
		if err != nil {
			t.Fatalf("Read(%s): %v", id, err)
		}
		if r.ID != id || r.Version != 1 || !r.LastUpdated.Equal(s.Received) {
			t.Errorf("Read = %s v%d at %v, want %s v1 at %v", r.ID, r.Version, r.LastUpdated, id, s.Received)
		}
		obj := validate(t, f.model, r.JSON)
		meta := obj["meta"].(map[string]any)
		if meta["versionId"] != "1" || meta["lastUpdated"] != "2026-01-01T00:30:01.000Z" {
			t.Errorf("meta = %v", meta)
		}
		if obj["effectiveDateTime"] != "2026-01-01T00:30:00.000Z" || obj["subject"].(map[string]any)["reference"] != "Patient/ps" {
			t.Errorf("Read = %s", r.JSON)
		}
		if v, err := f.svc.ReadVersion(ctx, "Observation", id, "1"); err != nil || string(v.JSON) != string(r.JSON) {
			t.Errorf("ReadVersion(1) = %v, %v", v, err)
		}
		if _, err := f.svc.ReadVersion(ctx, "Observation", id, "2"); !errors.Is(err, vigil.ErrNotFound) {
			t.Errorf("ReadVersion(2) error = %v, want ErrNotFound", err)
		}
		// Another device, another time, another type: not found.
		other := s
		other.Device = "dev9"
		oid, _ := sampleobs.SampleID(other.Key())
		other = s
		other.Time = s.Time.Add(time.Millisecond)
		tid, _ := sampleobs.SampleID(other.Key())
		for _, c := range []struct{ typ, id string }{{"Observation", oid}, {"Observation", tid}, {"Condition", id}, {"Observation", "ps.8867-4.zz.v"}} {
			if _, err := f.svc.Read(ctx, c.typ, c.id); !errors.Is(err, vigil.ErrNotFound) {
				t.Errorf("Read(%s/%s) error = %v, want ErrNotFound", c.typ, c.id, err)
			}
		}
	})
}

// validate decodes data with the FHIR model (which validates) and checks
// it against the R4 rules.
func validate(t testing.TB, model *fhir.Model, data []byte) map[string]any {
	t.Helper()
	obj, err := model.Decode(data)
	if err != nil {
		t.Fatalf("Decode(%s): %v", data, err)
	}
	for _, is := range model.Validate(obj) {
		if is.Severity == "error" || is.Severity == "fatal" {
			t.Errorf("Validate: %s %s", is.Severity, is.Message)
		}
	}
	return obj
}

// TestSampleWaveform reads and searches a waveform chunk.
func TestSampleWaveform(t *testing.T) {
	eachSampleBackend(t, func(t *testing.T, f *sampleFixture) {
		ctx := context.Background()
		f.putPatient(t, "ps")
		w := &vigil.Waveform{Patient: "ps", Device: "ecg1", Code: "131329", Start: t0.Add(time.Hour + time.Second), RateHz: 250, Gain: 0.005, Unit: "mV", Received: t0.Add(time.Hour + 5*time.Second), Source: "http"}
		for i := range 500 {
			w.Samples = append(w.Samples, int32(100*((i%50)-25)))
		}
		if _, err := f.samples.AppendWaveform(ctx, w); err != nil {
			t.Fatalf("AppendWaveform: %v", err)
		}
		f.appendSamples(t, readings("ps"))
		id, err := sampleobs.WaveformID(w)
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.svc.Read(ctx, "Observation", id)
		if err != nil {
			t.Fatalf("Read(%s): %v", id, err)
		}
		obj := validate(t, f.model, r.JSON)
		sd, _ := obj["valueSampledData"].(map[string]any)
		if sd == nil || len(strings.Fields(sd["data"].(string))) != 500 || fmt.Sprint(sd["period"]) != "4" {
			t.Errorf("valueSampledData = %v", sd)
		}
		mdc := "code=" + url.QueryEscape(sampleobs.SystemMDC+"|131329")
		tests := []struct {
			query string
			want  int
		}{
			{"subject=Patient/ps&" + mdc, 1},
			{"subject=Patient/ps&code=131329&date=gt2026-01-01T01:00:01Z", 1}, // 01:00:01–01:00:03 ends after
			{"subject=Patient/ps&code=131329&date=sa2026-01-01T01:00:01Z", 0}, // but does not start after
			{"subject=Patient/ps&code=131329&date=2026-01-01T01:00:01Z", 0},   // nor fits in that second
			{"subject=Patient/ps&code=131329&date=2026-01-01T01:00", 1},
			{"subject=Patient/ps&code=131329,8867-4&_sort=date&_count=4", 13},
			{"subject=Patient/ps&code=131329&category=vital-signs", 0},
			{"subject=Patient/ps&code=131329&category=procedure", 1},
		}
		for _, tc := range tests {
			got := searchAll(t, ctx, f.svc, "Observation", "", tc.query, nil)
			if len(got) != tc.want {
				t.Errorf("Search(%q) = %d matches, want %d", tc.query, len(got), tc.want)
			}
		}
		// In date order the chunk (01:00:01–01:00:03) comes after the
		// 01:00 heart rate and before the 01:05 SpO2.
		got := searchAll(t, ctx, f.svc, "Observation", "", "subject=Patient/ps&code=131329,8867-4,2708-6&_sort=date&date=ge2026-01-01T01:00:00Z&date=lt2026-01-01T01:10:00Z", nil)
		if len(got) != 3 || got[1].ID != id {
			t.Errorf("date order = %v, want the chunk second", got)
		}
		// Without a code the chunk is not listed, and the answer says so.
		_, page := search(t, ctx, f.svc, "Observation", "", "subject=Patient/ps")
		if len(page.Matches) != 24 || len(page.Warnings) != 1 || !strings.Contains(page.Warnings[0].Message, "waveform") {
			t.Errorf("search without code: %d matches, warnings %v", len(page.Matches), page.Warnings)
		}
	})
}

// TestSampleLastUpdated checks _lastUpdated (and $everything's _since),
// which samples answer from the time Vigil received them.
func TestSampleLastUpdated(t *testing.T) {
	f := openSQLiteFixture(t)
	f.populate(t)
	ctx := context.Background()
	// ps's readings are received one second after they were taken.
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"_lastUpdated=ge2026-01-01T01:00:00Z", 12},
		{"_lastUpdated=ge2026-01-01T01:00:02Z", 11},
		{"_lastUpdated=lt2026-01-01T00:05:01Z", 1},
		{"_lastUpdated=2026-01-01T00:05:01Z&code=2708-6", 1},
		{"_lastUpdated=ge2026-01-02", 0},
	} {
		if got := searchAll(t, ctx, f.svc, "Observation", "", "subject=Patient/ps&_count=5&"+tc.query, nil); len(got) != tc.want {
			t.Errorf("Search(%q) = %d matches, want %d", tc.query, len(got), tc.want)
		}
	}
	page, err := f.svc.Everything(ctx, "ps", url.Values{"_since": {"2026-01-01T01:00:00Z"}}, "http://x/fhir", nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range page.Matches {
		if r.Type == "Observation" {
			n++
		}
	}
	if n != 12 {
		t.Errorf("Everything(_since) = %d observations, want 12", n)
	}
}

// TestSampleFHIRCopies checks that samples derived from Observations
// written through the FHIR API (Source "fhir") are not shown beside the
// stored Observation they copy.
func TestSampleFHIRCopies(t *testing.T) {
	f := openSQLiteFixture(t)
	f.putPatient(t, "pc")
	ctx := context.Background()
	list := readings("pc")[:4]
	f.storeAsFHIR(t, list[:2])
	copies := slices.Clone(list[:2])
	for i := range copies {
		copies[i].Source = "fhir"
	}
	f.appendSamples(t, append(copies, list[2:]...))
	got := searchAll(t, ctx, f.svc, "Observation", "", "subject=Patient/pc&_sort=date&_count=3", nil)
	if len(got) != 4 {
		t.Errorf("search = %v, want 4 readings once each", got)
	}
	if b, _ := search(t, ctx, f.svc, "Observation", "", "subject=Patient/pc&_summary=count"); b.Total == nil || *b.Total != 4 {
		t.Errorf("count = %v, want 4", b.Total)
	}
	id, _ := sampleobs.SampleID(copies[0].Key())
	if _, err := f.svc.Read(ctx, "Observation", id); !errors.Is(err, vigil.ErrNotFound) {
		t.Errorf("Read(copy) error = %v, want ErrNotFound", err)
	}
	// A reading a device sent first and a gateway posts again as a FHIR
	// Observation later: still shown once (the Observation).
	f.storeAsFHIR(t, list[2:3])
	late := list[2]
	late.Source = "fhir"
	f.appendSamples(t, []vigil.Sample{late})
	got = searchAll(t, ctx, f.svc, "Observation", "", "subject=Patient/pc&_sort=date&_count=3", nil)
	if len(got) != 4 {
		t.Errorf("search after the late FHIR copy = %v, want 4 readings once each", got)
	}
}

// TestSampleUnsupportedParams checks that parameters the sample layer
// cannot evaluate leave the samples out with a warning.
func TestSampleUnsupportedParams(t *testing.T) {
	f := openSQLiteFixture(t)
	f.populate(t)
	ctx := context.Background()
	for _, q := range []string{
		"subject=Patient/pm&value-quantity=gt65",
		"subject=Patient/pm&_sort=code",
		"subject=Patient/pm&status=final",
		"subject=Patient/pm&_include=Observation:device",
		"subject=Patient/pm,Patient/ps",
		"subject=Patient/pm&code:text=heart",
		"subject=Patient/pm&_id=x",
	} {
		_, page := search(t, ctx, f.svc, "Observation", "", q+"&_count=1000")
		if len(page.Warnings) == 0 {
			t.Errorf("Search(%q): no warning", q)
		}
		for _, r := range page.Matches {
			if _, err := sampleobs.ParseID(r.ID); err == nil {
				t.Errorf("Search(%q) returned sample %s", q, r.ID)
			}
		}
	}
	// Parameters that make no sample match need no warning.
	for _, q := range []string{"subject=Group/g1", "subject=Patient/pm&subject=Patient/ps", "subject=Patient/pm&category=laboratory"} {
		_, page := search(t, ctx, f.svc, "Observation", "", q)
		if len(page.Warnings) != 0 || len(page.Matches) != 0 {
			t.Errorf("Search(%q) = %d matches, warnings %v; want none", q, len(page.Matches), page.Warnings)
		}
	}
	// Without a patient no samples are listed (only pf's and pm's stored ones).
	got := searchAll(t, ctx, f.svc, "Observation", "", "code=8867-4&_count=100", nil)
	if len(got) != 12 {
		t.Errorf("search without patient: %d matches, want pf's 12 stored", len(got))
	}
}

// TestSampleEverything checks Patient/$everything pages through the
// samples after the stored resources.
func TestSampleEverything(t *testing.T) {
	eachSampleBackend(t, func(t *testing.T, f *sampleFixture) {
		f.populate(t)
		ctx := context.Background()
		for _, p := range []string{"ps", "pm"} {
			q := url.Values{"_count": {"5"}}
			seen := map[string]bool{}
			obs := 0
			for range 100 {
				page, err := f.svc.Everything(ctx, p, q, "http://x/fhir", nil)
				if err != nil {
					t.Fatalf("Everything(%s): %v", p, err)
				}
				var b bundle
				if err := json.Unmarshal(page.Bundle, &b); err != nil {
					t.Fatal(err)
				}
				if b.Total == nil || *b.Total != 25 {
					t.Errorf("Everything(%s) total = %v, want 25", p, b.Total)
				}
				for _, r := range page.Matches {
					if seen[r.Ref()] {
						t.Fatalf("Everything(%s): %s twice", p, r.Ref())
					}
					seen[r.Ref()] = true
					if r.Type == "Observation" {
						obs++
					}
				}
				next := b.next()
				if next == "" {
					break
				}
				u, _ := url.Parse(next)
				q = u.Query()
			}
			if obs != 24 || !seen["Patient/"+p] {
				t.Errorf("Everything(%s): %d observations, patient listed %v; want 24, true", p, obs, seen["Patient/"+p])
			}
		}
	})
}

// TestSampleAccess checks the access rules: a patient sees only their own
// samples, a device reads nothing, and returned patients are noted for the
// audit trail.
func TestSampleAccess(t *testing.T) {
	f := openSQLiteFixture(t)
	f.populate(t)
	id, err := sampleobs.SampleID(readings("ps")[0].Key())
	if err != nil {
		t.Fatal(err)
	}
	as := func(p *vigil.Principal) (context.Context, *vigil.PatientLog) {
		return vigil.WithPatientLog(vigil.WithPrincipal(context.Background(), p))
	}
	// The patient: own samples by read, search, compartment.
	ctx, log := as(&vigil.Principal{AccountID: "a1", Role: vigil.RolePatient, Patient: "ps"})
	if _, err := f.guarded.Read(ctx, "Observation", id); err != nil {
		t.Errorf("own sample: Read error %v", err)
	}
	if got := searchAll(t, ctx, f.guarded, "Observation", "", "subject=Patient/ps&_count=7", nil); len(got) != 24 {
		t.Errorf("own samples: %d matches, want 24", len(got))
	}
	if got := log.Patients(); !slices.Equal(got, []string{"ps"}) {
		t.Errorf("audit log = %v, want [ps]", got)
	}
	// Another patient: nothing of ps.
	ctx, log = as(&vigil.Principal{AccountID: "a2", Role: vigil.RolePatient, Patient: "pf"})
	if _, err := f.guarded.Read(ctx, "Observation", id); !errors.Is(err, vigil.ErrNotFound) {
		t.Errorf("other's sample: Read error %v, want ErrNotFound", err)
	}
	for _, q := range []string{"subject=Patient/ps", "subject=Patient/ps&_total=accurate", "patient=ps&_summary=count"} {
		b, _ := search(t, ctx, f.guarded, "Observation", "", q)
		if len(b.Entry) != 0 || b.Total != nil && *b.Total != 0 {
			t.Errorf("other's samples %q: %d entries, total %v", q, len(b.Entry), *b.Total)
		}
	}
	if got := log.Patients(); len(got) != 0 {
		t.Errorf("audit log = %v, want none", got)
	}
	// A clinician in ps's CareTeam sees ps, not pf.
	team := map[string]any{"resourceType": "CareTeam", "id": "ct1", "status": "active",
		"subject":     map[string]any{"reference": "Patient/ps"},
		"participant": []any{map[string]any{"member": map[string]any{"reference": "Practitioner/prac1"}}}}
	if _, err := f.svc.UpdateObject(context.Background(), "CareTeam", "ct1", team, ""); err != nil {
		t.Fatal(err)
	}
	ctx, log = as(&vigil.Principal{AccountID: "a4", Role: vigil.RoleClinician, Practitioner: "prac1"})
	if got := searchAll(t, ctx, f.guarded, "Observation", "Patient/ps", "_count=10&_sort=-date", nil); len(got) != 24 {
		t.Errorf("clinician, own patient: %d matches, want 24", len(got))
	}
	if got := searchAll(t, ctx, f.guarded, "Observation", "", "subject=Patient/pm&_count=10", nil); len(got) != 0 {
		t.Errorf("clinician, other patient: %d matches, want 0", len(got))
	}
	if got := log.Patients(); !slices.Equal(got, []string{"ps"}) {
		t.Errorf("audit log = %v, want [ps]", got)
	}
	// A device: reads nothing.
	ctx, _ = as(&vigil.Principal{AccountID: "a3", Role: vigil.RoleDevice, Device: "dev1"})
	if _, err := f.guarded.Read(ctx, "Observation", id); err == nil {
		t.Error("device: Read succeeded")
	}
	if _, err := f.guarded.Search(ctx, &records.SearchRequest{Type: "Observation", Query: url.Values{"subject": {"Patient/ps"}}}); !errors.Is(err, vigil.ErrForbidden) {
		t.Errorf("device: Search error %v, want ErrForbidden", err)
	}
}

// TestSampleHTTP reads and pages samples through the real HTTP server.
func TestSampleHTTP(t *testing.T) {
	f := openSQLiteFixture(t)
	f.populate(t)
	h, err := httpapi.New(httpapi.Config{Records: f.svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBody: 1 << 20})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(u string) (int, http.Header, []byte) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, b
	}
	s := readings("ps")[4]
	id, err := sampleobs.SampleID(s.Key())
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/fhir/Observation/" + id, "/fhir/Observation/" + id + "/_history/1"} {
		status, hdr, body := get(srv.URL + path)
		if status != http.StatusOK || hdr.Get("ETag") != `W/"1"` {
			t.Fatalf("GET %s = %d, ETag %q: %s", path, status, hdr.Get("ETag"), body)
		}
		obj := validate(t, f.model, body)
		if obj["id"] != id {
			t.Errorf("GET %s: id %v", path, obj["id"])
		}
	}
	if status, _, _ := get(srv.URL + "/fhir/Observation/" + id + "/_history/2"); status != http.StatusNotFound {
		t.Errorf("vread 2 = %d, want 404", status)
	}
	// Page with _count=2 by next links, over both sources, newest first.
	next := srv.URL + "/fhir/Observation?subject=Patient/pm&code=8867-4,2708-6&date=ge2026-01-01T00:30:00Z&_sort=-date&_count=2&_total=accurate"
	var times []string
	for next != "" {
		status, _, body := get(next)
		if status != http.StatusOK {
			t.Fatalf("GET %s = %d: %s", next, status, body)
		}
		var b bundle
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		if b.Total == nil || *b.Total != 18 {
			t.Errorf("total = %v, want 18", b.Total)
		}
		for _, e := range b.matches(t) {
			_, at, _ := strings.Cut(e.Sig, "@")
			times = append(times, at)
		}
		next = b.next()
	}
	if len(times) != 18 || !slices.IsSortedFunc(times, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("paged times = %v, want 18 newest first", times)
	}
	if len(slices.Compact(slices.Clone(times))) != 18 {
		t.Errorf("paged times repeat: %v", times)
	}
}
