package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
	"github.com/vigilhealth/vigil/records"
	"github.com/vigilhealth/vigil/sim"
)

// demoPatients is how many simulated patients the demo streams.
const demoPatients = 12

// demoSimulation creates simulated patients with devices on the demo
// clinician's virtual ward, back-fills their last six hours and then
// streams their vital signs in real time through the HTTP ingestion API,
// as a gateway would. Some patients deteriorate (sepsis, heart failure,
// hypoxia), hours ago or in the next minutes, so the demo has real alerts
// and new ones arrive while it runs.
func demoSimulation(ctx context.Context, app *App, log *slog.Logger) error {
	var buf bytes.Buffer
	scenarios := []sim.Scenario{sim.Stable, sim.Sepsis, sim.Stable, sim.Hypoxia, sim.HeartFailure, sim.Stable}
	now := time.Now().UTC()
	start := now.Add(-6 * time.Hour)
	var patients []sim.Patient
	for i := range demoPatients {
		pid, did := fmt.Sprintf("sim-%02d", i+1), fmt.Sprintf("sim-dev-%02d", i+1)
		fmt.Fprintf(&buf, `{"resourceType":"Patient","id":"%s","identifier":[{"system":"urn:vigil:demo","value":"%s"}],"name":[{"family":"Sim","given":["Patient %d"]}]}`+"\n", pid, pid, i+1)
		fmt.Fprintf(&buf, `{"resourceType":"Device","id":"%s","status":"active","patient":{"reference":"Patient/%s"}}`+"\n", did, pid)
		fmt.Fprintf(&buf, `{"resourceType":"CareTeam","id":"sim-team-%02d","status":"active","subject":{"reference":"Patient/%s"},"participant":[{"member":{"reference":"Practitioner/demo-clinician"}}]}`+"\n", i+1, pid)
		// Onsets: some hours ago (alerts now), some within the next
		// minutes (alerts while you watch).
		onset := []time.Duration{2 * time.Hour, 5*time.Hour + 55*time.Minute, 6*time.Hour + 5*time.Minute}[i%3]
		patients = append(patients, sim.Patient{ID: pid, Device: did, Scenario: scenarios[i%len(scenarios)], Onset: sim.Duration(onset)})
	}
	if _, err := app.Records.Import(ctx, &buf, records.ImportOptions{}); err != nil {
		return fmt.Errorf("demo patients: %w", err)
	}
	acc, err := app.Auth.CreateAccount(ctx, auth.AccountSpec{Username: "demo-gateway", Role: vigil.RoleService,
		Scopes: []vigil.Scope{{Type: "Observation", Write: true}}})
	if err != nil {
		return err
	}
	tok, _, err := app.Auth.IssueToken(ctx, acc.ID, 30*24*time.Hour, nil)
	if err != nil {
		return err
	}
	gen, err := sim.New(sim.Config{Patients: patients, Seed: 7, Start: start})
	if err != nil {
		return err
	}
	sink, err := sim.NewHTTPSink(app.URL(), tok, patients, nil)
	if err != nil {
		return err
	}
	send := func(upTo time.Time) {
		rs := gen.Until(upTo)
		for len(rs) > 0 {
			n := min(len(rs), 5000)
			if _, err := sink.Send(ctx, rs[:n]); err != nil && ctx.Err() == nil {
				log.Warn("demo simulator: send failed", "err", err)
			}
			rs = rs[n:]
		}
	}
	send(time.Now()) // the last six hours
	go func() {
		defer sink.Close()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				send(now)
			}
		}
	}()
	return nil
}

var _ io.Closer = (*sim.HTTPSink)(nil)
