package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/hl7"
	"github.com/vigilhealth/vigil/httpapi"
	"github.com/vigilhealth/vigil/ingest"
	"github.com/vigilhealth/vigil/mllp"
	"github.com/vigilhealth/vigil/modelreg"
	"github.com/vigilhealth/vigil/monitor"
	"github.com/vigilhealth/vigil/mqtt"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/records"
	"github.com/vigilhealth/vigil/rules"
	"github.com/vigilhealth/vigil/sqlite"
)

// Monitoring is the remote-monitoring half of a running Vigil: the sample
// and alert stores, the alert engine and its live hub, the per-patient
// analysers and the ingestion entrance every path shares.
type Monitoring struct {
	Samples vigil.SampleStore
	Alerts  vigil.AlertStore
	Engine  *alert.Engine
	Hub     *alert.Hub
	Monitor *monitor.Monitor
	Ingest  *ingest.Service

	mllp    *mllp.Server
	mllpLn  net.Listener
	broker  *mqtt.Broker
	sub     *mqtt.Subscriber
	subDone chan struct{}
	fhir    *fhirAlerts
	// fhirSamples queues the samples of FHIR Observations for
	// storeFHIRSamples.
	fhirSamples chan []vigil.Sample
	// Webhooks delivers signed alert events (--webhook), or nil.
	Webhooks *alert.Webhooks
	log      *slog.Logger
	// registry is the model registry's directory ("" without one), and
	// activeModel the id of its version the monitor serves ("" for the
	// built-in model).
	registry    string
	activeModel string
}

// fhirAlerts writes every alert, as it changes, to the FHIR store as a
// DetectedIssue with the alert's id (package alert explains the choice),
// so that FHIR clients find alerts with the usual search and access rules
// (DetectedIssue?patient=…). Writes happen on one goroutine, in order; the
// engine never waits for them.
type fhirAlerts struct {
	records *records.Service
	events  chan alert.Event
	log     *slog.Logger
}

// Publish implements alert.Sink; a full queue drops the write (the next
// change of the alert writes it again) and logs it.
func (f *fhirAlerts) Publish(ev alert.Event) {
	select {
	case f.events <- ev:
	default:
		f.log.Warn("monitoring: DetectedIssue queue full; write dropped", "alert", ev.Alert.ID)
	}
}

func (f *fhirAlerts) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-f.events:
			obj := alert.DetectedIssue(ev.Alert, "")
			obj["id"] = ev.Alert.ID
			if _, err := f.records.UpdateObject(ctx, "DetectedIssue", ev.Alert.ID, obj, ""); err != nil && ctx.Err() == nil {
				f.log.Error("monitoring: DetectedIssue write failed", "alert", ev.Alert.ID, "err", err)
			}
		}
	}
}

// Extensions of CarePlan that set a patient's monitoring programme.
const (
	// ExtMonitoringRules holds, as valueString, a JSON array of
	// rules.Rule (docs/api.md).
	ExtMonitoringRules = "https://vigil.health/fhir/StructureDefinition/monitoring-rules"
	// ExtSpO2Scale holds, as valueInteger, the NEWS2 SpO2 scale (2 for a
	// documented hypercapnic respiratory failure target of 88–92 %).
	ExtSpO2Scale = "https://vigil.health/fhir/StructureDefinition/news2-spo2-scale"
)

