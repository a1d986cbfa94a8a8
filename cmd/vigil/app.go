package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/access"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/auth"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/httpapi"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/records"
	"github.com/vigilhealth/vigil/sqlite"
)

// Config is what "vigil serve" runs with.
type Config struct {
	Addr    string // listen address; ":0" picks a free port
	DataDir string // SQLite data directory (when DB is empty)
	DB      string // postgres://… to use PostgreSQL
	MaxBody int64
	BaseURL string
	Logger  *slog.Logger
	// TLSCert and TLSKey, both set, serve HTTPS (PEM files).
	TLSCert string
	TLSKey  string
	// AuditKey is the audit trail's signing key file (default audit.key in
	// the data directory; required with DB).
	AuditKey string
	// MLLP, when set, is the HL7 v2 listen address (e.g. 127.0.0.1:2575).
	MLLP string
	// MQTT, when set, is the broker to take device readings from
	// (tcp://host:1883); MQTTListen starts the embedded broker instead.
	MQTT       string
	MQTTListen string
	// MQTTClientID and MQTTPrefix let several Vigil deployments share a
	// broker (defaults: vigil-ingest, vigil/v1).
	MQTTClientID string
	MQTTPrefix   string
	// ModelRegistry is the beat-model registry directory (package
	// modelreg); default DATA/models. With --db it must be given to serve a
	// registered model (several nodes share one directory).
	ModelRegistry string
	// Webhook, when set, receives every alert event, signed with
	// WebhookSecret (from VIGIL_WEBHOOK_SECRET: never a flag, never logged).
	Webhook       string
	WebhookSecret string
	// Tick is how often time-based monitoring runs (default 10 s).
	Tick time.Duration
	// NoAudit turns the audit trail off for HTTP requests. Only `vigil
	// bench --audit=false` sets it, to measure what auditing costs; a
	// server never runs without its trail.
	NoAudit bool
}

// App is a running Vigil: store, services and HTTP server. Tests start one
// on ":0" with a temporary data directory.
type App struct {
	cfg   Config
	Store vigil.ResourceStore
	Model *fhir.Model
	// Records runs on the unguarded store: for the operator's own tools
	// (import, demo loading). The HTTP server uses Guarded.
	Records *records.Service
	// Guarded runs on the store wrapped by the access policy.
	Guarded *records.Service
	// Horizon tracks every write in flight in this process (FHIR writes,
	// device readings, derived readings) for the meta.lastUpdated of
	// history and searchset Bundles (vigil.WriteHorizon).
	Horizon  *vigil.WriteHorizon
	Policy   *access.Policy
	Accounts vigil.AccountStore
	Auth     *auth.Service
	Trail    *audit.Trail
	Mon      *Monitoring
	HTTP     *httpapi.Server

	ln  net.Listener
	srv *http.Server
	// securityHook sends security alerts (break-the-glass) to --webhook.
	securityHook *auth.Webhook
}

