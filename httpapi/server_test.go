package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/httpapi"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/internal/teststore"
	"github.com/vigilhealth/vigil/records"
)

// eachStore runs fn as a subtest per store, with the real HTTP server
// started on that store.
func eachStore(t *testing.T, fn func(t *testing.T, srv *httptest.Server)) {
	for _, st := range teststore.All() {
		t.Run(st.Name, func(t *testing.T) {
			fn(t, newServer(t, st.Open(t)))
		})
	}
}

// newServer starts the real HTTP server on store.
func newServer(t testing.TB, store vigil.ResourceStore) *httptest.Server {
	t.Helper()
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatalf("LoadR4: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	h, err := httpapi.New(httpapi.Config{
		Records: records.New(store, model),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBody: 1 << 20,
	})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func do(t *testing.T, method, url, contentType string, body []byte, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: response is not JSON: %q", method, url, raw)
		}
	}
	return out
}

const fj = "application/fhir+json"

func TestCRUD(t *testing.T) { eachStore(t, testCRUD) }

func testCRUD(t *testing.T, srv *httptest.Server) {
	base := srv.URL + "/fhir"
	patient := `{"resourceType":"Patient","name":[{"family":"Chalmers","given":["Peter"]}],"gender":"male","birthDate":"1974-12-25"}`

	created := do(t, "POST", base+"/Patient", fj, []byte(patient))
	if created.status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", created.status, created.raw)
	}
	id, _ := created.body["id"].(string)
	if id == "" {
		t.Fatalf("create: no id in %s", created.raw)
	}
	if loc := created.header.Get("Location"); !strings.HasSuffix(loc, "/Patient/"+id+"/_history/1") {
		t.Errorf("Location = %q, want …/Patient/%s/_history/1", loc, id)
	}
	if et := created.header.Get("ETag"); et != `W/"1"` {
		t.Errorf("ETag = %q, want W/\"1\"", et)
	}

	read := do(t, "GET", base+"/Patient/"+id, "", nil)
	if read.status != 200 || read.header.Get("Last-Modified") == "" {
		t.Fatalf("read: status %d, Last-Modified %q", read.status, read.header.Get("Last-Modified"))
	}
	if g := read.body["gender"]; g != "male" {
		t.Errorf("read gender = %v, want male", g)
	}

	upd := strings.Replace(patient, `{"resourceType":"Patient",`, `{"resourceType":"Patient","id":"`+id+`",`, 1)
	upd = strings.Replace(upd, `"male"`, `"other"`, 1)
	u := do(t, "PUT", base+"/Patient/"+id, fj, []byte(upd), "If-Match", `W/"1"`)
	if u.status != 200 || u.header.Get("ETag") != `W/"2"` {
		t.Fatalf("update: status %d ETag %q: %s", u.status, u.header.Get("ETag"), u.raw)
	}
	stale := do(t, "PUT", base+"/Patient/"+id, fj, []byte(upd), "If-Match", `W/"1"`)
	if stale.status != http.StatusPreconditionFailed {
		t.Errorf("update with stale If-Match: status %d, want 412", stale.status)
	}

	v1 := do(t, "GET", base+"/Patient/"+id+"/_history/1", "", nil)
	if v1.status != 200 || v1.body["gender"] != "male" {
		t.Errorf("vread 1: status %d gender %v", v1.status, v1.body["gender"])
	}

	p := do(t, "PATCH", base+"/Patient/"+id, "application/json-patch+json", []byte(`[{"op":"replace","path":"/gender","value":"female"}]`))
	if p.status != 200 || p.body["gender"] != "female" {
		t.Fatalf("patch: status %d: %s", p.status, p.raw)
	}
	badPatch := do(t, "PATCH", base+"/Patient/"+id, "application/json-patch+json", []byte(`[{"op":"replace","path":"/gender","value":"robot"}]`))
	if badPatch.status != http.StatusUnprocessableEntity {
		t.Errorf("patch to an invalid code: status %d, want 422: %s", badPatch.status, badPatch.raw)
	}

	h := do(t, "GET", base+"/Patient/"+id+"/_history", "", nil)
	if n := len(entries(h.body)); h.status != 200 || n != 3 {
		t.Errorf("history: status %d, %d entries, want 3", h.status, n)
	}

	d := do(t, "DELETE", base+"/Patient/"+id, "", nil)
	if d.status != http.StatusNoContent {
		t.Errorf("delete: status %d", d.status)
	}
	if g := do(t, "GET", base+"/Patient/"+id, "", nil); g.status != http.StatusGone {
		t.Errorf("read after delete: status %d, want 410", g.status)
	}

	// Update-as-create with a client id.
	c := do(t, "PUT", base+"/Patient/client-id-1", fj, []byte(`{"resourceType":"Patient","id":"client-id-1","active":true}`))
	if c.status != http.StatusCreated {
		t.Errorf("update-as-create: status %d: %s", c.status, c.raw)
	}
}

