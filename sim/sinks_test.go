package sim

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/hl7"
	"github.com/vigilhealth/vigil/ingest"
	"github.com/vigilhealth/vigil/mllp"
	"github.com/vigilhealth/vigil/mqtt"
)

// sink records what an entrance hands to the Ingester; it is the
// collaborator of the entrances under test, rejecting temperatures so
// rejections can be counted.
type sink struct {
	mu    sync.Mutex
	items []vigil.Reading
	who   []*vigil.Principal
}

func (s *sink) Ingest(ctx context.Context, source string, items []vigil.Reading) ([]vigil.ItemResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]vigil.ItemResult, len(items))
	for i, it := range items {
		s.items = append(s.items, it)
		s.who = append(s.who, vigil.PrincipalFrom(ctx))
		out[i] = vigil.ItemResult{Index: i, Status: vigil.ItemStored}
		if it.Code == "8310-5" {
			out[i] = vigil.ItemResult{Index: i, Status: vigil.ItemRejected, Error: "no temperatures today"}
		}
	}
	return out, nil
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// components counts readings as the entrances see them: a blood pressure
// panel is two values.
func components(rs []vigil.Reading) (n, temps int) {
	for _, r := range rs {
		switch {
		case len(r.Components) > 0:
			n += len(r.Components)
		default:
			n++
		}
		if r.Code == "8310-5" {
			temps++
		}
	}
	return n, temps
}

// The MLLP sink's messages pass Vigil's own HL7 entrance.
func TestMLLPSink(t *testing.T) {
	rec := &sink{}
	ps := patients(Stable, Sepsis)
	ps[0].ID, ps[1].ID = "MRN-100", "MRN-200"
	handler := ingest.HL7Handler(ingest.HL7Config{
		Ingester:  rec,
		Principal: &vigil.Principal{AccountID: "svc", Role: vigil.RoleService},
		ResolvePatient: func(ctx context.Context, ids []hl7.Identifier) (string, error) {
			if ids[0].Authority != "HOSP" || !strings.HasPrefix(ids[0].ID, "MRN-") {
				return "", vigil.ErrNotFound
			}
			return "Patient-" + ids[0].ID, nil
		},
	})
	srv := &mllp.Server{Handler: handler}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	start := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	rs := mustNew(t, Config{Patients: ps, Seed: 4, Start: start}).Until(start.Add(2 * time.Hour))
	s := NewMLLPSink(ln.Addr().String(), "HOSP", ps, nil)
	defer s.Close()
	rej, err := s.Send(t.Context(), rs)
	if err != nil {
		t.Fatal(err)
	}
	n, temps := components(rs)
	if rec.count() != n {
		t.Errorf("entrance ingested %d values, want %d", rec.count(), n)
	}
	if rej != temps {
		t.Errorf("Send reported %d rejected, want %d (one per message with a temperature, answered AE)", rej, temps)
	}
	seen := map[string]int{}
	for _, it := range rec.items {
		seen[it.Patient]++
	}
	if len(seen) != 2 || seen["Patient-MRN-100"] == 0 || seen["Patient-MRN-200"] == 0 {
		t.Errorf("ingested for patients %v, want MRN-100 and MRN-200", seen)
	}
	// Unknown patient: AE, every OBX counted as rejected.
	s2 := NewMLLPSink(ln.Addr().String(), "OTHER", ps, nil)
	defer s2.Close()
	rej, err = s2.Send(t.Context(), rs[:1])
	if err != nil || rej != 1 {
		t.Errorf("Send for an unknown patient = %d, %v; want 1 rejected", rej, err)
	}
}

