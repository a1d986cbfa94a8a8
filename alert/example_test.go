package alert_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/internal/alertsql"
)

// exampleStore opens an alert store in a temporary directory, as
// sqlite.OpenAlerts does in a data directory.
func exampleStore() (vigil.AlertStore, func()) {
	dir, err := os.MkdirTemp("", "alert-example")
	if err != nil {
		panic(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "alerts.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		panic(err)
	}
	s, err := alertsql.Open(context.Background(), db, alertsql.SQLite)
	if err != nil {
		panic(err)
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }
}

func ExampleEngine() {
	ctx := context.Background()
	store, done := exampleStore()
	defer done()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	hub := alert.NewHub(0)
	eng, err := alert.New(alert.Config{
		Store:      store,
		Sinks:      []alert.Sink{hub},
		Now:        func() time.Time { return now },
		Escalation: alert.DefaultEscalation(), // high: 15 min
	})
	if err != nil {
		panic(err)
	}
	events, cancel := hub.Subscribe(func(a *vigil.Alert) bool { return a.Patient == "p1" })
	defer cancel()

	spo2 := func(minute int, v float64) vigil.Sample {
		return vigil.Sample{Code: "59408-5", Time: now.Add(time.Duration(minute) * time.Minute), Value: v, Unit: "%"}
	}
	a, _ := eng.Raise(ctx, alert.Finding{Patient: "p1", Rule: "spo2-low", Severity: "high", Title: "SpO2 < 90 % for 5 min",
		Readings: []vigil.Sample{spo2(0, 88)}})
	// The same rule again: the open alert is updated, not duplicated.
	b, _ := eng.Raise(ctx, alert.Finding{Patient: "p1", Rule: "spo2-low", Severity: "critical", Title: "SpO2 < 85 %",
		Readings: []vigil.Sample{spo2(1, 84)}})
	fmt.Println("same alert:", a.ID == b.ID, "severity:", b.Severity, "readings:", len(b.Readings))

	// Nobody acknowledges it within the critical timeout (5 min).
	now = now.Add(6 * time.Minute)
	n, _ := eng.Tick(ctx, now)
	fmt.Println("escalated:", n)

	c, _ := eng.Acknowledge(ctx, a.ID, "Practitioner/n1", "calling the patient")
	fmt.Println(c.Status, "by", c.AckBy)
	_, err = eng.Acknowledge(ctx, a.ID, "Practitioner/n2", "")
	fmt.Println("acknowledge twice:", err)

	for range 4 {
		ev := <-events
		fmt.Println("event:", ev.Kind)
	}
	// Output:
	// same alert: true severity: critical readings: 2
	// escalated: 1
	// acknowledged by Practitioner/n1
	// acknowledge twice: only an open alert can be acknowledged
	// event: created
	// event: updated
	// event: escalated
	// event: acknowledged
}

func ExampleVerifySignature() {
	secret := []byte("a secret shared with the receiver")
	body := []byte(`{"id":"E1","type":"alert.created"}`)
	sent := time.Unix(1764064800, 0)
	header := alert.Sign(secret, sent, body)
	fmt.Println(header[:13])

	// The receiver, 30 s later:
	fmt.Println(alert.VerifySignature(secret, header, body, sent.Add(30*time.Second), alert.DefaultTolerance))
	fmt.Println(alert.VerifySignature(secret, header, []byte(`{"id":"E2"}`), sent.Add(30*time.Second), 0))
	// Output:
	// t=1764064800,
	// <nil>
	// webhook signature: no matching signature
}

func ExampleDetectedIssue() {
	a := &vigil.AlertRecord{Alert: vigil.Alert{
		ID: "A1", Patient: "p1", Rule: "spo2-low", Severity: "medium", Status: vigil.AlertOpen,
		Title: "SpO2 < 90 % for 5 min", Created: t0, Updated: t0,
	}}
	r := alert.DetectedIssue(a, "Device/vigil")
	fmt.Println(r["resourceType"], r["status"], r["severity"], r["identifiedDateTime"])
	// Output:
	// DetectedIssue preliminary moderate 2026-11-25T10:00:00.000Z
}
