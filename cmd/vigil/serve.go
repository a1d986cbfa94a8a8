package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/vigilhealth/vigil/demo"
	"github.com/vigilhealth/vigil/records"
)

func serveFlags(env *Env, name, synopsis string, cfg *Config) *flag.FlagSet {
	fs := newFlagSet(env, name, synopsis)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address")
	storeFlags(fs, cfg, "./vigil-data", "data directory for the embedded SQLite store")
	fs.Int64Var(&cfg.MaxBody, "max-body", 16<<20, "largest request body in bytes")
	fs.StringVar(&cfg.BaseURL, "base-url", "", "public FHIR base URL for links (default: from each request)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate (PEM); with --tls-key serves HTTPS")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key (PEM)")
	fs.StringVar(&cfg.MLLP, "mllp", "", "HL7 v2 (MLLP) listen address for ORU^R01, e.g. 127.0.0.1:2575")
	fs.StringVar(&cfg.MQTT, "mqtt", "", "MQTT broker to take device readings from, e.g. tcp://127.0.0.1:1883")
	fs.StringVar(&cfg.MQTTListen, "mqtt-listen", "", "run the embedded MQTT broker on this address instead (devices log in with device id and token)")
	fs.StringVar(&cfg.MQTTClientID, "mqtt-client-id", "", "MQTT client id of this Vigil (default vigil-ingest; keep it stable: the broker queues for it)")
	fs.StringVar(&cfg.MQTTPrefix, "mqtt-prefix", "", "MQTT topic prefix (default vigil/v1)")
	fs.StringVar(&cfg.Webhook, "webhook", "", "URL that receives alert events (signed with $VIGIL_WEBHOOK_SECRET)")
	fs.StringVar(&cfg.ModelRegistry, "model-registry", "", "beat-model registry directory (default: models in --data; give it with --db)")
	return fs
}

// storeFlags adds --data and --db, which choose the store.
func storeFlags(fs *flag.FlagSet, cfg *Config, dataDefault, dataUsage string) {
	fs.StringVar(&cfg.DataDir, "data", dataDefault, dataUsage)
	fs.StringVar(&cfg.DB, "db", "", "PostgreSQL URL (postgres://…); overrides --data")
	fs.StringVar(&cfg.AuditKey, "audit-key", "", "audit trail signing key file (default: audit.key in --data; required with --db)")
}

func runServe(ctx context.Context, env *Env, args []string) error {
	var cfg Config
	fs := serveFlags(env, "serve", "serve [--addr 127.0.0.1:8080] [--data DIR | --db postgres://…]", &cfg)
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(env.Stderr, nil))
	cfg.WebhookSecret = env.Getenv("VIGIL_WEBHOOK_SECRET")
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	app, err := startApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	fmt.Fprintf(env.Stdout, "Vigil %s serving FHIR R4 at %s/fhir\n", Version, app.URL())
	return app.Serve(ctx)
}

func runDemo(ctx context.Context, env *Env, args []string) error {
	var cfg Config
	fs := serveFlags(env, "demo", "demo [--addr 127.0.0.1:8080] [--data DIR]", &cfg)
	fs.Lookup("data").DefValue = ""
	fs.Lookup("data").Usage = "data directory (default: a temporary directory, removed on exit)"
	if err := fs.Set("data", ""); err != nil {
		return err
	}
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	// Nothing installed: the demo runs its own MQTT broker and an HL7
	// listener on free ports.
	if cfg.MQTT == "" && cfg.MQTTListen == "" {
		cfg.MQTTListen = "127.0.0.1:0"
	}
	if cfg.MLLP == "" {
		cfg.MLLP = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		dir, err := mkTemp("vigil-demo-")
		if err != nil {
			return err
		}
		defer removeAll(dir)
		cfg.DataDir = dir
	}
	cfg.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app, err := startApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	n := 0
	err = demo.Load(ctx, func(ctx context.Context, f demo.File) error {
		st, err := app.Records.Import(ctx, bytes.NewReader(f.Data), records.ImportOptions{Base: app.URL() + "/fhir"})
		n += st.Resources
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Vigil demo: %d resources loaded\n", n)
	if err := demoAccounts(ctx, app, env.Stdout); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- app.Serve(sctx) }()
	fmt.Fprintf(env.Stdout, "Streaming %d simulated patients (six hours back-filled, then live)…\n", demoPatients)
	if err := demoSimulation(sctx, app, cfg.Logger); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "FHIR R4 API: %s/fhir  (try %s/fhir/Patient)\n", app.URL(), app.URL())
	fmt.Fprintf(env.Stdout, "Live alerts: %s/api/v1/alerts?status=open  worklist: %s/api/v1/worklist  (clinician token)\n", app.URL(), app.URL())
	if u := app.Mon.MQTTURL(); u != "" {
		fmt.Fprintf(env.Stdout, "MQTT broker: %s (devices log in with their id and token)\n", u)
	}
	if a := app.Mon.MLLPAddr(); a != "" {
		fmt.Fprintf(env.Stdout, "HL7 v2 (MLLP): %s\n", a)
	}
	fmt.Fprintln(env.Stdout, "Press Ctrl-C to stop.")
	return <-errc
}
