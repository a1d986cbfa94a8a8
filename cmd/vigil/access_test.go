package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
	"github.com/vigilhealth/vigil/internal/testenv"
)

// accessFixture is a running server with two patients — pA, cared for by
// the clinician's CareTeam, and pB, who is not — and one account per role.
type accessFixture struct {
	t      *testing.T
	app    *App
	tokens map[string]string // account name → bearer token
}

// eachConfig runs fn on a real server over SQLite and over PostgreSQL.
func eachConfig(t *testing.T, fn func(t *testing.T, cfg Config)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, Config{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, Config{Addr: "127.0.0.1:0", DB: testenv.Postgres(t), AuditKey: filepath.Join(t.TempDir(), "audit.key")})
	})
}

func startFixture(t *testing.T, cfg Config) *accessFixture {
	t.Helper()
	env, _, _ := testEnv()
	cfg.Logger = quietLogger(env)
	ctx, cancel := context.WithCancel(context.Background())
	app, err := NewApp(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		app.Close()
	})
	f := &accessFixture{t: t, app: app, tokens: map[string]string{}}
	for _, r := range []string{
		`{"resourceType":"Patient","id":"pA","name":[{"family":"Alpha"}]}`,
		`{"resourceType":"Patient","id":"pB","name":[{"family":"Bravo"}]}`,
		`{"resourceType":"Practitioner","id":"prac1","name":[{"family":"Carer"}]}`,
		`{"resourceType":"Practitioner","id":"prac2","name":[{"family":"Other"}]}`,
		`{"resourceType":"Organization","id":"org1","name":"Ward"}`,
		`{"resourceType":"CareTeam","id":"ctA","status":"active","subject":{"reference":"Patient/pA"},"participant":[{"member":{"reference":"Practitioner/prac1"}}]}`,
		`{"resourceType":"CareTeam","id":"ctB","status":"active","subject":{"reference":"Patient/pB"},"participant":[{"member":{"reference":"Practitioner/prac2"}}]}`,
		`{"resourceType":"Device","id":"devA","patient":{"reference":"Patient/pA"}}`,
		`{"resourceType":"Observation","id":"oA1","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/pA"},"performer":[{"reference":"Practitioner/prac1"}]}`,
		`{"resourceType":"Observation","id":"oA2","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/pA"}}`,
		`{"resourceType":"Observation","id":"oB1","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/pB"},"performer":[{"reference":"Practitioner/prac2"}]}`,
		`{"resourceType":"Observation","id":"oB2","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/pB"}}`,
		`{"resourceType":"Encounter","id":"eA","status":"finished","class":{"code":"VR"},"subject":{"reference":"Patient/pA"}}`,
		`{"resourceType":"Encounter","id":"eB","status":"finished","class":{"code":"VR"},"subject":{"reference":"Patient/pB"}}`,
	} {
		var obj map[string]any
		if err := json.Unmarshal([]byte(r), &obj); err != nil {
			t.Fatal(err)
		}
		if _, err := app.Records.UpdateObject(ctx, obj["resourceType"].(string), obj["id"].(string), obj, ""); err != nil {
			t.Fatalf("fixture %s: %v", r, err)
		}
	}
	// A second version of oB1, so that history has something to leak.
	if _, err := app.Records.Update(ctx, "Observation", "oB1", []byte(`{"resourceType":"Observation","id":"oB1","status":"amended","code":{"text":"hr"},"subject":{"reference":"Patient/pB"}}`), ""); err != nil {
		t.Fatal(err)
	}
	for _, a := range []auth.AccountSpec{
		{Username: "admin", Role: vigil.RoleAdmin, Password: "correct horse battery"},
		{Username: "clin", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "prac1"},
		{Username: "pat", Role: vigil.RolePatient, Password: "correct horse battery", Patient: "pA"},
		{Username: "dev", Role: vigil.RoleDevice, Device: "devA"},
		{Username: "reader", Role: vigil.RoleService, Scopes: mustScopes(t, "system/*.read")},
		{Username: "obswriter", Role: vigil.RoleService, Scopes: mustScopes(t, "system/Observation.write")},
	} {
		acc, err := app.Auth.CreateAccount(ctx, a)
		if err != nil {
			t.Fatalf("account %s: %v", a.Username, err)
		}
		tok, _, err := app.Auth.IssueToken(ctx, acc.ID, time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[a.Username] = tok
	}
	return f
}

