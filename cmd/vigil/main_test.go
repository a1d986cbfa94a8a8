package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/vigilhealth/vigil"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil/internal/testenv"
)

func testEnv() (*Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}, &out, &errb
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"help"}, {"help", "serve"}, {"help", "demo"}, {"help", "import"}, {"help", "bench"}, {"help", "version"}, {"serve", "-h"}} {
		env, out, _ := testEnv()
		if err := Run(context.Background(), env, args); err != nil {
			t.Errorf("vigil %s: %v", strings.Join(args, " "), err)
		}
		if out.Len() == 0 {
			t.Errorf("vigil %s printed nothing", strings.Join(args, " "))
		}
	}
	env, _, _ := testEnv()
	if err := Run(context.Background(), env, []string{"frobnicate"}); err == nil {
		t.Error("unknown command: no error")
	}
}

// TestImportThenServe imports the Synthea bundles and an NDJSON file with
// "vigil import", then starts "vigil serve" on the same data directory and
// reads them back over HTTP.
func TestImportThenServe(t *testing.T) {
	data := testenv.SharedData(t)
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(data, "fhir-r4", "synthea", "*.json"))
	nd := filepath.Join(t.TempDir(), "obs.ndjson")
	var buf bytes.Buffer
	for i := range 3 {
		buf.WriteString(`{"resourceType":"Observation","id":"nd-` + string(rune('a'+i)) + `","status":"final","code":{"text":"x"}}` + "\n")
	}
	if err := os.WriteFile(nd, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	env, out, errb := testEnv()
	args := append([]string{"import", "--data", dir}, files...)
	args = append(args, nd)
	if err := Run(context.Background(), env, args); err != nil {
		t.Fatalf("vigil import: %v\n%s", err, errb)
	}
	if !strings.Contains(out.String(), "imported") {
		t.Errorf("import output: %q", out)
	}

	// An integration account and its token, made with the CLI.
	env, out, errb = testEnv()
	if err := Run(context.Background(), env, []string{"user", "add", "--data", dir, "--username", "ehr-sync", "--role", "service", "--scope", "system/*.read"}); err != nil {
		t.Fatalf("vigil user add: %v\n%s", err, errb)
	}
	env, out, errb = testEnv()
	if err := Run(context.Background(), env, []string{"token", "issue", "--data", dir, "--username", "ehr-sync", "--expires", "1h"}); err != nil {
		t.Fatalf("vigil token issue: %v\n%s", err, errb)
	}
	token := strings.TrimSpace(out.String())
	if !strings.HasPrefix(token, "vgl_") {
		t.Fatalf("token issue printed %q", token)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := NewApp(ctx, Config{Addr: "127.0.0.1:0", DataDir: dir, Logger: quietLogger(env)})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
		app.Close()
	}()
	if resp, err := http.Get(app.URL() + "/fhir/Patient"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /fhir/Patient without a token: %d, want 401", resp.StatusCode)
	}
	get := func(path string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("GET", app.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := get("/fhir/metadata"); m["resourceType"] != "CapabilityStatement" {
		t.Errorf("metadata: %v", m["resourceType"])
	}
	if m := get("/fhir/Patient?_summary=count"); m["total"] != float64(len(files)) {
		t.Errorf("patients after import = %v, want %d", m["total"], len(files))
	}
	if m := get("/fhir/Observation/nd-b"); m["id"] != "nd-b" {
		t.Errorf("NDJSON resource nd-b not found: %v", m)
	}
	// The import is in the audit trail: one record per file, with the
	// patients of what it wrote (each Synthea bundle is one patient).
	page, err := app.Trail.Query(ctx, &vigil.AuditQuery{Actions: []vigil.AuditAction{vigil.AuditImport}, Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != len(files)+1 {
		t.Fatalf("%d import records, want one per file (%d)", len(page.Records), len(files)+1)
	}
	withPatients := 0
	for _, r := range page.Records {
		if r.Outcome != vigil.AuditSuccess || r.Source != "cli" || !strings.HasPrefix(r.ActorID, "cli:") {
			t.Errorf("import record %+v", r)
		}
		if len(r.Patients) == 1 {
			withPatients++
		}
	}
	if withPatients != len(files) {
		t.Errorf("%d import records name one patient, want %d (one per Synthea bundle)", withPatients, len(files))
	}
}
