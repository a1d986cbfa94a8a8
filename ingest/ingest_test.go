package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/access"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/ingest"
	"github.com/vigilhealth/vigil/records"
	"github.com/vigilhealth/vigil/sqlite"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fixture is a real SQLite resource store with two patients and their
// devices, a real SQLite sample store, and the real access policy.
type fixture struct {
	svc     *ingest.Service
	samples *sqlite.Samples
	sunk    []vigil.Sample
	horizon *vigil.WriteHorizon
	// inSink, when set, runs inside the Sink (after the batch is stored,
	// before Ingest returns).
	inSink func()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	samples, err := sqlite.OpenSamples(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { samples.Close() })
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	rec := records.New(store, model)
	for _, r := range []string{
		`{"resourceType":"Patient","id":"p1"}`, `{"resourceType":"Patient","id":"p2"}`,
		`{"resourceType":"Device","id":"d1","patient":{"reference":"Patient/p1"}}`,
		`{"resourceType":"Device","id":"d2","patient":{"reference":"Patient/p2"}}`,
		`{"resourceType":"Device","id":"loose"}`,
		// "moved" was p1's until an hour ago and is p2's since; a statement
		// entered in error does not bind, and Device.patient (p1) is not
		// used once a device has DeviceUseStatements.
		`{"resourceType":"Device","id":"moved","patient":{"reference":"Patient/p1"}}`,
		`{"resourceType":"DeviceUseStatement","id":"u1","status":"completed","subject":{"reference":"Patient/p1"},"device":{"reference":"Device/moved"},"timingPeriod":{"start":"` + now.Add(-48*time.Hour).Format(time.RFC3339) + `","end":"` + now.Add(-time.Hour).Format(time.RFC3339) + `"}}`,
		`{"resourceType":"DeviceUseStatement","id":"u2","status":"active","subject":{"reference":"Patient/p2"},"device":{"reference":"Device/moved"},"timingPeriod":{"start":"` + now.Add(-time.Hour).Format(time.RFC3339) + `"}}`,
		`{"resourceType":"DeviceUseStatement","id":"u3","status":"entered-in-error","subject":{"reference":"Patient/p2"},"device":{"reference":"Device/moved"},"timingPeriod":{"start":"` + now.Add(-96*time.Hour).Format(time.RFC3339) + `","end":"` + now.Add(-48*time.Hour).Format(time.RFC3339) + `"}}`,
	} {
		var obj map[string]any
		if err := json.Unmarshal([]byte(r), &obj); err != nil {
			t.Fatal(err)
		}
		if _, err := rec.UpdateObject(ctx, obj["resourceType"].(string), obj["id"].(string), obj, ""); err != nil {
			t.Fatal(err)
		}
	}
	pol := access.New(store, model)
	f := &fixture{samples: samples, horizon: &vigil.WriteHorizon{}}
	f.svc, err = ingest.New(ingest.Config{Samples: samples, DeviceBindings: pol.DeviceBindings, SeesPatient: pol.SeesPatient,
		Now: func() time.Time { return now }, Horizon: f.horizon,
		Sink: func(_ context.Context, s []vigil.Sample, _ []vigil.Waveform) {
			f.sunk = append(f.sunk, s...)
			if f.inSink != nil {
				f.inSink()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func fp(v float64) *float64     { return &v }
func tp(t time.Time) *time.Time { return &t }

var device1 = &vigil.Principal{AccountID: "a1", Username: "dev1", Role: vigil.RoleDevice, Device: "d1"}

// TestIngestBindingPeriods checks that a reading goes to the patient the
// device was bound to when it was taken (DeviceUseStatement periods), also
// when it arrives after the device moved to another patient.
func TestIngestBindingPeriods(t *testing.T) {
	f := newFixture(t)
	moved := &vigil.Principal{AccountID: "a9", Username: "dev-moved", Role: vigil.RoleDevice, Device: "moved"}
	service := &vigil.Principal{AccountID: "a8", Username: "gateway", Role: vigil.RoleService,
		Scopes: []vigil.Scope{{Type: "Observation", Read: false, Write: true}}}
	ecg := func(start time.Time, n int) vigil.Reading {
		return vigil.Reading{Device: "moved", Code: "131330", Start: tp(start), RateHz: 250, Gain: 0.005, Unit: "mV", Samples: make([]int32, n)}
	}
	cases := []struct {
		name        string
		who         *vigil.Principal
		in          vigil.Reading
		wantPatient string // "" = rejected
	}{
		{"during the first period, arriving late", moved, vigil.Reading{Code: "8867-4", Time: tp(now.Add(-2 * time.Hour)), Value: fp(70), Unit: "/min"}, "p1"},
		{"during the second period", moved, vigil.Reading{Code: "8867-4", Time: tp(now.Add(-30 * time.Minute)), Value: fp(71), Unit: "/min"}, "p2"},
		{"at the change (end is exclusive)", moved, vigil.Reading{Code: "8867-4", Time: tp(now.Add(-time.Hour)), Value: fp(72), Unit: "/min"}, "p2"},
		{"before any period (the entered-in-error one does not bind)", moved, vigil.Reading{Code: "8867-4", Time: tp(now.Add(-60 * time.Hour)), Value: fp(73), Unit: "/min"}, ""},
		{"a gateway naming the device, first period", service, vigil.Reading{Device: "moved", Code: "8867-4", Time: tp(now.Add(-3 * time.Hour)), Value: fp(74), Unit: "/min"}, "p1"},
		{"a gateway naming the wrong patient for that time", service, vigil.Reading{Device: "moved", Patient: "p2", Code: "8867-4", Time: tp(now.Add(-3 * time.Hour)), Value: fp(75), Unit: "/min"}, ""},
		{"ECG chunk inside the first period", moved, ecg(now.Add(-90*time.Minute), 2500), "p1"},
		{"ECG chunk across the change of patient", moved, ecg(now.Add(-time.Hour-5*time.Second), 2500), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := f.svc.Ingest(vigil.WithPrincipal(context.Background(), c.who), "http", []vigil.Reading{c.in})
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			switch {
			case c.wantPatient == "" && r.Status != vigil.ItemRejected:
				t.Errorf("status %s (patient %q), want rejected", r.Status, r.Patient)
			case c.wantPatient != "" && (r.Status != vigil.ItemStored || r.Patient != c.wantPatient):
				t.Errorf("status %s patient %q (%s), want stored for %s", r.Status, r.Patient, r.Error, c.wantPatient)
			}
		})
	}
}

func TestIngestItems(t *testing.T) {
	f := newFixture(t)
	ctx := vigil.WithPrincipal(context.Background(), device1)
	at := now.Add(-time.Minute)
	cases := []struct {
		name string
		in   vigil.Reading
		want vigil.ItemStatus
	}{
		{"heart rate", vigil.Reading{Code: "8867-4", Time: tp(at), Value: fp(72), Unit: "/min"}, vigil.ItemStored},
		{"same again", vigil.Reading{Device: "d1", Code: "8867-4", Time: tp(at), Value: fp(72), Unit: "/min"}, vigil.ItemDuplicate},
		{"fahrenheit", vigil.Reading{Code: "8310-5", Time: tp(at), Value: fp(100.4), Unit: "[degF]"}, vigil.ItemStored},
		{"blood pressure", vigil.Reading{Code: "85354-9", Time: tp(at), Components: []vigil.ReadingComponent{
			{Code: "8480-6", Value: fp(150), Unit: "mm[Hg]"}, {Code: "8462-4", Value: fp(90), Unit: "mm[Hg]"}}}, vigil.ItemStored},
		{"kPa pressure", vigil.Reading{Code: "85354-9", Time: tp(at.Add(time.Second)), Components: []vigil.ReadingComponent{
			{Code: "8480-6", Value: fp(16), Unit: "kPa"}, {Code: "8462-4", Value: fp(10), Unit: "kPa"}}}, vigil.ItemStored},
		{"diastolic above systolic", vigil.Reading{Code: "85354-9", Time: tp(at.Add(2 * time.Second)), Components: []vigil.ReadingComponent{
			{Code: "8480-6", Value: fp(80), Unit: "mm[Hg]"}, {Code: "8462-4", Value: fp(120), Unit: "mm[Hg]"}}}, vigil.ItemRejected},
		{"panel without components", vigil.Reading{Code: "85354-9", Time: tp(at), Value: fp(120), Unit: "mm[Hg]"}, vigil.ItemRejected},
		{"impossible heart rate", vigil.Reading{Code: "8867-4", Time: tp(at), Value: fp(900), Unit: "/min"}, vigil.ItemRejected},
		{"negative SpO2", vigil.Reading{Code: "2708-6", Time: tp(at), Value: fp(-3), Unit: "%"}, vigil.ItemRejected},
		{"NaN", vigil.Reading{Code: "8867-4", Time: tp(at), Value: fp(math.NaN()), Unit: "/min"}, vigil.ItemRejected},
		{"wrong unit", vigil.Reading{Code: "8867-4", Time: tp(at), Value: fp(72), Unit: "kg"}, vigil.ItemRejected},
		{"unknown code", vigil.Reading{Code: "1234-5", Time: tp(at), Value: fp(1), Unit: "1"}, vigil.ItemRejected},
		{"no time", vigil.Reading{Code: "8867-4", Value: fp(72), Unit: "/min"}, vigil.ItemRejected},
		{"future", vigil.Reading{Code: "8867-4", Time: tp(now.Add(time.Hour)), Value: fp(72), Unit: "/min"}, vigil.ItemRejected},
		{"slightly ahead (clock skew)", vigil.Reading{Code: "8867-4", Time: tp(now.Add(2 * time.Minute)), Value: fp(73), Unit: "/min"}, vigil.ItemStored},
		{"late (yesterday)", vigil.Reading{Code: "8867-4", Time: tp(now.Add(-24 * time.Hour)), Value: fp(64), Unit: "/min"}, vigil.ItemStored},
		{"another device", vigil.Reading{Device: "d2", Code: "8867-4", Time: tp(at), Value: fp(72), Unit: "/min"}, vigil.ItemRejected},
		{"naming another patient", vigil.Reading{Patient: "p2", Code: "8867-4", Time: tp(at), Value: fp(72), Unit: "/min"}, vigil.ItemRejected},
		{"no value", vigil.Reading{Code: "8867-4", Time: tp(at), Unit: "/min"}, vigil.ItemRejected},
		{"ECG chunk", vigil.Reading{Code: "131330", Start: tp(at), RateHz: 250, Gain: 0.005, Unit: "mV", Samples: []int32{1, 2, 3, 4}}, vigil.ItemStored},
		{"ECG chunk again", vigil.Reading{Code: "131330", Start: tp(at), RateHz: 250, Gain: 0.005, Unit: "mV", Samples: []int32{1, 2, 3, 4}}, vigil.ItemDuplicate},
		{"ECG bad rate", vigil.Reading{Code: "131330", Start: tp(at), RateHz: 0, Gain: 0.005, Unit: "mV", Samples: []int32{1}}, vigil.ItemRejected},
		{"waveform of unknown code", vigil.Reading{Code: "8867-4", Start: tp(at), RateHz: 250, Gain: 1, Unit: "mV", Samples: []int32{1}}, vigil.ItemRejected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := f.svc.Ingest(ctx, "http", []vigil.Reading{c.in})
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Status != c.want {
				t.Errorf("Ingest(%s) = %s (%s), want %s", c.name, res[0].Status, res[0].Error, c.want)
			}
			if c.want == vigil.ItemRejected && res[0].Error == "" {
				t.Errorf("Ingest(%s): rejected without a reason", c.name)
			}
		})
	}
	got, err := f.samples.QuerySamples(context.Background(), &vigil.SampleQuery{Patient: "p1", Codes: []string{"8310-5"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Unit != "Cel" || math.Abs(got[0].Value-38) > 1e-9 || got[0].Device != "d1" {
		t.Errorf("stored temperature %+v, want 38 Cel from d1", got)
	}
	bp, _ := f.samples.QuerySamples(context.Background(), &vigil.SampleQuery{Patient: "p1", Codes: []string{"8480-6"}})
	if len(bp) != 2 || math.Abs(bp[1].Value-120.0) > 0.1 {
		t.Errorf("systolic samples %+v (16 kPa = 120.0 mm[Hg])", bp)
	}
	if other, _ := f.samples.QuerySamples(context.Background(), &vigil.SampleQuery{Patient: "p2"}); len(other) != 0 {
		t.Errorf("the device wrote to another patient: %+v", other)
	}
}

func TestIngestBatchKeepsValidItems(t *testing.T) {
	f := newFixture(t)
	ctx := vigil.WithPrincipal(context.Background(), device1)
	at := now.Add(-time.Minute)
	batch := []vigil.Reading{
		{Code: "8867-4", Time: tp(at), Value: fp(80), Unit: "/min"},
		{Code: "8867-4", Time: tp(at.Add(time.Second)), Value: fp(1e6), Unit: "/min"},
		{Code: "2708-6", Time: tp(at), Value: fp(95), Unit: "%"},
	}
	res, err := f.svc.Ingest(ctx, "http", batch)
	if err != nil {
		t.Fatal(err)
	}
	want := []vigil.ItemStatus{vigil.ItemStored, vigil.ItemRejected, vigil.ItemStored}
	for i := range want {
		if res[i].Status != want[i] || res[i].Index != i {
			t.Errorf("item %d: %+v, want %s", i, res[i], want[i])
		}
	}
	if len(f.sunk) != 2 {
		t.Errorf("analysers got %d samples, want the 2 stored", len(f.sunk))
	}
	// A retry of the whole batch stores nothing new and feeds nothing.
	res, err = f.svc.Ingest(ctx, "http", batch)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != vigil.ItemDuplicate || res[2].Status != vigil.ItemDuplicate || len(f.sunk) != 2 {
		t.Errorf("retry: %+v, sunk %d", res, len(f.sunk))
	}
}

func TestIngestCallers(t *testing.T) {
	f := newFixture(t)
	at := now.Add(-time.Minute)
	hr := func(r vigil.Reading) []vigil.Reading {
		r.Code, r.Time, r.Value, r.Unit = "8867-4", tp(at), fp(70), "/min"
		return []vigil.Reading{r}
	}
	cases := []struct {
		name    string
		p       *vigil.Principal
		in      []vigil.Reading
		wantErr error
		want    vigil.ItemStatus
	}{
		{"anonymous", nil, hr(vigil.Reading{Device: "d1"}), vigil.ErrUnauthorized, ""},
		{"admin", &vigil.Principal{Role: vigil.RoleAdmin}, hr(vigil.Reading{Device: "d1"}), vigil.ErrForbidden, ""},
		{"service without write scope", &vigil.Principal{Role: vigil.RoleService, Scopes: []vigil.Scope{{Type: "*", Read: true}}}, hr(vigil.Reading{Device: "d1"}), vigil.ErrForbidden, ""},
		{"gateway service by device", &vigil.Principal{Role: vigil.RoleService, Scopes: []vigil.Scope{{Type: "Observation", Write: true}}}, hr(vigil.Reading{Device: "d2"}), nil, vigil.ItemStored},
		{"HL7 feed by patient", &vigil.Principal{Role: vigil.RoleService, Scopes: []vigil.Scope{{Type: "Observation", Write: true}}}, hr(vigil.Reading{Patient: "p2"}), nil, vigil.ItemStored},
		{"unbound device", &vigil.Principal{Role: vigil.RoleDevice, Device: "loose"}, hr(vigil.Reading{}), nil, vigil.ItemRejected},
		{"patient for self", &vigil.Principal{Role: vigil.RolePatient, Patient: "p1"}, hr(vigil.Reading{}), nil, vigil.ItemStored},
		{"patient for another", &vigil.Principal{Role: vigil.RolePatient, Patient: "p1"}, hr(vigil.Reading{Patient: "p2"}), nil, vigil.ItemRejected},
		{"patient with another's device", &vigil.Principal{Role: vigil.RolePatient, Patient: "p1"}, hr(vigil.Reading{Device: "d2"}), nil, vigil.ItemRejected},
		{"clinician outside care team", &vigil.Principal{Role: vigil.RoleClinician, Practitioner: "x"}, hr(vigil.Reading{Patient: "p1"}), nil, vigil.ItemRejected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			if c.p != nil {
				ctx = vigil.WithPrincipal(ctx, c.p)
			}
			res, err := f.svc.Ingest(ctx, "http", c.in)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Errorf("Ingest as %s: %v, want %v", c.name, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Status != c.want {
				t.Errorf("Ingest as %s = %s (%s), want %s", c.name, res[0].Status, res[0].Error, c.want)
			}
		})
	}
}

// BenchmarkIngest measures validation, normalisation, authorization and
// durable storage of 1,000-reading batches from one device (SQLite).
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	samples, err := sqlite.OpenSamples(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer samples.Close()
	svc, err := ingest.New(ingest.Config{Samples: samples,
		DeviceBindings: func(context.Context, string) (vigil.DeviceBindings, error) {
			return vigil.DeviceBindings{{Patient: "p1"}}, nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	pctx := vigil.WithPrincipal(ctx, device1)
	base := time.Now().Add(-time.Hour)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		batch := make([]vigil.Reading, 1000)
		for i := range batch {
			t := base.Add(time.Duration(n) * time.Millisecond)
			n++
			batch[i] = vigil.Reading{Code: "8867-4", Time: &t, Value: fp(60 + float64(n%40)), Unit: "/min"}
		}
		if _, err := svc.Ingest(pctx, "bench", batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "readings/s")
}

// TestIngestHorizon checks that a batch holds the write horizon from before
// its received time is taken until its readings are stored: a FHIR client
// polling by _lastUpdated (the received time) is told an instant no later
// than that of a batch still in flight (vigil.WriteHorizon).
func TestIngestHorizon(t *testing.T) {
	f := newFixture(t)
	later := func() time.Time { return now.Add(time.Minute) }
	var during time.Time
	f.inSink = func() { during = f.horizon.At(later) }
	ctx := vigil.WithPrincipal(context.Background(), device1)
	res, err := f.svc.Ingest(ctx, "http", []vigil.Reading{{Code: "8867-4", Time: tp(now.Add(-time.Minute)), Value: fp(70), Unit: "/min"}})
	if err != nil || res[0].Status != vigil.ItemStored {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	received := f.sunk[0].Received
	if during.IsZero() || during.After(received) {
		t.Errorf("horizon while the batch was in flight = %v, want at most its received time %v", during, received)
	}
	if got := f.horizon.At(later); !got.Equal(later()) {
		t.Errorf("horizon after the batch = %v, want the clock's %v", got, later())
	}
}