func mustScopes(t *testing.T, s string) []vigil.Scope {
	sc, err := vigil.ParseScopes(s)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// do sends a request as who ("" for anonymous) and returns status and
// decoded JSON body.
func (f *accessFixture) do(who, method, path, body string) (int, map[string]any) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.app.URL()+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+f.tokens[who])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// ids lists "Type/id" of every entry of a Bundle, following next links.
func (f *accessFixture) ids(who, path string) (int, []string, any) {
	f.t.Helper()
	status, m := f.do(who, "GET", path, "")
	if status != 200 {
		return status, nil, nil
	}
	total := m["total"]
	var out []string
	for {
		entries, _ := m["entry"].([]any)
		for _, e := range entries {
			r, _ := e.(map[string]any)["resource"].(map[string]any)
			if r["resourceType"] == "OperationOutcome" {
				continue
			}
			out = append(out, r["resourceType"].(string)+"/"+r["id"].(string))
		}
		next := ""
		links, _ := m["link"].([]any)
		for _, l := range links {
			lm := l.(map[string]any)
			if lm["relation"] == "next" {
				next = lm["url"].(string)
			}
		}
		if next == "" {
			break
		}
		next = strings.TrimPrefix(next, f.app.URL())
		if status, m = f.do(who, "GET", next, ""); status != 200 {
			f.t.Fatalf("next page %s: %d", next, status)
		}
	}
	sort.Strings(out)
	out = slices.Compact(out)
	return status, out, total
}

