package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/hl7"
	"github.com/vigilhealth/vigil/mllp"
)

// TestMonitoringEndToEnd streams readings over HTTP, FHIR and HL7 v2 into
// a real server and follows them to NEWS2, alerts, the live stream and the
// alert lifecycle, on both stores.
func TestMonitoringEndToEnd(t *testing.T) {
	eachConfig(t, func(t *testing.T, cfg Config) {
		cfg.MLLP = "127.0.0.1:0"
		// A webhook receiver that checks signatures.
		secret := "a webhook secret of thirty-two bytes or more"
		hooks := make(chan string, 64)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := alert.VerifySignature([]byte(secret), r.Header.Get(alert.SignatureHeader), body, time.Now(), time.Minute); err != nil {
				t.Errorf("webhook signature: %v", err)
			}
			hooks <- string(body)
		}))
		defer hook.Close()
		cfg.Webhook, cfg.WebhookSecret = hook.URL, secret
		f := startFixture(t, cfg)
		now := time.Now().UTC().Truncate(time.Second)

		// The clinician listens to live alerts.
		req, _ := http.NewRequest("GET", f.app.URL()+"/api/v1/alerts/stream", nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["clin"])
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		events := make(chan string, 16)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if line := sc.Text(); strings.HasPrefix(line, "event: ") {
					events <- strings.TrimPrefix(line, "event: ")
				}
			}
		}()

		// A deteriorating patient, from the bound device: NEWS2 7.
		ts := now.Add(-time.Minute).Format(time.RFC3339)
		batch := fmt.Sprintf(`[{"code":"9279-1","time":%q,"value":25,"unit":"/min"},
			{"code":"2708-6","time":%q,"value":92,"unit":"%%"},
			{"code":"8867-4","time":%q,"value":115,"unit":"/min"},
			{"code":"85354-9","time":%q,"components":[{"code":"8480-6","value":125,"unit":"mm[Hg]"},{"code":"8462-4","value":80,"unit":"mm[Hg]"}]},
			{"code":"8310-5","time":%q,"value":98.6,"unit":"[degF]"},
			{"code":"8867-4","time":%q,"value":4000,"unit":"/min"},
			{"code":"8867-4","time":"not a time","value":80,"unit":"/min"}]`, ts, ts, ts, ts, ts, ts)
		status, body := f.post("dev", "/api/v1/ingest", "application/json", batch)
		if status != 200 || body["stored"] != float64(5) || body["rejected"] != float64(2) {
			t.Fatalf("ingest: %d %v", status, body)
		}
		// The same batch again stores nothing.
		if _, body = f.post("dev", "/api/v1/ingest", "application/json", batch); body["duplicate"] != float64(5) {
			t.Errorf("retry: %v", body)
		}
		// The device may not post for another patient's device.
		if _, body = f.post("dev", "/api/v1/ingest", "application/x-ndjson", `{"device":"other","code":"8867-4","time":"`+ts+`","value":70,"unit":"/min"}`+"\n"); body["rejected"] != float64(1) {
			t.Errorf("foreign device: %v", body)
		}
		if s, _ := f.post("reader", "/api/v1/ingest", "application/json", batch); s != 403 {
			t.Errorf("read-only service ingesting: %d", s)
		}

		status, news := f.do("clin", "GET", "/api/v1/patients/pA/news2", "")
		if status != 200 || news["score"] != float64(7) || news["band"] != "high" {
			t.Fatalf("news2: %d %v", status, news)
		}
		if s, _ := f.do("clin", "GET", "/api/v1/patients/pB/news2", ""); s != 404 {
			t.Errorf("news2 of a patient outside the care team: %d, want 404", s)
		}
		select {
		case ev := <-events:
			if ev != "created" {
				t.Errorf("first live event %q", ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no live alert within 5 s")
		}
		alerts := f.list("clin", "/api/v1/alerts?patient=pA&status=open")
		if len(alerts) != 1 || alerts[0]["rule"] != "news2" || alerts[0]["severity"] != "critical" || alerts[0]["readings"] == nil ||
			alerts[0]["id"] == "" || alerts[0]["created"] == "" {
			t.Fatalf("alerts: %v", alerts)
		}
		if got := f.list("pat", "/api/v1/alerts?patient=pA"); len(got) != 1 {
			t.Errorf("the patient sees %d of their alerts", len(got))
		}
		if got := f.list("admin", "/api/v1/alerts"); len(got) != 0 {
			t.Errorf("admin sees %d alerts without break-the-glass", len(got))
		}
		id := alerts[0]["id"].(string)
		select {
		case body := <-hooks:
			if !strings.Contains(body, id) {
				t.Errorf("webhook body %.200s does not name alert %s", body, id)
			}
		case <-time.After(10 * time.Second):
			t.Error("no webhook within 10 s")
		}
		// The alert is a FHIR DetectedIssue too, under the usual access rules.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, ids, _ := f.ids("clin", "/fhir/DetectedIssue?patient=pA")
			if slices.Contains(ids, "DetectedIssue/"+id) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("DetectedIssue/%s not found: %v", id, ids)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, ids, _ := f.ids("clin", "/fhir/DetectedIssue?patient=pB"); len(ids) != 0 {
			t.Errorf("clinician sees another patient's DetectedIssue: %v", ids)
		}
		if s, _ := f.post("pat", "/api/v1/alerts/"+id+"/ack", "application/json", `{"note":"x"}`); s != 403 {
			t.Errorf("a patient acknowledging: %d", s)
		}
		if s, a := f.post("clin", "/api/v1/alerts/"+id+"/ack", "application/json", `{"note":"calling the patient"}`); s != 200 || a["status"] != "acknowledged" {
			t.Errorf("ack: %d %v", s, a)
		}
		if s, a := f.post("clin", "/api/v1/alerts/"+id+"/resolve", "application/json", `{"note":"sent to hospital"}`); s != 200 || a["status"] != "resolved" {
			t.Errorf("resolve: %d %v", s, a)
		}
		if s, _ := f.post("clin", "/api/v1/alerts/"+id+"/ack", "application/json", `{}`); s != 409 {
			t.Errorf("ack after resolve: %d, want 409", s)
		}

		// A FHIR Observation joins the same stream: SBP 200 for pA.
		obs := `{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],` +
			`"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"subject":{"reference":"Patient/pA"},"effectiveDateTime":"` + now.Format(time.RFC3339) + `",` +
			`"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":200,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},` +
			`{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":100,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`
		if s, b := f.do("clin", "POST", "/fhir/Observation", obs); s != 201 {
			t.Fatalf("FHIR observation: %d %v", s, b)
		}
		// The FHIR path is analysed asynchronously (the Observation is
		// durable at 201): wait for the alert.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got := f.list("clin", "/api/v1/alerts?patient=pA&status=open")
			if len(got) == 1 && got[0]["rule"] == "systolic-above-180" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a FHIR SBP of 200: %v", got)
			}
		}

		// HL7 v2: an ORU^R01 for pB (identified by MRN) is stored after the ACK.
		if _, err := f.app.Records.Update(context.Background(), "Patient", "pB", []byte(`{"resourceType":"Patient","id":"pB","identifier":[{"system":"urn:oid:1.2.3","value":"MRN-B"}]}`), ""); err != nil {
			t.Fatal(err)
		}
		msg := "MSH|^~\\&|MON|WARD|VIGIL|HOSP|20261125120000+0000||ORU^R01^ORU_R01|C1|P|2.5\r" +
			"PID|1||MRN-B^^^HOSP^MR\r" +
			"OBR|1|||vitals|||" + now.Add(-2*time.Minute).Format("20060102150405-0700") + "\r" +
			"OBX|1|NM|8867-4^Heart rate^LN||88|/min^^UCUM|||||F\r" +
			"OBX|2|NM|2708-6^SpO2^LN||300|%^^UCUM|||||F\r"
		c, err := mllp.Dial(context.Background(), f.app.Mon.MLLPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ackb, err := c.Send(context.Background(), []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		ack, err := hl7.Parse(ackb)
		if err != nil {
			t.Fatal(err)
		}
		if code := ack.Segment("MSA").Value(1, 1); code != "AE" {
			t.Errorf("ACK of a message with an impossible SpO2: %s, want AE", code)
		}
		got, err := f.app.Mon.Samples.QuerySamples(context.Background(), &vigil.SampleQuery{Patient: "pB", Codes: []string{"8867-4"}})
		if err != nil || len(got) != 1 || got[0].Value != 88 || got[0].Source != "hl7" {
			t.Errorf("HL7 heart rate stored: %+v %v", got, err)
		}
		ackb, _ = c.Send(context.Background(), []byte(strings.Replace(msg, "MRN-B", "MRN-NOBODY", 1)))
		if ack, _ = hl7.Parse(ackb); ack.Segment("MSA").Value(1, 1) != "AE" || !strings.Contains(string(ackb), "no patient") {
			t.Errorf("unknown patient ACK: %q", ackb)
		}
		// The worklist puts pA first for the clinician, and never shows pB.
		status, _ = f.do("clin", "GET", "/api/v1/worklist", "")
		wl := f.list("clin", "/api/v1/worklist")
		if status != 200 || len(wl) != 1 || wl[0]["patient"] != "pA" {
			t.Errorf("worklist: %d %v", status, wl)
		}
	})
}

