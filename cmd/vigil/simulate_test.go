package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/mqtt"
)

// simSink records what the MQTT entrance hands over: the collaborator of
// the path under test (simulate → broker → Subscriber).
type simSink struct {
	mu      sync.Mutex
	devices map[string]int
	codes   map[string]int
}

func (s *simSink) Ingest(ctx context.Context, source string, items []vigil.Reading) ([]vigil.ItemResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]vigil.ItemResult, len(items))
	for i, it := range items {
		s.devices[it.Device]++
		s.codes[it.Code]++
		out[i] = vigil.ItemResult{Index: i, Status: vigil.ItemStored}
	}
	return out, nil
}

func TestSimulateMQTT(t *testing.T) {
	tokens := map[string]string{"dev-a": "tok-a", "dev-b": "tok-b"}
	b, err := mqtt.NewBroker(mqtt.BrokerConfig{Addr: "127.0.0.1:0", Auth: func(ctx context.Context, user, pass string) (*vigil.Principal, error) {
		if tokens[user] == "" || tokens[user] != pass {
			return nil, vigil.ErrUnauthorized
		}
		return &vigil.Principal{AccountID: user, Role: vigil.RoleDevice, Device: user}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec := &simSink{devices: map[string]int{}, codes: map[string]int{}}
	sub, err := mqtt.NewSubscriber(b.ServiceConfig(mqtt.Config{Ingester: rec,
		Principal: func(ctx context.Context, dev string) (*vigil.Principal, error) {
			return &vigil.Principal{AccountID: dev, Role: vigil.RoleDevice, Device: dev}, nil
		}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- sub.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-sub.Ready()

	roster := filepath.Join(t.TempDir(), "roster.ndjson")
	os.WriteFile(roster, []byte(`{"patient":"MRN-1","device":"dev-a","token":"tok-a","scenario":"sepsis","onset":"1m"}
{"patient":"MRN-2","device":"dev-b","token":"tok-b"}
`), 0o600)
	var stderr bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(string) string { return "" }}
	// 30 simulated minutes at 900× take 2 s.
	err = Run(t.Context(), env, []string{"simulate", "--target", b.URL(), "--via", "mqtt", "--roster", roster,
		"--speed", "900", "--duration", "30m", "--seed", "7"})
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "rejected 0") || !strings.Contains(stderr.String(), "done: ") {
		t.Errorf("progress output:\n%s", stderr.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		rec.mu.Lock()
		n := rec.devices["dev-a"] + rec.devices["dev-b"]
		rec.mu.Unlock()
		// About 30 readings each of HR, RR, SpO2 per device, less gaps.
		if n >= 2*3*25 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.devices["dev-a"] < 75 || rec.devices["dev-b"] < 75 || rec.codes["8867-4"] < 50 || rec.codes["85354-9"] < 2 {
		t.Errorf("ingested per device %v, per code %v", rec.devices, rec.codes)
	}
}

func TestSimulateFlags(t *testing.T) {
	for _, args := range [][]string{
		{"simulate"},
		{"simulate", "--target", "http://x", "--via", "carrier-pigeon"},
		{"simulate", "--target", "http://x", "--mix", "stable,flu"},
		{"simulate", "--target", "http://x", "--speed", "-1"},
		{"simulate", "--target", "http://x", "--roster", "/nonexistent"},
	} {
		env := &Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
		if err := Run(t.Context(), env, args); err == nil {
			t.Errorf("Run(%q) succeeded, want an error", args)
		}
	}
}

func TestSimStart(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		d     time.Duration
		speed float64
		want  time.Time
	}{
		{time.Hour, 1, now},
		{0, 60, now},
		{72 * time.Hour, 3600, now.Add(-72*time.Hour + 72*time.Second)},
	}
	for _, tt := range tests {
		if got := simStart(now, tt.d, tt.speed); !got.Equal(tt.want) {
			t.Errorf("simStart(%v, %g) = %v, want %v", tt.d, tt.speed, got, tt.want)
		}
	}
}
