package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/auth"
)

// apiCall sends body as application/json (when not empty) through c
// (http.DefaultClient when nil) with a bearer token (when not empty), and
// returns the status and the raw answer.
func apiCall(t *testing.T, c *http.Client, base, token, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// jsonMap decodes an answer that must be a JSON object.
func jsonMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer %.300s is not a JSON object: %v", b, err)
	}
	return m
}

type sseEvent struct{ id, name, data string }

// openStream opens a Server-Sent Events stream as token with extra
// headers; the events arrive on the channel until the test ends.
func openStream(t *testing.T, url, token string, header map[string]string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("stream %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 16)
	go func() {
		defer resp.Body.Close()
		var ev sseEvent
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return out
}

// auditRecords returns the trail's records of an account with one of the
// actions, newest first.
func auditRecords(t *testing.T, app *App, account string, actions ...vigil.AuditAction) []vigil.AuditRecord {
	t.Helper()
	page, err := app.Trail.Query(context.Background(), &vigil.AuditQuery{Agent: account, Actions: actions, Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return page.Records
}

// TestSecurityEventsOverHTTP: an admin watching the security event stream
// is told of a clinician's break-the-glass grant within a second; the
// webhook receiver gets it signed; the list shows it to an admin who was
// offline, and a reconnecting stream replays what it missed; everybody
// else is refused (403, audited as permission-denied). Both stores.
func TestSecurityEventsOverHTTP(t *testing.T) {
	eachConfig(t, func(t *testing.T, cfg Config) {
		secret := "a webhook secret of thirty-two bytes or more"
		type delivery struct {
			header http.Header
			body   []byte
		}
		hooks := make(chan delivery, 16)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := alert.VerifySignature([]byte(secret), r.Header.Get(alert.SignatureHeader), body, time.Now(), time.Minute); err != nil {
				t.Errorf("webhook signature: %v", err)
			}
			if strings.HasPrefix(r.Header.Get(alert.EventTypeHeader), "security.") {
				hooks <- delivery{r.Header.Clone(), body}
			}
		}))
		defer hook.Close()
		cfg.Webhook, cfg.WebhookSecret = hook.URL, secret
		f := startFixture(t, cfg)
		base := f.app.URL()
		clinID := f.accountID(t, "clin")

		for _, who := range []string{"clin", "pat", "dev", "reader", "obswriter"} {
			for _, path := range []string{"/api/v1/security/events/stream", "/api/v1/security/events"} {
				if s, b := apiCall(t, nil, base, f.tokens[who], "GET", path, ""); s != 403 || jsonMap(t, b)["resourceType"] != "OperationOutcome" {
					t.Errorf("GET %s as %s: %d %.200s, want 403 with an OperationOutcome", path, who, s, b)
				}
			}
		}
		if s, _ := apiCall(t, nil, base, "", "GET", "/api/v1/security/events/stream", ""); s != 401 {
			t.Errorf("anonymous stream: %d, want 401", s)
		}

		events := openStream(t, base+"/api/v1/security/events/stream", f.tokens["admin"], nil)
		reason := "patient unconscious, GP unreachable"
		start := time.Now()
		s, b := apiCall(t, nil, base, f.tokens["clin"], "POST", "/auth/break-glass", `{"patient":"pB","reason":"`+reason+`","minutes":30}`)
		if s != 201 {
			t.Fatalf("break-the-glass: %d %s", s, b)
		}
		grant := jsonMap(t, b)["id"].(string)
		var ev sseEvent
		select {
		case ev = <-events:
			t.Logf("break-the-glass reached the admin's stream %v after the request was sent", time.Since(start))
		case <-time.After(time.Second):
			t.Fatal("no security event within 1 s of the grant")
		}
		if ev.name != "break-glass" || ev.id != grant {
			t.Errorf("event %q id %q, want break-glass %s", ev.name, ev.id, grant)
		}
		got := jsonMap(t, []byte(ev.data))
		for k, want := range map[string]any{"id": grant, "type": "break-glass", "grant": grant, "account": clinID, "username": "clin",
			"role": "clinician", "patient": "Patient/pB", "reason": reason} {
			if got[k] != want {
				t.Errorf("event %s = %v, want %v", k, got[k], want)
			}
		}
		created, err1 := time.Parse(time.RFC3339Nano, got["time"].(string))
		expires, err2 := time.Parse(time.RFC3339Nano, got["expires"].(string))
		if err1 != nil || err2 != nil || expires.Sub(created) != 30*time.Minute || created.Before(start.Add(-time.Second)) {
			t.Errorf("event time %v, expires %v", got["time"], got["expires"])
		}
		if strings.Contains(ev.data, "vgl_") || strings.Contains(ev.data, f.tokens["clin"]) {
			t.Errorf("event carries a token: %s", ev.data)
		}

		select {
		case d := <-hooks:
			if d.header.Get(alert.EventIDHeader) != grant || d.header.Get(alert.EventTypeHeader) != "security.break-glass" {
				t.Errorf("webhook headers %v", d.header)
			}
			body := jsonMap(t, d.body)
			sec, _ := body["security"].(map[string]any)
			if body["type"] != "security.break-glass" || sec["patient"] != "Patient/pB" || sec["username"] != "clin" || sec["reason"] != reason {
				t.Errorf("webhook body %s", d.body)
			}
		case <-time.After(5 * time.Second):
			t.Error("no signed webhook for the grant within 5 s")
		}

		since := url.QueryEscape(start.Add(-time.Minute).UTC().Format(time.RFC3339))
		list := f.list("admin", "/api/v1/security/events?since="+since)
		if len(list) != 1 || list[0]["id"] != grant || list[0]["username"] != "clin" || list[0]["patient"] != "Patient/pB" {
			t.Errorf("security events list: %v", list)
		}
		if s, _ := apiCall(t, nil, base, f.tokens["admin"], "GET", "/api/v1/security/events?since=yesterday", ""); s != 400 {
			t.Errorf("since=yesterday: %d, want 400", s)
		}

		// A grant while the admin is away; reconnecting with Last-Event-ID
		// replays it.
		s, b = apiCall(t, nil, base, f.tokens["clin"], "POST", "/auth/break-glass", `{"patient":"pB","reason":"second emergency, family asked","minutes":5}`)
		if s != 201 {
			t.Fatalf("second grant: %d %s", s, b)
		}
		second := jsonMap(t, b)["id"].(string)
		replayed := openStream(t, base+"/api/v1/security/events/stream", f.tokens["admin"], map[string]string{"Last-Event-ID": grant})
		select {
		case ev := <-replayed:
			if ev.id != second {
				t.Errorf("replayed event %q, want %s", ev.id, second)
			}
		case <-time.After(2 * time.Second):
			t.Error("nothing replayed after Last-Event-ID")
		}

		denied := auditRecords(t, f.app, clinID, vigil.AuditPermissionDenied)
		if len(denied) != 2 || denied[0].Outcome != vigil.AuditDenied || denied[0].Detail != "security events" {
			t.Errorf("permission-denied records of the clinician: %+v", denied)
		}
		s, b = apiCall(t, nil, base, f.tokens["admin"], "GET", "/fhir/AuditEvent?subtype=110132&agent="+clinID, "")
		if entries, _ := jsonMap(t, b)["entry"].([]any); s != 200 || len(entries) != 2 {
			t.Errorf("FHIR AuditEvent search for the clinician's refusals: %d, %d entries", s, len(entries))
		}
	})
}

// TestPasswordChangeOverHTTP: after a password change, the account's other
// sessions and every token it held answer 401, while the session that made
// the change goes on under a new cookie. Both stores.
func TestPasswordChangeOverHTTP(t *testing.T) {
	eachConfig(t, func(t *testing.T, cfg Config) {
		f := startFixture(t, cfg)
		base := f.app.URL()
		u, _ := url.Parse(base)
		login := func() (*http.Client, *cookiejar.Jar) {
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar}
			if s, b := apiCall(t, c, base, "", "POST", "/auth/login", `{"username":"pat","password":"correct horse battery"}`); s != 200 {
				t.Fatalf("login: %d %s", s, b)
			}
			return c, jar
		}
		a, jarA := login()
		other, _ := login()
		oldCookie := jarA.Cookies(u)[0].Value
		s, b := apiCall(t, a, base, "", "POST", "/auth/tokens", `{"expires":"1h"}`)
		if s != 201 {
			t.Fatalf("token: %d %s", s, b)
		}
		minted := jsonMap(t, b)["token"].(string)
		if s, b := apiCall(t, a, base, "", "POST", "/auth/password", `{"current":"correct horse battery","new":"a brand new passphrase"}`); s != 204 {
			t.Fatalf("password change: %d %s", s, b)
		}
		if s, _ := apiCall(t, a, base, "", "GET", "/auth/me", ""); s != 200 {
			t.Errorf("the session that changed the password: %d, want 200", s)
		}
		if c := jarA.Cookies(u); len(c) != 1 || c[0].Value == oldCookie {
			t.Errorf("the session cookie was not renewed")
		}
		req, _ := http.NewRequest("GET", base+"/auth/me", nil)
		req.AddCookie(&http.Cookie{Name: "vigil_session", Value: oldCookie})
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
			t.Errorf("the old cookie value: %v %v, want 401", resp.StatusCode, err)
		} else {
			resp.Body.Close()
		}
		if s, _ := apiCall(t, other, base, "", "GET", "/auth/me", ""); s != 401 {
			t.Errorf("another session: %d, want 401", s)
		}
		for name, tok := range map[string]string{"the fixture's token": f.tokens["pat"], "a token minted by the session": minted} {
			if s, _ := apiCall(t, nil, base, tok, "GET", "/auth/me", ""); s != 401 {
				t.Errorf("%s: %d, want 401", name, s)
			}
		}
		if s, _ := apiCall(t, nil, base, f.tokens["clin"], "GET", "/auth/me", ""); s != 200 {
			t.Errorf("another account's token: %d, want 200", s)
		}
		if s, _ := apiCall(t, nil, base, "", "POST", "/auth/login", `{"username":"pat","password":"correct horse battery"}`); s != 401 {
			t.Errorf("login with the old password: %d", s)
		}
		if s, _ := apiCall(t, nil, base, "", "POST", "/auth/login", `{"username":"pat","password":"a brand new passphrase"}`); s != 200 {
			t.Errorf("login with the new password: %d", s)
		}
		recs := auditRecords(t, f.app, f.accountID(t, "pat"), vigil.AuditAccountUpdate)
		if len(recs) != 1 || recs[0].Outcome != vigil.AuditSuccess || recs[0].Detail != "all sessions ended, 2 tokens revoked" {
			t.Errorf("password-change records: %+v", recs)
		}
	})
}