// TestSamplesAsObservations checks that readings ingested by a device are
// FHIR Observations for those who may see the patient, and for nobody else.
func TestSamplesAsObservations(t *testing.T) {
	f := startFixture(t, Config{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	ts := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	if s, b := f.post("dev", "/api/v1/ingest", "application/json", `[{"code":"8867-4","time":"`+ts+`","value":77,"unit":"/min"}]`); s != 200 || b["stored"] != float64(1) {
		t.Fatalf("ingest: %d %v", s, b)
	}
	_, ids, _ := f.ids("clin", "/fhir/Observation?subject=Patient/pA&code=http://loinc.org|8867-4")
	var sampleID string
	for _, id := range ids {
		if id != "Observation/oA1" && id != "Observation/oA2" {
			sampleID = id
		}
	}
	if sampleID == "" {
		t.Fatalf("the ingested reading is not an Observation for the clinician: %v", ids)
	}
	if s, obs := f.do("pat", "GET", "/fhir/"+sampleID, ""); s != 200 || obs["valueQuantity"].(map[string]any)["value"] != float64(77) {
		t.Errorf("patient reading the sample Observation: %d %v", s, obs)
	}
	if s, _ := f.do("admin", "GET", "/fhir/"+sampleID, ""); s != 404 {
		t.Errorf("admin reading the sample Observation: %d, want 404", s)
	}
	if _, ids, _ := f.ids("clin", "/fhir/Observation?subject=Patient/pB&code=http://loinc.org|8867-4"); slices.Contains(ids, sampleID) {
		t.Errorf("pA's sample under pB: %v", ids)
	}
}