// openMonitoring opens the monitoring stores and builds the pipeline.
func openMonitoring(ctx context.Context, app *App) (*Monitoring, error) {
	cfg := app.cfg
	m := &Monitoring{Hub: alert.NewHub(0), fhirSamples: make(chan []vigil.Sample, 4096)}
	var err error
	if cfg.DB != "" {
		if m.Samples, err = postgres.OpenSamples(ctx, cfg.DB); err != nil {
			return nil, fmt.Errorf("open samples: %w", err)
		}
		if m.Alerts, err = postgres.OpenAlerts(ctx, cfg.DB); err != nil {
			m.Samples.Close()
			return nil, fmt.Errorf("open alerts: %w", err)
		}
	} else {
		dir := filepath.Clean(cfg.DataDir)
		if m.Samples, err = sqlite.OpenSamples(ctx, dir); err != nil {
			return nil, fmt.Errorf("open samples: %w", err)
		}
		if m.Alerts, err = sqlite.OpenAlerts(ctx, dir); err != nil {
			m.Samples.Close()
			return nil, fmt.Errorf("open alerts: %w", err)
		}
	}
	// Missing-data alerts resolve themselves when data arrives again (a
	// gateway that was offline uploads its backlog); the others wait for a
	// clinician.
	autoResolve := map[string]bool{}
	for _, r := range monitor.DefaultProgramme().Rules {
		if r.Kind == rules.Missing {
			autoResolve[r.ID] = true
		}
	}
	m.log = cfg.Logger
	m.fhir = &fhirAlerts{records: app.Records, events: make(chan alert.Event, 4096), log: cfg.Logger}
	sinks := []alert.Sink{m.Hub, m.fhir}
	if cfg.Webhook != "" {
		secret := cfg.WebhookSecret
		if m.Webhooks, err = alert.NewWebhooks(alert.WebhookConfig{Endpoints: []alert.Endpoint{{URL: cfg.Webhook, Secret: []byte(secret)}},
			Logger: cfg.Logger}); err != nil {
			m.Close()
			return nil, fmt.Errorf("webhook: %w", err)
		}
		sinks = append(sinks, m.Webhooks)
	}
	if m.Engine, err = alert.New(alert.Config{Store: m.Alerts, Sinks: sinks, Escalation: alert.DefaultEscalation(),
		AutoResolve: autoResolve, Logger: cfg.Logger}); err != nil {
		m.Close()
		return nil, err
	}
	ecgCfg, err := m.ecgConfig(ctx, cfg)
	if err != nil {
		m.Close()
		return nil, err
	}
	if m.Monitor, err = monitor.New(monitor.Config{Samples: m.Samples, Alerts: m.Engine, Logger: cfg.Logger, ECG: ecgCfg, Horizon: app.Horizon,
		ProgrammeFor: func(ctx context.Context, patient string) (monitor.Programme, error) {
			return programmeOf(ctx, app.Store, patient)
		}}); err != nil {
		m.Close()
		return nil, err
	}
	if m.Ingest, err = ingest.New(ingest.Config{Samples: m.Samples, DeviceBindings: app.Policy.DeviceBindings, SeesPatient: app.Policy.SeesPatient, Horizon: app.Horizon,
		Sink: func(ctx context.Context, s []vigil.Sample, w []vigil.Waveform) {
			if len(s) > 0 {
				m.Monitor.Observe(ctx, s)
			}
			if len(w) > 0 {
				m.Monitor.ObserveWaveforms(ctx, w)
			}
		},
		Audit: ingestAudit(app)}); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// ingestAudit records MQTT and HL7 batches in the audit trail (HTTP
// requests are audited by the HTTP layer).
func ingestAudit(app *App) func(ctx context.Context, source string, patients []string) error {
	return func(ctx context.Context, source string, patients []string) error {
		rec := vigil.AuditRecord{Action: vigil.AuditCreate, Outcome: vigil.AuditSuccess, Source: source, Detail: "readings via " + source}
		if p := vigil.PrincipalFrom(ctx); p != nil {
			rec.ActorID, rec.ActorName, rec.Role = p.AccountID, p.Username, string(p.Role)
		}
		for _, id := range patients {
			rec.Patients = append(rec.Patients, "Patient/"+id)
		}
		return app.Trail.Append(ctx, &rec)
	}
}

// writeHook feeds vital-sign Observations written through the FHIR API
// into the same stream, and rebuilds a patient's analysis when their
// CarePlan changes. The samples are queued and stored (idempotently, then
// analysed) by fhirSamples on a goroutine of its own, so that a FHIR create
// does not wait for a second commit: the Observation itself is already
// durable and is the record of truth; the sample is a derived copy.
func (m *Monitoring) writeHook(log func(msg string, err error)) records.WriteHook {
	return func(ctx context.Context, r *vigil.Resource) {
		switch r.Type {
		case "Observation":
			if r.Deleted {
				return
			}
			now := time.Now().UTC()
			ss := ingest.CheckTimes(ingest.FromObservation(r.JSON, now), now)
			if len(ss) > 0 {
				m.fhirSamples <- ss // bounded: a full queue slows FHIR writers down
			}
		case "CarePlan":
			var cp struct {
				Subject struct {
					Reference string `json:"reference"`
				} `json:"subject"`
			}
			if json.Unmarshal(r.JSON, &cp) == nil && len(cp.Subject.Reference) > len("Patient/") {
				m.Monitor.Forget(cp.Subject.Reference[len("Patient/"):])
			}
		}
	}
}

// storeFHIRSamples stores and analyses the samples of FHIR Observations,
// many writes per commit, until ctx ends.
func (m *Monitoring) storeFHIRSamples(ctx context.Context, log *slog.Logger) {
	for {
		var batch []vigil.Sample
		select {
		case <-ctx.Done():
			return
		case ss := <-m.fhirSamples:
			batch = append(batch, ss...)
		}
	more:
		for len(batch) < 5000 {
			select {
			case ss := <-m.fhirSamples:
				batch = append(batch, ss...)
			default:
				break more
			}
		}
		stored, err := m.Samples.AppendSamples(ctx, batch)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("monitoring: FHIR observations to samples", "err", err)
			}
			continue
		}
		var fresh []vigil.Sample
		for i, ok := range stored {
			if ok {
				fresh = append(fresh, batch[i])
			}
		}
		if len(fresh) > 0 {
			m.Monitor.Observe(ctx, fresh)
		}
	}
}

