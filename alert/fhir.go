package alert

import (
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// Code systems of the FHIR rendering. RuleSystem names Vigil's alert
// rules (the code is the rule id); ActionSystem names the lifecycle
// actions recorded as DetectedIssue.mitigation.
const (
	RuleSystem   = "https://vigil.example.org/fhir/CodeSystem/alert-rule"
	ActionSystem = "https://vigil.example.org/fhir/CodeSystem/alert-action"
)

// fhirTime is the FHIR dateTime/instant layout with milliseconds.
const fhirTime = "2006-01-02T15:04:05.000Z07:00"

func ftime(t time.Time) string { return t.UTC().Format(fhirTime) }

// reference returns a FHIR Reference to who: a literal reference when who
// looks like "Type/id", else one with only a display text.
func reference(who, fallback string) map[string]any {
	if who == "" {
		return map[string]any{"display": fallback}
	}
	if typ, id, ok := strings.Cut(who, "/"); ok && typ != "" && id != "" && typ[0] >= 'A' && typ[0] <= 'Z' && !strings.Contains(id, "/") {
		return map[string]any{"reference": who}
	}
	return map[string]any{"display": who}
}

// fhirSeverity maps an alert severity to the required DetectedIssue
// severity value set (high | moderate | low).
func fhirSeverity(s string) string {
	switch s {
	case "critical", "high":
		return "high"
	case "medium":
		return "moderate"
	}
	return "low"
}

// DetectedIssue renders an alert as a FHIR R4 DetectedIssue
// (https://hl7.org/fhir/R4/detectedissue.html), ready for json.Marshal.
// author is the reference of the detecting Device (e.g. "Device/vigil");
// when empty the author is a display-only reference "Vigil remote
// monitoring".
//
// The mapping:
//
//	id, meta.versionId, meta.lastUpdated   ← ID, Version, Updated
//	status                                 ← "preliminary" while the alert is active (it may still
//	                                         gain readings or severity), "final" once resolved
//	code                                   ← the rule (RuleSystem) with Title as text
//	severity                               ← critical/high → high, medium → moderate, low → low
//	patient                                ← Patient/{Patient}
//	identifiedDateTime                     ← Created
//	author                                 ← the author argument
//	evidence.detail                        ← the Readings, as contained vital-sign Observations
//	detail                                 ← Title, cleared time, escalations, snooze
//	mitigation                             ← each acknowledgement, snooze and resolution in the
//	                                         history: action (ActionSystem code, note as text),
//	                                         date, author
//
// DetectedIssue rather than Flag, because an alert is a clinical-decision
// finding: DetectedIssue carries its severity, its evidence (the readings)
// and the clinicians' actions (mitigation: who and when) in core elements,
// where Flag would need extensions for all three. Rather than
// Communication, because an alert is a state that changes (acknowledged,
// resolved), not a message sent once.
func DetectedIssue(a *vigil.AlertRecord, author string) map[string]any {
	status := "preliminary"
	if a.Status == vigil.AlertResolved {
		status = "final"
	}
	r := map[string]any{
		"resourceType": "DetectedIssue",
		"id":           a.ID,
		"status":       status,
		"code": map[string]any{
			"coding": []any{map[string]any{"system": RuleSystem, "code": a.Rule}},
			"text":   a.Title,
		},
		"severity":           fhirSeverity(a.Severity),
		"patient":            map[string]any{"reference": "Patient/" + a.Patient},
		"identifiedDateTime": ftime(a.Created),
		"author":             reference(author, "Vigil remote monitoring"),
	}
	meta := map[string]any{"lastUpdated": ftime(a.Updated)}
	if a.Version > 0 {
		meta["versionId"] = strconv.FormatInt(a.Version, 10)
	}
	r["meta"] = meta

	if len(a.Readings) > 0 {
		contained := make([]any, 0, len(a.Readings))
		details := make([]any, 0, len(a.Readings))
		for i, s := range a.Readings {
			id := "r" + strconv.Itoa(i+1)
			contained = append(contained, observation(id, &s))
			details = append(details, map[string]any{"reference": "#" + id})
		}
		r["contained"] = contained
		r["evidence"] = []any{map[string]any{
			"code":   []any{map[string]any{"text": "readings that triggered the alert"}},
			"detail": details,
		}}
	}

	detail := a.Title
	if !a.ClearedAt.IsZero() {
		detail += "; condition cleared at " + ftime(a.ClearedAt)
	}
	if a.Escalations > 0 {
		detail += "; escalated " + strconv.Itoa(a.Escalations) + " time(s) for want of an acknowledgement"
	}
	if !a.SnoozedUntil.IsZero() && a.Active() {
		detail += "; snoozed until " + ftime(a.SnoozedUntil)
	}
	if detail != "" {
		r["detail"] = detail
	}

	var mitigation []any
	add := func(code, label string, at time.Time, by, note string) {
		text := label
		if note != "" {
			text += ": " + note
		}
		m := map[string]any{
			"action": map[string]any{
				"coding": []any{map[string]any{"system": ActionSystem, "code": code}},
				"text":   text,
			},
			"date": ftime(at),
		}
		if by != "" {
			m["author"] = reference(by, "")
		}
		mitigation = append(mitigation, m)
	}
	labels := map[string]string{"acknowledged": "Acknowledged", "snoozed": "Snoozed", "resolved": "Resolved"}
	for _, h := range a.History {
		if label, ok := labels[h.Action]; ok {
			if h.Action == "resolved" && h.By == "" {
				label = "Resolved automatically"
			}
			add(h.Action, label, h.At, h.By, h.Note)
		}
	}
	if len(mitigation) == 0 {
		// A record without history (not written by an Engine): use the
		// lifecycle fields; the single Note belongs to the latest action.
		if !a.AckAt.IsZero() {
			note := ""
			if a.Status == vigil.AlertAcknowledged {
				note = a.Note
			}
			add("acknowledged", "Acknowledged", a.AckAt, a.AckBy, note)
		}
		if a.Status == vigil.AlertResolved && !a.ResolvedAt.IsZero() {
			add("resolved", "Resolved", a.ResolvedAt, a.ResolvedBy, a.Note)
		}
	}
	if len(mitigation) > 0 {
		r["mitigation"] = mitigation
	}
	return r
}

// observation renders a reading as a contained vital-signs Observation
// (https://hl7.org/fhir/R4/observation-vitalsigns.html).
func observation(id string, s *vigil.Sample) map[string]any {
	o := map[string]any{
		"resourceType": "Observation",
		"id":           id,
		"status":       "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs",
		}}}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": s.Code}}},
		"subject":           map[string]any{"reference": "Patient/" + s.Patient},
		"effectiveDateTime": ftime(s.Time),
		"valueQuantity": map[string]any{
			"value": s.Value, "unit": s.Unit, "system": "http://unitsofmeasure.org", "code": s.Unit,
		},
	}
	if s.Device != "" {
		o["device"] = map[string]any{"reference": "Device/" + s.Device}
	}
	return o
}