func entries(b map[string]any) []any {
	e, _ := b["entry"].([]any)
	return e
}

func TestBadInput(t *testing.T) { eachStore(t, testBadInput) }

func testBadInput(t *testing.T, srv *httptest.Server) {
	base := srv.URL + "/fhir"
	big := bytes.Repeat([]byte(" "), 2<<20)
	tests := []struct {
		name        string
		method, url string
		ctype       string
		body        string
		want        int
	}{
		{"malformed JSON", "POST", "/Patient", fj, `{"resourceType":"Patient",`, 400},
		{"unknown type", "POST", "/Unicorn", fj, `{"resourceType":"Unicorn"}`, 404},
		{"type mismatch", "POST", "/Patient", fj, `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, 400},
		{"unknown element", "POST", "/Patient", fj, `{"resourceType":"Patient","colour":"blue"}`, 422},
		{"wrong type", "POST", "/Patient", fj, `{"resourceType":"Patient","active":"yes"}`, 422},
		{"missing required", "POST", "/Observation", fj, `{"resourceType":"Observation","status":"final"}`, 422},
		{"bad status code", "POST", "/Observation", fj, `{"resourceType":"Observation","status":"done","code":{"text":"x"}}`, 422},
		{"xml body", "POST", "/Patient", "application/fhir+xml", `<Patient/>`, 415},
		{"no content type", "POST", "/Patient", "", `{"resourceType":"Patient"}`, 415},
		{"id mismatch", "PUT", "/Patient/a", fj, `{"resourceType":"Patient","id":"b"}`, 400},
		{"update without id", "PUT", "/Patient/a", fj, `{"resourceType":"Patient"}`, 400},
		{"unknown search param strict", "GET", "/Patient?colour=blue", "", "", 400},
		{"bad date", "GET", "/Observation?date=yesterday", "", "", 400},
		{"bad prefix", "GET", "/Observation?value-quantity=zz5", "", "", 400},
		{"read missing", "GET", "/Patient/nope", "", "", 404},
		{"transaction with bad reference", "POST", "", fj, `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:404"}},"request":{"method":"POST","url":"Observation"}}]}`, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{}
			if strings.Contains(tc.name, "strict") {
				hdr = []string{"Prefer", "handling=strict"}
			}
			r := do(t, tc.method, base+tc.url, tc.ctype, []byte(tc.body), hdr...)
			if r.status != tc.want {
				t.Fatalf("%s %s: status %d, want %d: %s", tc.method, tc.url, r.status, tc.want, r.raw)
			}
			if rt := r.body["resourceType"]; rt != "OperationOutcome" {
				t.Errorf("body resourceType = %v, want OperationOutcome", rt)
			}
		})
	}
	t.Run("oversize body", func(t *testing.T) {
		body := append([]byte(`{"resourceType":"Patient"}`), big...)
		r := do(t, "POST", base+"/Patient", fj, body)
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", r.status)
		}
	})
	t.Run("lenient unknown param", func(t *testing.T) {
		r := do(t, "GET", base+"/Patient?colour=blue", "", nil, "Prefer", "handling=lenient")
		if r.status != 200 {
			t.Fatalf("status %d, want 200: %s", r.status, r.raw)
		}
		found := false
		for _, e := range entries(r.body) {
			if m, _ := e.(map[string]any)["search"].(map[string]any); m["mode"] == "outcome" {
				found = true
			}
		}
		if !found {
			t.Errorf("lenient search ignored a parameter without an outcome warning: %s", r.raw)
		}
	})
	t.Run("failed transaction writes nothing", func(t *testing.T) {
		bundle := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","identifier":[{"system":"urn:test","value":"tx-1"}]},"request":{"method":"POST","url":"Patient"}},
		 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:p1"}},"request":{"method":"PUT","url":"Observation/o1"}},
		 {"request":{"method":"DELETE","url":"Patient/nope"}},
		 {"resource":{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"}},"request":{"method":"PUT","url":"Observation/o2"},"fullUrl":"x","_unknown":1}]}`
		r := do(t, "POST", base, fj, []byte(bundle))
		if r.status < 400 {
			t.Fatalf("transaction with an invalid entry: status %d", r.status)
		}
		s := do(t, "GET", base+"/Patient?identifier=urn:test|tx-1&_total=accurate", "", nil)
		if tot, _ := s.body["total"].(float64); tot != 0 {
			t.Errorf("after a failed transaction, %v patients exist, want 0", tot)
		}
	})
}

func TestTransactionSyntheaAndEverything(t *testing.T) {
	eachStore(t, testTransactionSyntheaAndEverything)
}

func testTransactionSyntheaAndEverything(t *testing.T, srv *httptest.Server) {
	dir := testenv.SharedData(t)
	base := srv.URL + "/fhir"
	files, _ := filepath.Glob(filepath.Join(dir, "fhir-r4", "synthea", "*.json"))
	if len(files) != 2 {
		t.Fatalf("found %d Synthea bundles, want 2", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var in map[string]any
		if err := json.Unmarshal(data, &in); err != nil {
			t.Fatal(err)
		}
		nIn := len(entries(in))
		r := do(t, "POST", base, fj, data)
		if r.status != 200 || r.body["type"] != "transaction-response" {
			t.Fatalf("%s: status %d: %.500s", filepath.Base(f), r.status, r.raw)
		}
		out := entries(r.body)
		if len(out) != nIn {
			t.Fatalf("%s: %d response entries, want %d", filepath.Base(f), len(out), nIn)
		}
		var patientID string
		for _, e := range out {
			resp := e.(map[string]any)["response"].(map[string]any)
			if !strings.HasPrefix(resp["status"].(string), "201") {
				t.Errorf("entry status %v, want 201", resp["status"])
			}
			if loc, _ := resp["location"].(string); strings.HasPrefix(loc, "Patient/") {
				patientID = strings.Split(loc, "/")[1]
			}
		}
		// Every reference between entries now points at a stored resource.
		ev := do(t, "GET", base+"/Patient/"+patientID+"/$everything?_count=1000", "", nil)
		if ev.status != 200 {
			t.Fatalf("$everything: status %d: %.300s", ev.status, ev.raw)
		}
		got := map[string]int{}
		for _, e := range entries(ev.body) {
			res := e.(map[string]any)["resource"].(map[string]any)
			got[res["resourceType"].(string)]++
		}
		want := map[string]int{}
		for _, e := range entries(in) {
			res := e.(map[string]any)["resource"].(map[string]any)
			want[res["resourceType"].(string)]++
		}
		for typ, n := range want {
			if got[typ] != n {
				t.Errorf("%s: $everything has %d %s, want %d", filepath.Base(f), got[typ], typ, n)
			}
		}
		// Compartment search.
		obs := do(t, "GET", base+"/Patient/"+patientID+"/Observation?_summary=count", "", nil)
		if tot, _ := obs.body["total"].(float64); int(tot) != want["Observation"] {
			t.Errorf("Patient/%s/Observation count = %v, want %d", patientID, obs.body["total"], want["Observation"])
		}
	}
}