// programmeOf reads a patient's monitoring programme from their active
// CarePlans: rules from ExtMonitoringRules (all plans together), SpO2
// scale 2 from ExtSpO2Scale. Without any rules the default programme
// applies.
func programmeOf(ctx context.Context, store vigil.ResourceReader, patient string) (monitor.Programme, error) {
	q := &vigil.SearchQuery{Type: "CarePlan", Count: 100, Params: []vigil.SearchParam{
		{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: patient}}},
		{Name: "status", Type: vigil.ParamToken, Values: []vigil.SearchValue{{Code: "active", AnySystem: true}}},
	}}
	res, err := store.Search(ctx, q)
	if err != nil {
		return monitor.Programme{}, err
	}
	var prog monitor.Programme
	for _, r := range res.Matches {
		var cp struct {
			Meta struct {
				Source string `json:"source"`
			} `json:"meta"`
			Extension []struct {
				URL          string `json:"url"`
				ValueString  string `json:"valueString"`
				ValueInteger int    `json:"valueInteger"`
			} `json:"extension"`
		}
		if err := json.Unmarshal(r.JSON, &cp); err != nil {
			continue
		}
		if strings.HasPrefix(cp.Meta.Source, vigil.AccountSource("")) {
			continue // submitted by a patient or device: not a clinical programme
		}
		for _, e := range cp.Extension {
			switch e.URL {
			case ExtMonitoringRules:
				var rs []rules.Rule
				if err := json.Unmarshal([]byte(e.ValueString), &rs); err != nil {
					return monitor.Programme{}, vigil.Errorf(vigil.ErrInvalid, "CarePlan/%s: monitoring rules are not valid JSON", r.ID)
				}
				prog.Rules = append(prog.Rules, rs...)
			case ExtSpO2Scale:
				prog.Scale2 = e.ValueInteger == 2
			}
		}
	}
	if len(prog.Rules) == 0 {
		prog.Rules = monitor.DefaultProgramme().Rules
	}
	return prog, nil
}

// ecgConfig wires the streaming beat classification: beats, findings and
// labels in the sample store (both stores implement vigil.BeatStore and
// vigil.BeatLabelStore), and the active model of the model registry
// (DATA/models, package modelreg), else the model built into the binary.
// A registry that cannot be read is logged and the built-in model served:
// every stored beat and finding names the model that gave it.
func (m *Monitoring) ecgConfig(ctx context.Context, cfg Config) (monitor.ECGConfig, error) {
	var ec monitor.ECGConfig
	ec.Beats, _ = m.Samples.(vigil.BeatStore)
	ec.Labels, _ = m.Samples.(vigil.BeatLabelStore)
	switch {
	case cfg.ModelRegistry != "":
		m.registry = filepath.Clean(cfg.ModelRegistry)
	case cfg.DataDir != "":
		m.registry = modelreg.DefaultDir(filepath.Clean(cfg.DataDir))
	}
	if m.registry != "" {
		c, e, err := modelreg.LoadActive(ctx, m.registry)
		switch {
		case err != nil:
			cfg.Logger.ErrorContext(ctx, "monitoring: model registry unreadable; serving the built-in beat model", "err", err)
		case e != nil:
			ec.Classifier, m.activeModel = c, e.ID
		}
	}
	if ec.Classifier == nil {
		c, err := beatclass.Default()
		if err != nil {
			return ec, fmt.Errorf("beat model: %w", err)
		}
		ec.Classifier = c
	}
	return ec, nil
}

