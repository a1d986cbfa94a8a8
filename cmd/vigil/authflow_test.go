package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil/auth"
)

// TestSecondFactorAndBreakGlassOverHTTP walks a clinician through the
// browser flow: password login, forced TOTP enrolment, login with a code,
// break-the-glass access to a patient outside the care team, and a token
// issued and revoked — over the real server on both stores.
func TestSecondFactorAndBreakGlassOverHTTP(t *testing.T) {
	eachConfig(t, func(t *testing.T, cfg Config) {
		f := startFixture(t, cfg)
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		call := func(method, path, body string) (int, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest(method, f.app.URL()+path, strings.NewReader(body))
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			return resp.StatusCode, m
		}
		if s, _ := call("POST", "/auth/login", `{"username":"clin","password":"wrong password!!"}`); s != 401 {
			t.Fatalf("wrong password: %d", s)
		}
		s, me := call("POST", "/auth/login", `{"username":"clin","password":"correct horse battery"}`)
		if s != 200 || me["needs_second_factor"] != true {
			t.Fatalf("first login: %d %v", s, me)
		}
		if s, _ := call("GET", "/fhir/Observation/oA1", ""); s != 403 {
			t.Errorf("FHIR before enrolling a second factor: %d, want 403", s)
		}
		s, enrol := call("POST", "/auth/totp/enrol", "")
		if s != 200 {
			t.Fatalf("enrol: %d", s)
		}
		secret := enrol["secret"].(string)
		code, _ := auth.TOTPCode(secret, time.Now())
		s, conf := call("POST", "/auth/totp/confirm", `{"code":"`+code+`"}`)
		if s != 200 || len(conf["recovery_codes"].([]any)) != 10 {
			t.Fatalf("confirm: %d %v", s, conf)
		}
		call("POST", "/auth/logout", "")
		if s, _ := call("POST", "/auth/login", `{"username":"clin","password":"correct horse battery"}`); s != 401 {
			t.Errorf("login without the code once enrolled: %d, want 401", s)
		}
		recovery := conf["recovery_codes"].([]any)[0].(string)
		if s, me := call("POST", "/auth/login", `{"username":"clin","password":"correct horse battery","code":"`+recovery+`"}`); s != 200 || me["method"] != "password+totp" {
			t.Fatalf("login with a recovery code: %d %v", s, me)
		}
		if s, _ := call("GET", "/fhir/Observation/oA1", ""); s != 200 {
			t.Errorf("own patient after login: %d", s)
		}
		if s, _ := call("GET", "/fhir/Observation/oB1", ""); s != 404 {
			t.Errorf("other patient before break-the-glass: %d, want 404", s)
		}
		if s, _ := call("POST", "/auth/break-glass", `{"patient":"pB","reason":"x"}`); s != 400 {
			t.Errorf("break-the-glass without a real reason: %d, want 400", s)
		}
		if s, g := call("POST", "/auth/break-glass", `{"patient":"pB","reason":"patient unconscious, GP unreachable","minutes":30}`); s != 201 || g["patient"] != "pB" {
			t.Fatalf("break-the-glass: %d %v", s, g)
		}
		if s, _ := call("GET", "/fhir/Observation/oB1", ""); s != 200 {
			t.Errorf("other patient after break-the-glass: %d, want 200", s)
		}
		if s, _ := f.do("admin", "GET", "/auth/break-glass", ""); s != 200 {
			t.Errorf("admin listing grants: %d", s)
		}
		if s, _ := f.do("clin", "GET", "/auth/break-glass", ""); s != 403 {
			t.Errorf("clinician listing grants: %d, want 403", s)
		}
		// A token for an API client, then revoked.
		s, tok := call("POST", "/auth/tokens", `{"expires":"1h","scope":"system/Observation.read"}`)
		if s != 201 {
			t.Fatalf("issue token: %d %v", s, tok)
		}
		f.tokens["api"] = tok["token"].(string)
		if s, _ := f.do("api", "GET", "/fhir/Observation/oA1", ""); s != 200 {
			t.Errorf("read with the new token: %d", s)
		}
		if s, _ := f.do("api", "GET", "/fhir/Encounter/eA", ""); s != 404 {
			t.Errorf("a type outside the token's scope: %d, want 404", s)
		}
		if s, _ := call("DELETE", "/auth/tokens/"+tok["id"].(string), ""); s != 204 {
			t.Errorf("revoke: %d", s)
		}
		if s, _ := f.do("api", "GET", "/fhir/Observation/oA1", ""); s != 401 {
			t.Errorf("read with the revoked token: %d, want 401", s)
		}
	})
}