// The MQTT sink logs in with device credentials at Vigil's embedded broker,
// publishes to the device topics, and hears about rejections.
func TestMQTTSink(t *testing.T) {
	ps := patients(Stable, Hypoxia)
	ps[0].Token = "tok-d0"
	auth := func(ctx context.Context, user, pass string) (*vigil.Principal, error) {
		if (user == "d0" && pass == "tok-d0") || (user == "d1" && pass == "shared") {
			return &vigil.Principal{AccountID: "a-" + user, Role: vigil.RoleDevice, Device: user}, nil
		}
		return nil, vigil.ErrUnauthorized
	}
	b, err := mqtt.NewBroker(mqtt.BrokerConfig{Addr: "127.0.0.1:0", Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec := &sink{}
	sub, err := mqtt.NewSubscriber(b.ServiceConfig(mqtt.Config{Ingester: rec,
		Principal: func(ctx context.Context, dev string) (*vigil.Principal, error) {
			return &vigil.Principal{AccountID: "a-" + dev, Role: vigil.RoleDevice, Device: dev}, nil
		}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- sub.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-sub.Ready()

	s, err := NewMQTTSink(t.Context(), b.URL(), "shared", ps, mqtt.Topics{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rs := mustNew(t, Config{Patients: ps, Seed: 4, Start: t0}).Until(t0.Add(3 * time.Hour))
	if _, err := s.Send(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for rec.count() < len(rs) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if rec.count() != len(rs) {
		t.Fatalf("ingested %d readings, want %d", rec.count(), len(rs))
	}
	for i, p := range rec.who {
		if p.Device != rec.items[i].Device {
			t.Fatalf("reading of %s ingested as %s", rec.items[i].Device, p.Device)
		}
	}
	_, temps := components(rs)
	rej := 0
	for deadline := time.Now().Add(20 * time.Second); rej < temps && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		n, err := s.Send(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		rej += n
	}
	// Results are published best-effort (a publish that times out under
	// load is logged, not retried), so under a loaded CI some may be
	// missing; they must arrive, and never be over-counted.
	if rej == 0 || rej > temps {
		t.Errorf("rejections reported %d, want 1 to %d", rej, temps)
	}

	bad := []Patient{{ID: "p", Device: "d0", Token: "wrong", Scenario: Stable}}
	if _, err := NewMQTTSink(t.Context(), b.URL(), "", bad, mqtt.Topics{}); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("NewMQTTSink with a wrong token: %v, want ErrUnauthorized", err)
	}
}

func TestReplay(t *testing.T) {
	in := `{"device":"d1","code":"8867-4","time":"2026-01-01T10:00:30Z","value":80,"unit":"/min"}
{"device":"d1","code":"8867-4","time":"2026-01-01T10:00:00Z","value":70,"unit":"/min"}

{"patient":"p2","code":"131329","start":"2026-01-01T10:00:10Z","rate_hz":250,"gain":0.005,"unit":"mV","samples":[1,2,3]}
`
	shift := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p, err := NewReplay(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if p.Span() != 30*time.Second {
		t.Errorf("Span = %v, want 30s", p.Span())
	}
	p.Shift(shift)
	if !p.Start().Equal(shift) {
		t.Errorf("Start = %v, want %v", p.Start(), shift)
	}
	a := p.Until(shift.Add(15 * time.Second))
	b := p.Until(shift.Add(time.Hour))
	if len(a) != 2 || *a[0].Value != 70 || !a[1].Start.Equal(shift.Add(10*time.Second)) || len(b) != 1 || !b[0].Time.Equal(shift.Add(30*time.Second)) || !p.Done() {
		t.Errorf("Until gave %+v then %+v", a, b)
	}
	for _, bad := range []string{
		`{"device":"d1","code":"8867-4","value":1}`,
		`{"code":"8867-4","time":"2026-01-01T10:00:00Z"}`,
		`{"device":"d1","code":"8867-4","time":"2026-01-01T10:00:00Z","valu":1}`,
		`{"device":"d1","code":"8867-4","time":"2026-01-01T10:00:00Z"} {}`,
		``,
	} {
		if _, err := NewReplay(strings.NewReader(bad)); err == nil {
			t.Errorf("NewReplay(%q) succeeded, want an error", bad)
		}
	}
}