// followRegistry swaps the monitor's beat model when the registry's
// active version changed (a promotion or a rollback); a registry that
// cannot be read keeps the model in use.
func (m *Monitoring) followRegistry(ctx context.Context) {
	if m.registry == "" {
		return
	}
	r, err := modelreg.Open(m.registry)
	if err != nil {
		return
	}
	e, err := r.Active(ctx)
	if err != nil || e.ID == m.activeModel {
		return
	}
	c, err := r.Classifier(ctx, e.Version)
	if err != nil {
		m.log.ErrorContext(ctx, "monitoring: active beat model not loaded; keeping the one in use", "err", err)
		return
	}
	m.Monitor.SetECGClassifier(c)
	m.activeModel = e.ID
	m.log.InfoContext(ctx, "monitoring: beat model changed", "model", c.Version())
}

// httpConfig is what the HTTP API needs of monitoring.
func (m *Monitoring) httpConfig(app *App) httpapi.MonitorConfig {
	mc := httpapi.MonitorConfig{Ingest: m.Ingest, Monitor: m.Monitor, Access: app.Policy, Alerts: m.Engine, AlertStore: m.Alerts, Hub: m.Hub}
	mc.Beats, _ = m.Samples.(vigil.BeatStore)
	mc.BeatLabels, _ = m.Samples.(vigil.BeatLabelStore)
	return mc
}

// run drives the time-based parts (missing-data rules, NEWS2 staleness,
// escalation) until ctx ends.
func (m *Monitoring) run(ctx context.Context, every time.Duration) {
	go m.fhir.run(ctx)
	go m.storeFHIRSamples(ctx, m.log)
	if m.Webhooks != nil {
		go func() { _ = m.Webhooks.Run(ctx) }()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var checked time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.Monitor.Tick(ctx)
			_, _ = m.Engine.Tick(ctx, now)
			if now.Sub(checked) >= time.Minute {
				m.followRegistry(ctx)
				checked = now
			}
		}
	}
}

// mllpPrincipal is who HL7 feeds act as: MLLP has no authentication of
// its own, so the listener should be reachable only from the hospital
// network (or through a TLS tunnel); docs/security.md.
var mllpPrincipal = &vigil.Principal{AccountID: "mllp", Username: "hl7-feed", Role: vigil.RoleService,
	Scopes: []vigil.Scope{{Type: "Observation", Write: true}}, Method: "network"}

// listenMLLP starts the HL7 v2 listener on addr.
func (m *Monitoring) listenMLLP(app *App, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mllp listen: %w", err)
	}
	m.mllpLn = ln
	m.mllp = &mllp.Server{
		Handler: ingest.HL7Handler(ingest.HL7Config{Ingester: m.Ingest, Principal: mllpPrincipal, Logger: app.cfg.Logger,
			ResolvePatient: func(ctx context.Context, ids []hl7.Identifier) (string, error) {
				return patientByIdentifier(ctx, app.Store, ids)
			}}),
		IdleTimeout: 10 * time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute, MaxConnections: 256, Logger: app.cfg.Logger,
	}
	go func() { _ = m.mllp.Serve(ln) }()
	return nil
}

// patientByIdentifier finds the one Patient with any of the identifiers
// (value match, any system).
func patientByIdentifier(ctx context.Context, store vigil.ResourceReader, ids []hl7.Identifier) (string, error) {
	found := ""
	for _, id := range ids {
		// With an assigning authority OID (CX.4.2), match that system only.
		v := vigil.SearchValue{Code: id.ID, AnySystem: true}
		if id.AuthorityUID != "" {
			v = vigil.SearchValue{System: "urn:oid:" + id.AuthorityUID, Code: id.ID}
		}
		res, err := store.Search(ctx, &vigil.SearchQuery{Type: "Patient", Count: 2, Params: []vigil.SearchParam{
			{Name: "identifier", Type: vigil.ParamToken, Values: []vigil.SearchValue{v}}}})
		if err != nil {
			return "", err
		}
		for _, r := range res.Matches {
			if found != "" && found != r.ID {
				return "", vigil.ErrConflict
			}
			found = r.ID
		}
	}
	if found == "" {
		return "", vigil.ErrNotFound
	}
	return found, nil
}

