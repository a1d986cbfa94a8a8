package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/sqlite"
)

// backend is one real audit store, with raw SQL access to it for the
// tampering tests.
type backend struct {
	name string
	open func(t testing.TB) *fixture
}

// fixture is an open store, its directory (for key and witness files) and
// a raw connection that bypasses Vigil.
type fixture struct {
	store vigil.AuditStore
	dir   string
	// exec runs SQL written with ? placeholders.
	exec func(t testing.TB, q string, args ...any)
	// query returns the first column of the first row.
	queryBytes func(t testing.TB, q string, args ...any) []byte
	// unlock drops the append-only triggers, as an attacker would.
	unlock       func(t testing.TB)
	pg           bool   // PostgreSQL dialect
	patientTable string // SQLite's separate patient index table
	// reopen closes and reopens the store (a restart).
	reopen func(t testing.TB)
}

func backends() []backend {
	return []backend{
		{"sqlite", openSQLite},
		{"postgres", openPostgres},
	}
}

func openSQLite(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, patientTable: "audit_patient"}
	var db *sqlite.AuditDB
	open := func() {
		var err error
		db, err = sqlite.OpenAudit(context.Background(), dir)
		if err != nil {
			t.Fatalf("sqlite.OpenAudit: %v", err)
		}
		f.store = db
	}
	open()
	t.Cleanup(func() { db.Close() })
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	f.exec = func(t testing.TB, q string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(q, args...); err != nil {
			t.Fatalf("raw sqlite %q: %v", q, err)
		}
	}
	f.queryBytes = func(t testing.TB, q string, args ...any) []byte {
		t.Helper()
		var b []byte
		if err := raw.QueryRow(q, args...).Scan(&b); err != nil {
			t.Fatalf("raw sqlite %q: %v", q, err)
		}
		return b
	}
	f.unlock = func(t testing.TB) {
		for _, tb := range []string{"audit_log", "audit_patient", "audit_checkpoint", "audit_patient_index"} {
			f.exec(t, "DROP TRIGGER "+tb+"_no_update")
			f.exec(t, "DROP TRIGGER "+tb+"_no_delete")
		}
	}
	f.reopen = func(t testing.TB) {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		open()
	}
	return f
}

func openPostgres(t testing.TB) *fixture {
	t.Helper()
	url := testenv.Postgres(t)
	f := &fixture{dir: t.TempDir(), pg: true}
	var db *postgres.DB
	open := func() {
		var err error
		db, err = postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		f.store = db
	}
	open()
	t.Cleanup(func() { db.Close() })
	raw, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(context.Background()) })
	f.exec = func(t testing.TB, q string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(context.Background(), dollar(q), args...); err != nil {
			t.Fatalf("raw postgres %q: %v", q, err)
		}
	}
	f.queryBytes = func(t testing.TB, q string, args ...any) []byte {
		t.Helper()
		var b []byte
		if err := raw.QueryRow(context.Background(), dollar(q), args...).Scan(&b); err != nil {
			t.Fatalf("raw postgres %q: %v", q, err)
		}
		return b
	}
	f.unlock = func(t testing.TB) {
		f.exec(t, "ALTER TABLE audit_log DISABLE TRIGGER USER")
		f.exec(t, "ALTER TABLE audit_checkpoint DISABLE TRIGGER USER")
	}
	f.reopen = func(t testing.TB) {
		db.Close()
		open()
	}
	return f
}

// dollar turns ? placeholders into $1, $2, ….
func dollar(q string) string {
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// newKey returns a fresh signing key.
func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testRecord returns the i-th record of a synthetic trail: a mix of
// actions, actors and patients.
func testRecord(i int) *vigil.AuditRecord {
	actions := []vigil.AuditAction{vigil.AuditRead, vigil.AuditSearch, vigil.AuditCreate, vigil.AuditLogin, vigil.AuditUpdate}
	a := actions[i%len(actions)]
	r := &vigil.AuditRecord{
		Time:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		ActorID:   fmt.Sprintf("acct-%d", i%7),
		ActorName: fmt.Sprintf("user%d", i%7),
		Role:      "clinician",
		Action:    a,
		Outcome:   vigil.AuditSuccess,
		Source:    "192.0.2.10:5" + strconv.Itoa(1000+i%1000),
		RequestID: fmt.Sprintf("req-%d", i),
	}
	if a != vigil.AuditLogin {
		r.Resources = []string{fmt.Sprintf("Observation/obs-%d", i)}
		r.Patients = []string{fmt.Sprintf("Patient/p%d", i%5)}
		if a == vigil.AuditSearch {
			r.Patients = append(r.Patients, fmt.Sprintf("Patient/p%d", (i+1)%5))
		}
	}
	return r
}

// fill opens a trail on f, appends n records and closes it (so the last
// checkpoint is at n). It returns the key and witness path.
func fill(t testing.TB, f *fixture, n, every int) (ed25519.PrivateKey, string) {
	t.Helper()
	key := newKey(t)
	witness := filepath.Join(f.dir, audit.WitnessFileName)
	tr, err := audit.Open(context.Background(), f.store, audit.Options{Key: key, WitnessFile: witness, CheckpointEvery: every, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatalf("audit.Open: %v", err)
	}
	// Append in groups of every records, concurrently within a group (so
	// that they share commits) and one group after the other (so that the
	// checkpoints fall exactly on multiples of every).
	for start := 1; start <= n; start += every {
		var wg sync.WaitGroup
		for i := start; i < start+every && i <= n; i++ {
			wg.Go(func() {
				if err := tr.Append(context.Background(), testRecord(i)); err != nil {
					t.Errorf("Append %d: %v", i, err)
				}
			})
		}
		wg.Wait()
	}
	if t.Failed() {
		t.FailNow()
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return key, witness
}
