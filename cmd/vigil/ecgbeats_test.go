package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/internal/testenv"
)

// TestECGBeatsEndToEnd sends MIT-BIH record 223 (DS1: runs of ventricular
// tachycardia up to 97 beats, PVCs in 18 % of beats) as the device of
// patient pA through the real HTTP ingest API of a server on :0, a minute
// of 10-second chunks per request, and follows it to the stored beats,
// the findings and alerts, and the clinicians' labels, on both stores.
// The default model was trained on DS1, 223 included: the counts check
// the pipeline, not the model on unseen patients.
func TestECGBeatsEndToEnd(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "mitdb-ds1")
	rec, err := ecg.ReadRecord(os.DirFS(dir), "223")
	if err != nil {
		t.Fatal(err)
	}
	af, err := os.Open(filepath.Join(dir, "223.atr"))
	if err != nil {
		t.Fatal(err)
	}
	anns, err := ecg.ReadAnnotations(af)
	af.Close()
	if err != nil {
		t.Fatal(err)
	}
	model, err := beatclass.Default()
	if err != nil {
		t.Fatal(err)
	}
	eachConfig(t, func(t *testing.T, cfg Config) {
		f := startFixture(t, cfg)
		ctx := context.Background()
		// A clinician of another care team (pB's).
		acc, err := f.app.Auth.CreateAccount(ctx, auth.AccountSpec{Username: "clin2", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "prac2"})
		if err != nil {
			t.Fatal(err)
		}
		if f.tokens["clin2"], _, err = f.app.Auth.IssueToken(ctx, acc.ID, time.Hour, nil); err != nil {
			t.Fatal(err)
		}

		// The record, from 31 minutes ago, 10-second chunks, six per request.
		t0 := time.Now().UTC().Add(-31 * time.Minute).Truncate(time.Second)
		sig := rec.Signals[0]
		chunk := int(10 * rec.Fs)
		var items []string
		send := func() {
			t.Helper()
			if len(items) == 0 {
				return
			}
			status, body := f.post("dev", "/api/v1/ingest", "application/json", "["+strings.Join(items, ",")+"]")
			if status != 200 || body["stored"] != float64(len(items)) {
				t.Fatalf("ingest: %d %v", status, body["results"])
			}
			items = items[:0]
		}
		for i := 0; i < len(sig.Samples); i += chunk {
			end := min(i+chunk, len(sig.Samples))
			var sb strings.Builder
			for k, v := range sig.Samples[i:end] {
				if k > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprint(&sb, int(v)-sig.Baseline)
			}
			start := t0.Add(time.Duration(float64(i) / rec.Fs * float64(time.Second)))
			items = append(items, fmt.Sprintf(`{"device":"devA","code":"131330","start":%q,"rate_hz":%v,"gain":%v,"unit":"mV","samples":[%s]}`,
				start.Format(time.RFC3339Nano), rec.Fs, 1/sig.Gain, sb.String()))
			if len(items) == 6 {
				send()
			}
		}
		send()
		recEnd := t0.Add(time.Duration(float64(len(sig.Samples)) / rec.Fs * float64(time.Second)))

		// The beats, as the ECG viewer reads them.
		q := url.Values{"from": {t0.Format(time.RFC3339)}, "to": {recEnd.Format(time.RFC3339Nano)}}
		status, body := f.do("clin", "GET", "/api/v1/patients/pA/ecg/beats?"+q.Encode(), "")
		if status != 200 {
			t.Fatalf("beats: %d %v", status, body)
		}
		var beats []map[string]any
		remarshal(t, body["beats"], &beats)
		refV, refN := 0, 0
		for _, a := range anns {
			if c, ok := ecg.AAMIClass(a.Symbol); ok {
				refN++
				if c == 'V' {
					refV++
				}
			}
		}
		counts := map[string]int{}
		for _, b := range beats {
			counts[b["class"].(string)]++
			if b["model"] != model.Version() || b["code"] != "131330" {
				t.Fatalf("beat %v: want model %s on lead 131330", b, model.Version())
			}
		}
		t.Logf("%d beats %v; reference %d beats, %d V", len(beats), counts, refN, refV)
		// The last beat of the stream waits for its successor: a few may
		// be missing at the end.
		if d := refN - len(beats); d < -refN/50 || d > refN/50 {
			t.Errorf("%d beats stored, reference %d", len(beats), refN)
		}
		// PVC burden: V beats within 10 % of the reference count.
		if v := counts["V"]; math.Abs(float64(v-refV)) > 0.1*float64(refV) {
			t.Errorf("%d V beats, reference %d", v, refV)
		}
		if body["truncated"] != false {
			t.Errorf("truncated: %v", body["truncated"])
		}
		if s, b := f.do("clin", "GET", "/api/v1/patients/pA/ecg/beats?"+q.Encode()+"&limit=10", ""); s != 200 || b["truncated"] != true || len(b["beats"].([]any)) != 10 {
			t.Errorf("limit 10: %d %v", s, b["truncated"])
		}

		// Findings and alerts: ventricular runs and the PVC burden, with the
		// model and an explanation.
		status, body = f.do("clin", "GET", "/api/v1/patients/pA/ecg/findings", "")
		if status != 200 {
			t.Fatalf("findings: %d %v", status, body)
		}
		var findings []vigil.ECGFinding
		remarshal(t, body["findings"], &findings)
		var run, burden *vigil.ECGFinding
		for i, fd := range findings {
			switch fd.Kind {
			case "ventricular-run":
				if run == nil || fd.Beats > run.Beats {
					run = &findings[i]
				}
			case "pvc-burden":
				burden = &findings[i]
			}
		}
		if run == nil || burden == nil {
			t.Fatalf("findings %+v: want ventricular runs and a PVC burden", findings)
		}
		t.Logf("longest run: %s — %s", run.Title, run.Explanation)
		t.Logf("burden: %s — %s", burden.Title, burden.Explanation)
		for _, fd := range []*vigil.ECGFinding{run, burden} {
			if fd.Model != model.Version() || fd.Explanation == "" || len(fd.Evidence) == 0 || fd.Rule == "" {
				t.Errorf("finding %+v: model, explanation, evidence or rule missing", fd)
			}
		}
		if run.Beats < 20 || run.RateBPM <= 100 {
			t.Errorf("longest run %d beats at %.0f/min", run.Beats, run.RateBPM)
		}
		if burden.BurdenPct < 12 || burden.BurdenPct > 25 {
			t.Errorf("PVC burden %.1f %%, reference %.1f %% over the record", burden.BurdenPct, 100*float64(refV)/float64(refN))
		}
		alerts := f.list("clin", "/api/v1/alerts?patient=pA&status=open")
		rules := map[string]string{}
		for _, a := range alerts {
			rules[a["rule"].(string)] = a["severity"].(string)
		}
		if rules["ecg-ventricular-run"] == "" || rules["ecg-pvc-burden"] != "medium" {
			t.Errorf("open alerts %v: want ecg-ventricular-run and ecg-pvc-burden", rules)
		}

		// Access to the beats: the patient sees their own; a clinician of
		// another care team, the admin and the device do not.
		if s, _ := f.do("pat", "GET", "/api/v1/patients/pA/ecg/beats?"+q.Encode(), ""); s != 200 {
			t.Errorf("patient reading their beats: %d", s)
		}
		for _, who := range []string{"clin2", "admin", "dev"} {
			for _, path := range []string{"/ecg/beats", "/ecg/findings", "/ecg/labels"} {
				if s, _ := f.do(who, "GET", "/api/v1/patients/pA"+path, ""); s != 404 {
					t.Errorf("%s GET %s of pA: %d, want 404", who, path, s)
				}
			}
		}
		if s, _ := f.do("", "GET", "/api/v1/patients/pA/ecg/beats", ""); s != 401 {
			t.Errorf("anonymous: %d, want 401", s)
		}

		// Labels: the clinician relabels a V beat (its time given 40 ms
		// off) and confirms the longest run.
		var vBeat map[string]any
		for _, b := range beats {
			if b["class"] == "V" {
				vBeat = b
				break
			}
		}
		vt, err := time.Parse(time.RFC3339Nano, vBeat["time"].(string))
		if err != nil {
			t.Fatal(err)
		}
		req := fmt.Sprintf(`{"labels":[{"time":%q,"code":"131330","action":"relabel","label":"N"},{"finding":%q,"action":"confirm"}]}`,
			vt.Add(40*time.Millisecond).Format(time.RFC3339Nano), run.ID)
		status, body = f.post("clin", "/api/v1/patients/pA/ecg/labels", "application/json", req)
		if status != 201 || body["stored"] != float64(1+len(run.Evidence)) {
			t.Fatalf("labels: %d %v", status, body)
		}
		status, body = f.do("clin", "GET", "/api/v1/patients/pA/ecg/labels", "")
		var labels []vigil.BeatLabel
		remarshal(t, body["labels"], &labels)
		if status != 200 || len(labels) != 1+len(run.Evidence) {
			t.Fatalf("labels read back: %d, %d labels", status, len(labels))
		}
		clinID := f.accountID(t, "clin")
		first := labels[0]
		if !first.Time.Equal(vt) || first.Suggested != "V" || first.Label != "N" || first.Action != "relabel" || first.Model != model.Version() ||
			first.By != clinID || time.Since(first.At) > time.Minute || first.Patient != "pA" || first.Code != "131330" {
			t.Errorf("relabel read back as %+v", first)
		}
		for _, l := range labels[1:] {
			if l.Finding != run.ID || l.Action != "confirm" || l.Label != l.Suggested || l.By != clinID {
				t.Errorf("finding label %+v", l)
			}
		}
		// Only clinicians who see the patient label; bad input is a clear 400.
		good := fmt.Sprintf(`{"labels":[{"time":%q,"action":"confirm"}]}`, vt.Format(time.RFC3339Nano))
		for _, tc := range []struct {
			who, ct, body string
			want          int
			msg           string
		}{
			{"pat", "application/json", good, 403, "only clinicians"},
			{"clin2", "application/json", good, 404, ""},
			{"admin", "application/json", good, 404, ""},
			{"dev", "application/json", good, 404, ""},
			{"reader", "application/json", good, 403, "only clinicians"},
			{"clin", "text/plain", good, 415, ""},
			{"clin", "application/json", `{"labels":[{"time":"` + vt.Format(time.RFC3339Nano) + `","action":"relabel","label":"X"}]}`, 400, "class must be one of"},
			{"clin", "application/json", `{"labels":[{"time":"` + recEnd.Add(time.Hour).Format(time.RFC3339) + `","action":"confirm"}]}`, 400, "no stored beat within 150 ms"},
			{"clin", "application/json", `{"labels":[{"time":"` + vt.Add(200*time.Millisecond).Format(time.RFC3339Nano) + `","code":"131329","action":"confirm"}]}`, 400, "no stored beat"},
			{"clin", "application/json", `{"labels":[{"finding":"ecg-nosuch","action":"reject"}]}`, 400, "no such finding"},
			{"clin", "application/json", `{"labels":[{"time":"` + vt.Format(time.RFC3339Nano) + `","action":"relabel","label":"V"}]}`, 400, "confirm it instead"},
			{"clin", "application/json", `{"labels":[` + strings.Repeat(`{"finding":"`+run.ID+`","action":"reject"},`, 5000) + `{"finding":"x","action":"reject"}]}`, 400, "exceeds"},
		} {
			s, b := f.post(tc.who, "/api/v1/patients/pA/ecg/labels", tc.ct, tc.body)
			msg := fmt.Sprint(b)
			if s != tc.want || (tc.msg != "" && !strings.Contains(msg, tc.msg)) {
				t.Errorf("labels as %s (%.80s): %d %.200s; want %d %q", tc.who, tc.body, s, msg, tc.want, tc.msg)
			}
		}
		if _, body = f.do("clin", "GET", "/api/v1/patients/pA/ecg/labels", ""); len(body["labels"].([]any)) != len(labels) {
			t.Errorf("refused labels were stored: %d labels", len(body["labels"].([]any)))
		}

		// Every read and write of the ECG data is in the audit trail, the
		// refused ones as denied.
		page, err := f.app.Trail.Query(ctx, &vigil.AuditQuery{Patient: "Patient/pA", Count: 1000})
		if err != nil {
			t.Fatal(err)
		}
		byActor := map[string]int{}
		for _, r := range page.Records {
			switch {
			case r.Outcome == vigil.AuditDenied:
				byActor[r.ActorName+" denied"]++
			case r.Action == vigil.AuditCreate && r.ActorName == "clin":
				byActor["clin create "+string(r.Outcome)]++
			case r.Action == vigil.AuditSearch && r.ActorName == "clin":
				byActor["clin search"]++
			}
		}
		if byActor["clin create "+string(vigil.AuditSuccess)] != 1 || byActor["clin create "+string(vigil.AuditFailed)] != 7 ||
			byActor["pat denied"] != 1 || byActor["clin search"] < 5 {
			t.Errorf("audit trail of pA by actor: %v; want 1 label write, 7 refused (15 and 400), 1 denied to the patient, 5 or more reads", byActor)
		}
		all, err := f.app.Trail.Query(ctx, &vigil.AuditQuery{Agent: f.accountID(t, "clin2"), Count: 1000})
		if err != nil {
			t.Fatal(err)
		}
		denied := 0
		for _, r := range all.Records {
			if r.Outcome == vigil.AuditDenied && slices.Contains(r.Patients, "Patient/pA") {
				denied++
			}
		}
		if denied < 4 {
			t.Errorf("%d denied attempts of clin2 on pA in the trail, want 4", denied)
		}
	})
}

// remarshal decodes v (a decoded JSON value) into out.
func remarshal(t *testing.T, v any, out any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}