// startMQTT connects the MQTT subscriber to an external broker (url) or
// starts the embedded broker on listen and subscribes to it.
func (m *Monitoring) startMQTT(ctx context.Context, app *App, url, listen string) error {
	devices := &deviceAccounts{accounts: app.Accounts, ttl: 30 * time.Second}
	topics := mqtt.Topics{Prefix: app.cfg.MQTTPrefix}
	cfg := mqtt.Config{Broker: url, ClientID: app.cfg.MQTTClientID, Topics: topics, Ingester: m.Ingest, Principal: devices.principal, Logger: app.cfg.Logger}
	if listen != "" {
		b, err := mqtt.NewBroker(mqtt.BrokerConfig{Addr: listen, Topics: topics, Logger: app.cfg.Logger,
			Auth: func(ctx context.Context, user, pass string) (*vigil.Principal, error) {
				return app.Auth.AuthenticateToken(ctx, pass)
			}})
		if err != nil {
			return fmt.Errorf("mqtt broker: %w", err)
		}
		m.broker = b
		// The embedded broker hands readings over inside the device's
		// PUBLISH (acknowledged once durable); no subscriber connection.
		if m.sub, err = b.IngestDirect(cfg); err != nil {
			return fmt.Errorf("mqtt: %w", err)
		}
		return nil
	}
	sub, err := mqtt.NewSubscriber(cfg)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	m.sub, m.subDone = sub, make(chan struct{})
	go func() {
		defer close(m.subDone)
		_ = sub.Run(ctx) // returns when ctx ends, after in-flight ingests are acknowledged
	}()
	return nil
}

// MQTTURL returns the embedded broker's URL, or "".
func (m *Monitoring) MQTTURL() string {
	if m.broker == nil {
		return ""
	}
	return m.broker.URL()
}

// deviceAccounts maps a device id to its device account (cached), so
// that readings from the broker act as that account: a device without an
// account, or whose account is disabled, is refused.
type deviceAccounts struct {
	accounts vigil.AccountStore
	ttl      time.Duration

	mu    sync.Mutex
	until time.Time
	byDev map[string]*vigil.Principal
}

func (d *deviceAccounts) principal(ctx context.Context, device string) (*vigil.Principal, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Now().After(d.until) {
		as, err := d.accounts.ListAccounts(ctx)
		if err != nil {
			return nil, err
		}
		d.byDev = make(map[string]*vigil.Principal)
		for _, a := range as {
			if a.Role == vigil.RoleDevice && !a.Disabled {
				d.byDev[a.Device] = &vigil.Principal{AccountID: a.ID, Username: a.Username, Role: a.Role, Device: a.Device, Method: "mqtt"}
			}
		}
		d.until = time.Now().Add(d.ttl)
	}
	p, ok := d.byDev[device]
	if !ok {
		return nil, vigil.Errorf(vigil.ErrNotFound, "no device account for this device")
	}
	return p, nil
}

// MLLPAddr returns the HL7 listener's address (after Listen), or "".
func (m *Monitoring) MLLPAddr() string {
	if m.mllpLn == nil {
		return ""
	}
	return m.mllpLn.Addr().String()
}

// Close stops the listener and closes the stores.
func (m *Monitoring) Close() error {
	var err error
	if m.subDone != nil {
		select {
		case <-m.subDone:
		case <-time.After(35 * time.Second): // the subscriber's IngestTimeout, and a margin
		}
	}
	if m.broker != nil {
		err = m.broker.Close()
	}
	if m.mllp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		serr := m.mllp.Shutdown(ctx)
		cancel()
		if !errors.Is(serr, mllp.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	}
	if m.Alerts != nil {
		err = errors.Join(err, m.Alerts.Close())
	}
	if m.Samples != nil {
		err = errors.Join(err, m.Samples.Close())
	}
	return err
}
