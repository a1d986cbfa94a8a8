package sqlite

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// TestSamplesVersion1Upgrade opens a samples.db written before beats
// existed (schema version 1, with a sample in it): it gains the beat
// tables (version 2) and keeps its sample.
func TestSamplesVersion1Upgrade(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	raw, err := sql.Open("sqlite", "file:"+dir+"/"+SamplesFileName)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := apply(ctx, conn, samplesStep(0), 1); err != nil {
		t.Fatalf("version 1 schema: %v", err)
	}
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	if _, err := conn.ExecContext(ctx, "INSERT INTO series (patient, code, device) VALUES ('p1', '8867-4', 'd')"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO attr (unit, source) VALUES ('/min', 'http')"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO sample (series, t, value, attr, lag) VALUES (1, ?, 72, 1, NULL)", at.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	raw.Close()

	s, err := OpenSamples(ctx, dir)
	if err != nil {
		t.Fatalf("OpenSamples on a version 1 file = %v", err)
	}
	defer s.Close()
	var v int
	if err := s.read.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != samplesSchemaVersion {
		t.Errorf("user_version = %d (%v), want %d", v, err, samplesSchemaVersion)
	}
	got, err := s.QuerySamples(ctx, &vigil.SampleQuery{Patient: "p1"})
	if err != nil || len(got) != 1 || got[0].Value != 72 {
		t.Errorf("the version 1 sample after the upgrade: %+v %v", got, err)
	}
	if err := s.AppendBeats(ctx, []vigil.Beat{{Patient: "p1", Code: "131330", Time: at, Class: "N", Model: "m"}}); err != nil {
		t.Errorf("AppendBeats after the upgrade = %v", err)
	}
}
