// Package alert turns monitoring findings into alerts a clinician acts on,
// and delivers them.
//
// An Engine keeps at most one active alert per patient and rule: a repeat
// finding updates the active alert (more readings, a higher severity)
// instead of opening another, and after the alert is resolved the next
// finding opens a new one. Alerts move open → acknowledged → resolved, each
// step recording who, when and a note; a snooze silences an alert for a
// while. An alert nobody acknowledges within the timeout of its severity
// is escalated by Engine.Tick, again after each further timeout.
//
// Every change is published as an Event to the Engine's sinks: a Hub fans
// events out to live subscribers (Server-Sent Events in the HTTP layer),
// never blocking on a slow one; Webhooks POSTs them, signed with
// HMAC-SHA256 (RFC 2104) over the timestamp and body, to configured URLs,
// retrying with exponential backoff and jitter. DetectedIssue renders an
// alert as a FHIR R4 DetectedIssue resource
// (https://hl7.org/fhir/R4/detectedissue.html).
//
// A typical wiring:
//
//	hub := alert.NewHub(0)
//	hooks, _ := alert.NewWebhooks(alert.WebhookConfig{Endpoints: endpoints})
//	go hooks.Run(ctx)
//	eng, _ := alert.New(alert.Config{Store: store, Sinks: []alert.Sink{hub, hooks},
//		Escalation: alert.DefaultEscalation()})
//	// for each rules.Event of a patient:
//	if f, ok := alert.FromRules(patient, title, &ev); ok {
//		eng.Raise(ctx, f)
//	} else {
//		eng.Clear(ctx, patient, ev.Rule, ev.Time)
//	}
//	// every few seconds:
//	eng.Tick(ctx, time.Now())
//
// See README.md beside this file for the design, the FHIR choice, the
// webhook signature scheme and measured latency.
package alert