// TestAccessMatrix checks every role against every family of FHIR
// interactions, on its own patient's data and on another patient's, over
// the real HTTP server on both stores.
func TestAccessMatrix(t *testing.T) {
	eachConfig(t, func(t *testing.T, cfg Config) {
		f := startFixture(t, cfg)
		type rc struct {
			status int
			ids    []string // for searches: the exact set returned (all pages)
		}
		// The families, each with the answer per role ("" is anonymous).
		allA := []string{"Observation/oA1", "Observation/oA2"}
		allObs := []string{"Observation/oA1", "Observation/oA2", "Observation/oB1", "Observation/oB2"}
		cases := []struct {
			name   string
			method string
			path   string
			body   string
			want   map[string]rc
		}{
			{"read own patient's Observation", "GET", "/fhir/Observation/oA1", "", map[string]rc{
				"": {401, nil}, "admin": {404, nil}, "clin": {200, nil}, "pat": {200, nil}, "dev": {403, nil}, "reader": {200, nil}, "obswriter": {404, nil}}},
			{"read other patient's Observation", "GET", "/fhir/Observation/oB1", "", map[string]rc{
				"": {401, nil}, "admin": {404, nil}, "clin": {404, nil}, "pat": {404, nil}, "dev": {403, nil}, "reader": {200, nil}, "obswriter": {404, nil}}},
			{"vread other patient's Observation", "GET", "/fhir/Observation/oB1/_history/1", "", map[string]rc{
				"admin": {404, nil}, "clin": {404, nil}, "pat": {404, nil}, "dev": {403, nil}, "reader": {200, nil}}},
			{"read other Patient", "GET", "/fhir/Patient/pB", "", map[string]rc{
				"admin": {404, nil}, "clin": {404, nil}, "pat": {404, nil}, "reader": {200, nil}}},
			{"read non-patient resource", "GET", "/fhir/Organization/org1", "", map[string]rc{
				"admin": {200, nil}, "clin": {200, nil}, "pat": {404, nil}, "dev": {403, nil}, "reader": {200, nil}}},
			{"search Observations, paged", "GET", "/fhir/Observation?_count=1&_total=accurate", "", map[string]rc{
				"": {401, nil}, "admin": {200, []string{}}, "clin": {200, allA}, "pat": {200, allA}, "dev": {403, nil}, "reader": {200, allObs}, "obswriter": {403, nil}}},
			{"search with _include of subject", "GET", "/fhir/Observation?_include=Observation:subject&_include=Observation:performer", "", map[string]rc{
				"clin": {200, append([]string{"Patient/pA", "Practitioner/prac1"}, allA...)}, "pat": {200, append([]string{"Patient/pA"}, allA...)},
				"reader": {200, append([]string{"Patient/pA", "Patient/pB", "Practitioner/prac1"}, allObs...)}}},
			{"search Patients with _revinclude", "GET", "/fhir/Patient?_revinclude=Observation:subject", "", map[string]rc{
				"admin": {200, []string{}}, "clin": {200, append([]string{"Patient/pA"}, allA...)}, "pat": {200, append([]string{"Patient/pA"}, allA...)}}},
			{"chained search on other patient's name", "GET", "/fhir/Observation?subject:Patient.family=Bravo", "", map[string]rc{
				"clin": {200, []string{}}, "pat": {200, []string{}}, "reader": {200, []string{"Observation/oB1", "Observation/oB2"}}}},
			{"_has through other patient's CareTeam", "GET", "/fhir/Practitioner?_has:CareTeam:participant:subject=Patient/pB", "", map[string]rc{
				"admin": {200, []string{}}, "clin": {200, []string{}}, "reader": {200, []string{"Practitioner/prac2"}}}},
			{"_has through own patient's CareTeam", "GET", "/fhir/Practitioner?_has:CareTeam:participant:subject=Patient/pA", "", map[string]rc{
				"admin": {200, []string{}}, "clin": {200, []string{"Practitioner/prac1"}}, "reader": {200, []string{"Practitioner/prac1"}}}},
			{"system search", "GET", "/fhir?_type=Observation", "", map[string]rc{
				"pat": {200, allA}, "clin": {200, allA}, "reader": {200, allObs}}},
			{"system search of two types", "GET", "/fhir?_type=Observation,Encounter", "", map[string]rc{
				"pat": {200, append([]string{"Encounter/eA"}, allA...)}, "clin": {200, append([]string{"Encounter/eA"}, allA...)},
				"reader": {200, append([]string{"Encounter/eA", "Encounter/eB"}, allObs...)}}},
			{"compartment search of other patient", "GET", "/fhir/Patient/pB/Observation", "", map[string]rc{
				"clin": {200, []string{}}, "pat": {200, []string{}}, "reader": {200, []string{"Observation/oB1", "Observation/oB2"}}}},
			{"$everything of other patient", "GET", "/fhir/Patient/pB/$everything", "", map[string]rc{
				"clin": {404, nil}, "pat": {404, nil}, "admin": {404, nil}}},
			{"$everything of own patient", "GET", "/fhir/Patient/pA/$everything", "", map[string]rc{
				"pat":  {200, []string{"CareTeam/ctA", "Encounter/eA", "Observation/oA1", "Observation/oA2", "Patient/pA"}},
				"clin": {200, []string{"CareTeam/ctA", "Encounter/eA", "Observation/oA1", "Observation/oA2", "Patient/pA", "Practitioner/prac1"}}}},
			{"count of Observations", "GET", "/fhir/Observation?_summary=count", "", map[string]rc{
				"clin": {200, []string{}}, "pat": {200, []string{}}}},
			{"history of other patient's Observation", "GET", "/fhir/Observation/oB1/_history", "", map[string]rc{
				"admin": {404, nil}, "clin": {404, nil}, "pat": {404, nil}, "dev": {404, nil}, "reader": {200, []string{"Observation/oB1"}}}},
			{"history of own patient's Observation", "GET", "/fhir/Observation/oA1/_history", "", map[string]rc{
				"clin": {200, []string{"Observation/oA1"}}, "pat": {200, []string{"Observation/oA1"}}}},
			{"type history", "GET", "/fhir/Observation/_history", "", map[string]rc{
				"admin": {403, nil}, "clin": {403, nil}, "pat": {403, nil}, "dev": {403, nil}, "reader": {200, nil}}},
			{"system history", "GET", "/fhir/_history", "", map[string]rc{
				"clin": {403, nil}, "pat": {403, nil}, "reader": {200, nil}}},
			{"create Observation for own patient", "POST", "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pA"}}`, map[string]rc{
				"": {401, nil}, "admin": {403, nil}, "clin": {201, nil}, "pat": {201, nil}, "dev": {201, nil}, "reader": {403, nil}, "obswriter": {201, nil}}},
			{"create Observation for other patient", "POST", "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pB"}}`, map[string]rc{
				"admin": {403, nil}, "clin": {403, nil}, "pat": {403, nil}, "dev": {403, nil}, "reader": {403, nil}, "obswriter": {201, nil}}},
			{"update own patient's Observation", "PUT", "/fhir/Observation/oA2", `{"resourceType":"Observation","id":"oA2","status":"amended","code":{"text":"hr"},"subject":{"reference":"Patient/pA"}}`, map[string]rc{
				"admin": {403, nil}, "clin": {200, nil}, "pat": {403, nil}, "dev": {403, nil}, "reader": {403, nil}}},
			{"move an Observation to another patient", "PUT", "/fhir/Observation/oA1", `{"resourceType":"Observation","id":"oA1","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/pB"}}`, map[string]rc{
				"clin": {403, nil}, "pat": {403, nil}}},
			{"update other patient's Observation", "PUT", "/fhir/Observation/oB2", `{"resourceType":"Observation","id":"oB2","status":"amended","code":{"text":"hr"},"subject":{"reference":"Patient/pB"}}`, map[string]rc{
				"admin": {403, nil}, "clin": {403, nil}, "pat": {403, nil}, "dev": {403, nil}}},
			{"patch other patient's Observation", "PATCH", "/fhir/Observation/oB2", "", map[string]rc{
				"clin": {404, nil}, "pat": {404, nil}}},
			{"delete other patient's Encounter", "DELETE", "/fhir/Encounter/eB", "", map[string]rc{
				// A resource the caller may not see is "already gone" to them:
				// 204 and nothing written (checked below).
				"admin": {204, nil}, "clin": {204, nil}, "pat": {204, nil}, "dev": {204, nil}, "reader": {403, nil}}},
			{"transaction touching other patient", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":{"resourceType":"Observation","status":"final","code":{"text":"ok"},"subject":{"reference":"Patient/pA"}},"request":{"method":"POST","url":"Observation"}},
				{"resource":{"resourceType":"Observation","status":"final","code":{"text":"bad"},"subject":{"reference":"Patient/pB"}},"request":{"method":"POST","url":"Observation"}}]}`, map[string]rc{
				"clin": {403, nil}}},
			{"register a new patient", "POST", "/fhir/Patient", `{"resourceType":"Patient","name":[{"family":"New"}]}`, map[string]rc{
				"admin": {201, nil}, "clin": {201, nil}, "pat": {403, nil}, "dev": {403, nil}}},
		}
		for _, c := range cases {
			for _, who := range []string{"", "admin", "clin", "pat", "dev", "reader", "obswriter"} {
				want, ok := c.want[who]
				if !ok {
					continue
				}
				name := who
				if name == "" {
					name = "anonymous"
				}
				t.Run(c.name+"/"+name, func(t *testing.T) {
					f.t = t
					if c.method == "PATCH" {
						status := f.patch(who, c.path, `[{"op":"replace","path":"/status","value":"cancelled"}]`)
						if status != want.status {
							t.Errorf("PATCH %s as %s = %d, want %d", c.path, name, status, want.status)
						}
						return
					}
					if c.method != "GET" {
						status, body := f.do(who, c.method, c.path, c.body)
						if status != want.status {
							t.Errorf("%s %s as %s = %d, want %d (%v)", c.method, c.path, name, status, want.status, body)
						}
						return
					}
					status, ids, total := f.ids(who, c.path)
					if status != want.status {
						t.Fatalf("GET %s as %s = %d, want %d", c.path, name, status, want.status)
					}
					if want.ids != nil && status == 200 {
						got := ids
						if got == nil {
							got = []string{}
						}
						if strings.Contains(c.path, "_summary=count") {
							// A count must count only what the caller may see.
							wantTotal := float64(2)
							if total != wantTotal {
								t.Errorf("GET %s as %s: total %v, want %v", c.path, name, total, wantTotal)
							}
							return
						}
						wantIDs := slices.Sorted(slices.Values(want.ids))
						if !slices.Equal(got, wantIDs) {
							t.Errorf("GET %s as %s returned %v, want %v", c.path, name, got, want.ids)
						}
						if strings.Contains(c.path, "_total=accurate") && total != float64(len(want.ids)) {
							t.Errorf("GET %s as %s: total %v, want %d", c.path, name, total, len(want.ids))
						}
					}
				})
			}
		}
		// Nothing of the failed transaction was written.
		f.t = t
		if _, ids, _ := f.ids("reader", "/fhir/Observation?code:text=ok"); len(ids) != 0 {
			t.Errorf("a denied transaction wrote %v", ids)
		}
		// Denied writes changed nothing of the other patient's data.
		if status, _ := f.do("reader", "GET", "/fhir/Encounter/eB", ""); status != 200 {
			t.Errorf("Encounter/eB after denied deletes: %d, want 200", status)
		}
		if _, m := f.do("reader", "GET", "/fhir/Observation/oB2", ""); m["status"] != "final" {
			t.Errorf("Observation/oB2 after denied updates: status %v, want final", m["status"])
		}
		if _, m := f.do("reader", "GET", "/fhir/Observation/oA1", ""); m["subject"].(map[string]any)["reference"] != "Patient/pA" {
			t.Errorf("Observation/oA1 was moved to another patient: %v", m["subject"])
		}
	})
}

func (f *accessFixture) patch(who, path, body string) int {
	req, _ := http.NewRequest("PATCH", f.app.URL()+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json-patch+json")
	req.Header.Set("Authorization", "Bearer "+f.tokens[who])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// post sends a body with a content type as who.
func (f *accessFixture) post(who, path, ct, body string) (int, map[string]any) {
	f.t.Helper()
	req, err := http.NewRequest("POST", f.app.URL()+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+f.tokens[who])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// list GETs a JSON array as who.
func (f *accessFixture) list(who, path string) []map[string]any {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.app.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens[who])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		f.t.Errorf("GET %s as %s: %d, not a JSON array: %v", path, who, resp.StatusCode, err)
	}
	return out
}
