package main

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/records"
)

// TestReindex stores an Observation with the index an older Vigil would
// have written (no Reference.identifier entries), runs vigil reindex, and
// finds it by subject:identifier afterwards, on both stores.
func TestReindex(t *testing.T) {
	eachConfig(t, func(t *testing.T, cfg Config) {
		env, _, _ := testEnv()
		cfg.Logger = quietLogger(env)
		ctx := context.Background()
		find := func() int {
			t.Helper()
			app, err := NewApp(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close()
			page, err := app.Records.Search(ctx, &records.SearchRequest{Type: "Observation", Base: "http://x/fhir",
				Query: url.Values{"subject:identifier": {"urn:mrn|12345"}}})
			if err != nil {
				t.Fatal(err)
			}
			return len(page.Matches)
		}
		app, err := NewApp(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		body := `{"resourceType":"Observation","id":"old1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00.000Z"},"status":"final","code":{"text":"x"},"subject":{"identifier":{"system":"urn:mrn","value":"12345"}}}`
		var obj map[string]any
		if err := json.Unmarshal([]byte(body), &obj); err != nil {
			t.Fatal(err)
		}
		idx, err := app.Model.Index(obj)
		if err != nil {
			t.Fatal(err)
		}
		old := idx[:0]
		for _, e := range idx {
			if !strings.HasSuffix(e.Param, ":identifier") {
				old = append(old, e)
			}
		}
		if len(old) == len(idx) {
			t.Fatal("the index has no Reference.identifier entry to leave out")
		}
		err = app.Store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			return tx.Put(ctx, &vigil.Resource{Type: "Observation", ID: "old1", Version: 1, Method: "POST", JSON: []byte(body)}, old)
		})
		app.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n := find(); n != 0 {
			t.Fatalf("before reindex: %d matches, want 0", n)
		}
		args := []string{"reindex", "--quiet", "--data", cfg.DataDir}
		if cfg.DB != "" {
			args = []string{"reindex", "--quiet", "--db", cfg.DB, "--audit-key", cfg.AuditKey}
		}
		env, out, errb := testEnv()
		if err := Run(ctx, env, args); err != nil {
			t.Fatalf("vigil reindex: %v\n%s", err, errb)
		}
		if !strings.Contains(out.String(), "reindexed 1 resources") {
			t.Errorf("output %q", out)
		}
		if n := find(); n != 1 {
			t.Fatalf("after reindex: %d matches, want 1", n)
		}
		app, err = NewApp(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		page, err := app.Trail.Query(ctx, &vigil.AuditQuery{Actions: []vigil.AuditAction{vigil.AuditReindex}})
		if err != nil || len(page.Records) != 1 || page.Records[0].Outcome != vigil.AuditSuccess {
			t.Errorf("audit records of the reindex: %+v, %v", page, err)
		}
	})
}

// TestServeReindexesOlderStore stores a Patient as an older Vigil indexed
// it (gender without its binding's system) in a store that records that
// older revision: the server's background reindex (App.reindexIfStale, run
// by Serve) makes system|code find it and records itself in the trail;
// a store already current is left alone.
func TestServeReindexesOlderStore(t *testing.T) {
	eachConfig(t, func(t *testing.T, cfg Config) {
		env, _, _ := testEnv()
		cfg.Logger = quietLogger(env)
		ctx := context.Background()
		app, err := NewApp(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		body := `{"resourceType":"Patient","id":"old1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00.000Z"},"gender":"male"}`
		err = app.Store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			if err := tx.Put(ctx, &vigil.Resource{Type: "Patient", ID: "old1", Version: 1, Method: "PUT", JSON: []byte(body)},
				[]vigil.IndexEntry{{Param: "gender", Type: vigil.ParamToken, Code: "male"}}); err != nil {
				return err
			}
			return tx.(vigil.IndexRevisioner).SetIndexRevision(ctx, 2)
		})
		app.Close()
		if err != nil {
			t.Fatal(err)
		}
		find := func(app *App) int {
			t.Helper()
			page, err := app.Records.Search(ctx, &records.SearchRequest{Type: "Patient", Base: "http://x/fhir",
				Query: url.Values{"gender": {"http://hl7.org/fhir/administrative-gender|male"}}})
			if err != nil {
				t.Fatal(err)
			}
			return len(page.Matches)
		}
		reindexes := func(app *App) int {
			t.Helper()
			page, err := app.Trail.Query(ctx, &vigil.AuditQuery{Actions: []vigil.AuditAction{vigil.AuditReindex}})
			if err != nil {
				t.Fatal(err)
			}
			return len(page.Records)
		}
		for round := range 2 {
			app, err := NewApp(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if round == 0 {
				if n := find(app); n != 0 {
					t.Fatalf("before: %d matches, want 0 (the older index)", n)
				}
			}
			app.reindexIfStale(ctx)
			if n := find(app); n != 1 {
				t.Errorf("round %d: %d matches, want 1", round, n)
			}
			if n := reindexes(app); n != 1 {
				t.Errorf("round %d: %d reindex records in the trail, want 1 (the first round's)", round, n)
			}
			app.Close()
		}
	})
}