// TestAccountManagementOverHTTP: an admin creates a clinician over HTTP;
// the clinician must enrol a second factor; lock, unlock, second-factor
// reset and revocation take effect at once; bad input gets clear 4xx
// answers; everybody else gets 403; the trail holds every step. Both
// stores.
func TestAccountManagementOverHTTP(t *testing.T) {
	eachConfig(t, func(t *testing.T, cfg Config) {
		f := startFixture(t, cfg)
		base := f.app.URL()
		admin := f.tokens["admin"]
		adminID, clinID := f.accountID(t, "admin"), f.accountID(t, "clin")
		create := `{"username":"newclin","role":"clinician","password":"correct horse battery 2","practitioner":"prac2"}`

		// Refusals.
		for _, who := range []string{"clin", "pat", "dev", "reader", "obswriter"} {
			for _, req := range [][3]string{{"GET", "/api/v1/accounts", ""}, {"POST", "/api/v1/accounts", create},
				{"POST", "/api/v1/accounts/" + clinID + "/lock", ""}, {"POST", "/api/v1/accounts/" + clinID + "/revoke", ""}} {
				if s, _ := apiCall(t, nil, base, f.tokens[who], req[0], req[1], req[2]); s != 403 {
					t.Errorf("%s %s as %s: %d, want 403", req[0], req[1], who, s)
				}
			}
		}
		if s, _ := apiCall(t, nil, base, "", "GET", "/api/v1/accounts", ""); s != 401 {
			t.Errorf("anonymous: %d, want 401", s)
		}
		jar, _ := cookiejar.New(nil)
		adminBrowser := &http.Client{Jar: jar}
		if s, b := apiCall(t, adminBrowser, base, "", "POST", "/auth/login", `{"username":"admin","password":"correct horse battery"}`); s != 200 || jsonMap(t, b)["needs_second_factor"] != true {
			t.Fatalf("admin login: %d %s", s, b)
		}
		if s, _ := apiCall(t, adminBrowser, base, "", "GET", "/api/v1/accounts", ""); s != 403 {
			t.Errorf("an admin session without a second factor: %d, want 403", s)
		}

		// The list holds no secret.
		s, b := apiCall(t, nil, base, admin, "GET", "/api/v1/accounts", "")
		var list []auth.AccountInfo
		if err := json.Unmarshal(b, &list); s != 200 || err != nil {
			t.Fatalf("list: %d %.300s %v", s, b, err)
		}
		names := make([]string, len(list))
		for i, a := range list {
			names[i] = a.Username
		}
		if !slices.Equal(names, []string{"admin", "clin", "dev", "obswriter", "pat", "reader"}) {
			t.Errorf("accounts listed: %v", names)
		}
		for _, secret := range []string{"argon2", "hash", "secret", "recovery", "vgl_"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("the account list mentions %q: %.300s", secret, b)
			}
		}

		// Bad input.
		for _, c := range []struct {
			name, ct, body string
			want           int
		}{
			{"malformed JSON", "application/json", `{"username":`, 400},
			{"unknown field", "application/json", `{"username":"x1","role":"patient","patient":"pB","password_hash":"x"}`, 400},
			{"unknown role", "application/json", `{"username":"x1","role":"doctor","password":"correct horse battery"}`, 400},
			{"duplicate username", "application/json", `{"username":"clin","role":"clinician","password":"correct horse battery","practitioner":"prac1"}`, 409},
			{"clinician without practitioner", "application/json", `{"username":"x1","role":"clinician","password":"correct horse battery"}`, 400},
			{"practitioner that does not exist", "application/json", `{"username":"x1","role":"clinician","password":"correct horse battery","practitioner":"nope"}`, 400},
			{"patient link on a clinician", "application/json", `{"username":"x1","role":"clinician","password":"correct horse battery","practitioner":"prac1","patient":"pA"}`, 400},
			{"short password", "application/json", `{"username":"x1","role":"patient","password":"short","patient":"pB"}`, 400},
			{"bad scope", "application/json", `{"username":"x1","role":"service","scope":"everything"}`, 400},
			{"text body", "text/plain", create, 415},
			{"oversize body", "application/json", `{"username":"x1","role":"patient","patient":"pB","password":"` + strings.Repeat("x", 70<<10) + `"}`, 413},
		} {
			req, _ := http.NewRequest("POST", base+"/api/v1/accounts", strings.NewReader(c.body))
			req.Header.Set("Content-Type", c.ct)
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want || jsonMap(t, b)["resourceType"] != "OperationOutcome" {
				t.Errorf("%s: %d %.200s, want %d with an OperationOutcome", c.name, resp.StatusCode, b, c.want)
			}
		}

		// Create a clinician; it must enrol a second factor.
		s, b = apiCall(t, nil, base, admin, "POST", "/api/v1/accounts", create)
		if s != 201 {
			t.Fatalf("create: %d %s", s, b)
		}
		acc := jsonMap(t, b)
		id, _ := acc["id"].(string)
		if id == "" || acc["role"] != "clinician" || acc["practitioner"] != "prac2" || acc["second_factor"] != false || strings.Contains(string(b), "argon2") {
			t.Fatalf("created account: %s", b)
		}
		cjar, _ := cookiejar.New(nil)
		clin := &http.Client{Jar: cjar}
		loginAs := func(code string) (int, map[string]any) {
			t.Helper()
			s, b := apiCall(t, clin, base, "", "POST", "/auth/login", `{"username":"newclin","password":"correct horse battery 2","code":"`+code+`"}`)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			return s, m
		}
		if s, me := loginAs(""); s != 200 || me["needs_second_factor"] != true {
			t.Fatalf("first login: %d %v", s, me)
		}
		if s, _ := apiCall(t, clin, base, "", "GET", "/fhir/Observation/oB1", ""); s != 403 {
			t.Errorf("FHIR before enrolling: %d, want 403", s)
		}
		s, b = apiCall(t, clin, base, "", "POST", "/auth/totp/enrol", "")
		if s != 200 {
			t.Fatalf("enrol: %d %s", s, b)
		}
		code, _ := auth.TOTPCode(jsonMap(t, b)["secret"].(string), time.Now())
		s, b = apiCall(t, clin, base, "", "POST", "/auth/totp/confirm", `{"code":"`+code+`"}`)
		if s != 200 {
			t.Fatalf("confirm: %d %s", s, b)
		}
		var recovery []string
		for _, c := range jsonMap(t, b)["recovery_codes"].([]any) {
			recovery = append(recovery, c.(string))
		}
		if s, me := loginAs(recovery[0]); s != 200 || me["method"] != "password+totp" {
			t.Fatalf("login with a second factor: %d %v", s, me)
		}
		if s, _ := apiCall(t, clin, base, "", "GET", "/fhir/Observation/oB1", ""); s != 200 {
			t.Errorf("own care team's patient: %d, want 200", s)
		}
		s, b = apiCall(t, clin, base, "", "POST", "/auth/tokens", `{"expires":"1h"}`)
		if s != 201 {
			t.Fatalf("token: %d %s", s, b)
		}
		tok := jsonMap(t, b)["token"].(string)

		// Lock: the session, the token and logins stop at once.
		s, b = apiCall(t, nil, base, admin, "POST", "/api/v1/accounts/"+id+"/lock", "")
		if s != 200 || jsonMap(t, b)["locked"] != true {
			t.Fatalf("lock: %d %s", s, b)
		}
		if s, _ := apiCall(t, clin, base, "", "GET", "/auth/me", ""); s != 401 {
			t.Errorf("session of a locked account: %d, want 401", s)
		}
		if s, _ := apiCall(t, nil, base, tok, "GET", "/auth/me", ""); s != 401 {
			t.Errorf("token of a locked account: %d, want 401", s)
		}
		if s, _ := loginAs(recovery[1]); s != 401 {
			t.Errorf("login to a locked account: %d, want 401", s)
		}
		// Unlock.
		s, b = apiCall(t, nil, base, admin, "POST", "/api/v1/accounts/"+id+"/unlock", "")
		if s != 200 || jsonMap(t, b)["locked"] != false {
			t.Fatalf("unlock: %d %s", s, b)
		}
		if s, _ := apiCall(t, nil, base, tok, "GET", "/auth/me", ""); s != 200 {
			t.Errorf("token after unlock: %d, want 200", s)
		}
		if s, _ := loginAs(recovery[1]); s != 200 {
			t.Errorf("login after unlock: %d, want 200", s)
		}
		// Reset the second factor: the session ends, the next login must enrol.
		s, b = apiCall(t, nil, base, admin, "POST", "/api/v1/accounts/"+id+"/reset-2fa", "")
		if s != 200 || jsonMap(t, b)["second_factor"] != false {
			t.Fatalf("reset-2fa: %d %s", s, b)
		}
		if s, _ := apiCall(t, clin, base, "", "GET", "/auth/me", ""); s != 401 {
			t.Errorf("session after a second-factor reset: %d, want 401", s)
		}
		if s, me := loginAs(""); s != 200 || me["needs_second_factor"] != true {
			t.Errorf("login after a second-factor reset: %d %v, want an enrolment owed", s, me)
		}
		if s, _ := apiCall(t, clin, base, "", "GET", "/fhir/Observation/oB1", ""); s != 403 {
			t.Errorf("FHIR after a second-factor reset: %d, want 403", s)
		}
		// Revoke everything.
		s, b = apiCall(t, nil, base, admin, "POST", "/api/v1/accounts/"+id+"/revoke", "")
		if s != 200 || jsonMap(t, b)["tokens_revoked"] != float64(1) {
			t.Fatalf("revoke: %d %s", s, b)
		}
		if s, _ := apiCall(t, nil, base, tok, "GET", "/auth/me", ""); s != 401 {
			t.Errorf("token after revocation: %d, want 401", s)
		}
		if s, _ := apiCall(t, clin, base, "", "GET", "/auth/me", ""); s != 401 {
			t.Errorf("session after revocation: %d, want 401", s)
		}
		if s, _ := apiCall(t, nil, base, admin, "POST", "/api/v1/accounts/"+adminID+"/lock", ""); s != 400 {
			t.Errorf("an admin locking themselves: %d, want 400", s)
		}
		if s, _ := apiCall(t, nil, base, admin, "POST", "/api/v1/accounts/nosuchaccount/unlock", ""); s != 404 {
			t.Errorf("unlocking an unknown account: %d, want 404", s)
		}

		// The trail: every step, by the admin, naming the account.
		want := map[vigil.AuditAction]string{vigil.AuditAccountCreate: "created account " + id, vigil.AuditAccountLock: "locked account " + id,
			vigil.AuditAccountUpdate: "unlocked account " + id, vigil.Audit2FADisable: "second factor reset by an admin for account " + id,
			vigil.AuditTokenRevoke: "all sessions and 1 tokens of account " + id, vigil.AuditSearch: "accounts listed"}
		for _, r := range auditRecords(t, f.app, adminID) {
			if w, ok := want[r.Action]; ok && strings.Contains(r.Detail, w) && r.Outcome == vigil.AuditSuccess && r.Source != "" {
				delete(want, r.Action)
			}
		}
		if len(want) > 0 {
			t.Errorf("no audit records of the admin for %v", want)
		}
		for _, who := range []string{"clin", "pat", "dev", "reader", "obswriter"} {
			if n := len(auditRecords(t, f.app, f.accountID(t, who), vigil.AuditPermissionDenied)); n != 4 {
				t.Errorf("%d permission-denied records for %s, want 4", n, who)
			}
		}
		if n := len(auditRecords(t, f.app, adminID, vigil.AuditPermissionDenied)); n != 1 {
			t.Errorf("%d permission-denied records for the admin session without a second factor, want 1", n)
		}
	})
}