// openStore opens the store named by the config: PostgreSQL when DB is a
// postgres URL, SQLite in DataDir otherwise.
func openStore(ctx context.Context, cfg Config) (vigil.ResourceStore, error) {
	if cfg.DB != "" {
		if !strings.HasPrefix(cfg.DB, "postgres://") && !strings.HasPrefix(cfg.DB, "postgresql://") {
			return nil, errors.New("--db must be a postgres:// URL")
		}
		db, err := postgres.Open(ctx, cfg.DB)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		return db, nil
	}
	if cfg.DataDir == "" {
		return nil, errors.New("--data is required (or --db)")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	db, err := sqlite.Open(ctx, filepath.Clean(cfg.DataDir))
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return db, nil
}

// NewApp opens the store and builds the services, without listening yet.
func NewApp(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	model, err := fhir.LoadR4()
	if err != nil {
		return nil, fmt.Errorf("load FHIR model: %w", err)
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	horizon := &vigil.WriteHorizon{}
	index := &records.IndexState{}
	app := &App{cfg: cfg, Store: store, Model: model, Horizon: horizon,
		Records: records.New(store, model, records.WithHorizon(horizon), records.WithIndexState(index))}
	fail := func(err error) (*App, error) {
		app.Close()
		return nil, err
	}
	// A new store records that its index is this program's; an older one
	// is reindexed by Serve.
	if err := app.Records.AdoptIndexRevision(ctx); err != nil {
		return fail(err)
	}
	auditStore, err := openAuditStore(store)
	if err != nil {
		return fail(err)
	}
	if app.Trail, err = openTrail(ctx, cfg, auditStore); err != nil {
		return fail(err)
	}
	if app.Accounts, err = openAccounts(ctx, cfg); err != nil {
		return fail(err)
	}
	var notify []auth.Notifier
	if cfg.Webhook != "" {
		if app.securityHook, err = auth.NewWebhook(auth.WebhookConfig{URL: cfg.Webhook, Secret: []byte(cfg.WebhookSecret), Logger: cfg.Logger}); err != nil {
			return fail(err)
		}
		notify = append(notify, app.securityHook)
	}
	if app.Auth, err = auth.New(auth.Config{Accounts: app.Accounts, Events: securityEvents(app.Trail, cfg.Logger), Notify: notify,
		Links: func(ctx context.Context, r vigil.Role, patient, practitioner, device string) error {
			return checkLinks(ctx, app, r, patient, practitioner, device)
		}}); err != nil {
		return fail(err)
	}
	app.Policy = access.New(store, model)
	if app.Mon, err = openMonitoring(ctx, app); err != nil {
		return fail(err)
	}
	app.Guarded = records.New(app.Policy.Store(), model, records.WithWriteHook(app.Mon.writeHook(func(msg string, err error) {
		cfg.Logger.Error("monitoring: "+msg, "err", err)
	})), records.WithSamples(app.Mon.Samples, app.Policy.SeesPatient), // device samples are Observations too
		records.WithHorizon(horizon), records.WithTerminology(store), records.WithIndexState(index))
	var auditor httpapi.Auditor = &trailAuditor{trail: app.Trail}
	if cfg.NoAudit {
		auditor = nil
	}
	h, err := httpapi.New(httpapi.Config{Records: app.Guarded, Auth: app.Auth, Auditor: auditor, Audit: app.Trail,
		Monitor: app.Mon.httpConfig(app), Logger: cfg.Logger, MaxBody: cfg.MaxBody, BaseURL: cfg.BaseURL, Version: Version})
	if err != nil {
		return fail(err)
	}
	app.HTTP = h
	return app, nil
}

// openAccounts opens the account store beside the resource store.
func openAccounts(ctx context.Context, cfg Config) (vigil.AccountStore, error) {
	if cfg.DB != "" {
		a, err := postgres.OpenAccounts(ctx, cfg.DB)
		if err != nil {
			return nil, fmt.Errorf("open accounts: %w", err)
		}
		return a, nil
	}
	a, err := sqlite.OpenAccounts(ctx, filepath.Clean(cfg.DataDir))
	if err != nil {
		return nil, fmt.Errorf("open accounts: %w", err)
	}
	return a, nil
}

// startApp builds an App and binds its listen address.
func startApp(ctx context.Context, cfg Config) (*App, error) {
	app, err := NewApp(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := app.Listen(); err != nil {
		app.Close()
		return nil, err
	}
	return app, nil
}

// Listen binds the listen address.
func (a *App) Listen() error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	a.ln = ln
	if a.cfg.MLLP != "" {
		if err := a.Mon.listenMLLP(a, a.cfg.MLLP); err != nil {
			return err
		}
	}
	a.srv = &http.Server{
		Handler:           a.HTTP,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.cfg.Logger.Handler(), slog.LevelWarn),
	}
	return nil
}

// URL returns the server's base URL (after Listen).
func (a *App) URL() string {
	if a.cfg.TLSCert != "" {
		return "https://" + a.ln.Addr().String()
	}
	return "http://" + a.ln.Addr().String()
}

// Serve serves until ctx is done, then shuts down gracefully.
func (a *App) Serve(ctx context.Context) error {
	tick := a.cfg.Tick
	if tick <= 0 {
		tick = 10 * time.Second
	}
	go a.Mon.run(ctx, tick)
	rctx, stopReindex := context.WithCancel(ctx)
	reindexed := make(chan struct{})
	go func() { defer close(reindexed); a.reindexIfStale(rctx) }()
	defer func() { stopReindex(); <-reindexed }()
	if a.securityHook != nil {
		go func() { _ = a.securityHook.Run(ctx) }()
	}
	if a.cfg.MQTT != "" || a.cfg.MQTTListen != "" {
		if err := a.Mon.startMQTT(ctx, a, a.cfg.MQTT, a.cfg.MQTTListen); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() {
		if a.cfg.TLSCert != "" {
			errc <- a.srv.ServeTLS(a.ln, a.cfg.TLSCert, a.cfg.TLSKey)
			return
		}
		errc <- a.srv.Serve(a.ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// reindexIfStale rebuilds, in the background, the search index of a store
// made by an older Vigil (records.Service.ReindexIfStale), logging
// progress, and records it in the audit trail. Searches meanwhile find the
// older resources as the older program did.
func (a *App) reindexIfStale(ctx context.Context) {
	for a.reindexOnce(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(reindexRetry):
		}
	}
}

// reindexRetry is how long the server waits before it tries a failed
// background reindex again (or finds that vigil reindex did it meanwhile,
// which ends the older index's search mode, records.IndexState).
const reindexRetry = 10 * time.Minute

// reindexOnce is one attempt of reindexIfStale; it reports whether to try
// again (the rebuild, or reading the revision, failed).
func (a *App) reindexOnce(ctx context.Context) (again bool) {
	start, last := time.Now(), time.Now()
	log := a.cfg.Logger
	st, ran, err := a.Records.ReindexIfStale(ctx, func(s records.ReindexStats) {
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			log.Info("reindexing the search index of an older Vigil", "resources", s.Resources)
		}
	})
	if !ran {
		// Nothing was reindexed: the store is current, or its revision
		// could not be read (the server stopping at once, most often).
		if err != nil && ctx.Err() == nil {
			log.Error("read the index revision of the store; trying again in 10 minutes", "err", err)
			return true
		}
		return false
	}
	rec := vigil.AuditRecord{ActorID: "server:reindex", ActorName: "vigil", Role: string(vigil.RoleService), Action: vigil.AuditReindex,
		Outcome: vigil.AuditSuccess, Source: "server",
		Detail: fmt.Sprintf("search index rebuilt after an upgrade: %d resources reindexed, %d skipped", st.Resources, st.Skipped)}
	if err != nil {
		rec.Outcome = vigil.AuditFailed
		rec.Detail = fmt.Sprintf("search index rebuild after an upgrade not finished: %d resources reindexed, %d skipped", st.Resources, st.Skipped)
		if ctx.Err() != nil {
			log.Info("reindexing stopped; it starts again with the server", "resources", st.Resources)
		} else {
			log.Error("reindexing the search index failed; trying again in 10 minutes (or run vigil reindex)", "err", err)
			again = true
		}
	} else {
		log.Info("search index rebuilt", "resources", st.Resources, "skipped", st.Skipped, "took", time.Since(start).Round(time.Millisecond))
	}
	if aerr := a.Trail.Append(context.WithoutCancel(ctx), &rec); aerr != nil {
		log.Error("record the reindex in the audit trail", "err", aerr)
	}
	return again
}

// Close releases the stores.
func (a *App) Close() error {
	if a.srv != nil {
		a.srv.Close()
	}
	var err error
	if a.Mon != nil {
		err = errors.Join(err, a.Mon.Close())
	}
	if a.Trail != nil {
		err = errors.Join(err, a.Trail.Close())
	}
	if a.Accounts != nil {
		err = errors.Join(err, a.Accounts.Close())
	}
	return errors.Join(err, a.Store.Close())
}
