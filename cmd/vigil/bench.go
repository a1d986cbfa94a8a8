package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
	"github.com/vigilhealth/vigil/records"
)

// runBench drives a real Vigil HTTP server with concurrent clients and
// reports throughput and latency percentiles. Without --target it starts
// its own server on a temporary SQLite store (or --db).
func runBench(ctx context.Context, env *Env, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "bench", "bench [--target URL | --data DIR | --db postgres://…] [--clients 32] [--duration 10s] [--preload N]\n\nRuns three phases against the FHIR API: Observation creates, reads by id,\nand Observation?subject=…&code=…&date=ge… searches; prints requests/s and\nlatency percentiles for each.")
	target := fs.String("target", "", "base URL of a running server (http://host:port); default: start one")
	storeFlags(fs, &cfg, "", "SQLite data directory for the server bench starts (default: temporary)")
	clients := fs.Int("clients", 32, "concurrent clients")
	dur := fs.Duration("duration", 10*time.Second, "duration of each phase")
	patients := fs.Int("patients", 1000, "distinct patients the Observations refer to")
	preload := fs.Int("preload", 0, "Observations the store should hold before the search phase (e.g. 1000000): imports those a reused --data directory lacks")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run (client and in-process server) to this file")
	profilePhase := fs.String("profile-phase", "", "with --cpuprofile or --trace: profile only this phase (create, read, search or ingest) instead of the whole run")
	traceFile := fs.String("trace", "", "with --profile-phase: write a Go execution trace of that phase to this file (go tool trace)")
	phases := fs.String("phases", "create,read,search", "comma-separated phases to run: create, read, search, ingest, alerts, mqtt")
	token := fs.String("token", "", "bearer token for --target (default: bench makes a service account on the server it starts)")
	batch := fs.Int("batch", 500, "readings per request in the ingest phase")
	batchDevices := fs.Int("batch-devices", 0, "ingest phase: devices per request, each with a run of consecutive readings (a gateway's upload); 0: every reading from a random device")
	redRate := fs.Int("red", 5, "alerts phase: patients whose SpO2 falls each second")
	withAudit := fs.Bool("audit", true, "audit every request (false: measure what the audit trail costs; started server only)")
	mqttBroker := fs.String("mqtt", "", "mqtt phase: external broker (tcp://127.0.0.1:1883); default: the embedded broker")
	mqttDevices := fs.Int("mqtt-devices", 16, "mqtt phase: publishing devices, one connection each")
	writeNDJSON := fs.String("write-ndjson", "", "only write --count vital-sign Observations of --patients patients to this NDJSON file (the input of the import figure), then exit")
	count := fs.Int("count", 100000, "Observations --write-ndjson writes")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if *writeNDJSON != "" {
		return writeObservations(*writeNDJSON, *count, *patients)
	}
	// phase runs one phase, profiled when --profile-phase names it.
	phase := func(key, name string, op func(*rand.Rand) (bool, error)) error {
		if *profilePhase != key {
			return benchPhase(ctx, env, name, *clients, *dur, op)
		}
		if *traceFile != "" {
			f, err := os.Create(*traceFile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := trace.Start(f); err != nil {
				return err
			}
			defer trace.Stop()
		}
		if *cpuprofile == "" {
			return benchPhase(ctx, env, name, *clients, *dur, op)
		}
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		return benchPhase(ctx, env, name, *clients, *dur, op)
	}
	if *cpuprofile != "" && *profilePhase == "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	want := map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		want[strings.TrimSpace(p)] = true
	}
	base := strings.TrimSuffix(*target, "/")
	if base == "" {
		if cfg.DataDir == "" && cfg.DB == "" {
			dir, err := mkTemp("vigil-bench-")
			if err != nil {
				return err
			}
			defer removeAll(dir)
			cfg.DataDir = dir
		}
		cfg.Addr = "127.0.0.1:0"
		cfg.Logger = quietLogger(env)
		cfg.NoAudit = !*withAudit
		if want["mqtt"] {
			// Own topics and client id: other Vigils may share the broker.
			cfg.MQTT, cfg.MQTTPrefix, cfg.MQTTClientID = *mqttBroker, "vigilbench-"+randomHex(4)+"/v1", "vigil-bench-"+randomHex(4)
			if cfg.MQTT == "" {
				cfg.MQTTListen = "127.0.0.1:0"
			}
		}
		app, err := startApp(ctx, cfg)
		if err != nil {
			return err
		}
		defer app.Close()
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { _ = app.Serve(sctx) }()
		base = app.URL()
		tok, err := benchAccount(ctx, app)
		if err != nil {
			return err
		}
		*token = tok
		if want["ingest"] || want["alerts"] || want["mqtt"] {
			if err := benchDevices(ctx, app, max(*patients, *mqttDevices)); err != nil {
				return err
			}
		}
		if want["mqtt"] {
			if err := benchMQTT(ctx, env, app, *mqttDevices, *batch, *dur); err != nil {
				return err
			}
			if !want["create"] && !want["read"] && !want["search"] && !want["ingest"] && !want["alerts"] {
				return nil
			}
		}
		if *preload > 0 {
			// A --data directory of an earlier run keeps its Observations:
			// preload only what is missing, so a large store is built once.
			have, err := app.Store.Search(ctx, &vigil.SearchQuery{Type: "Observation", SummaryCount: true})
			if err != nil {
				return err
			}
			if n := *preload - have.Total; n > 0 {
				fmt.Fprintf(env.Stderr, "preloading %d Observations (the store holds %d)…\n", n, have.Total)
				start := time.Now()
				if err := preloadObservations(ctx, app, n, *patients); err != nil {
					return err
				}
				fmt.Fprintf(env.Stderr, "preloaded in %s\n", time.Since(start).Round(time.Second))
			} else {
				fmt.Fprintf(env.Stderr, "the store already holds %d Observations: no preload\n", have.Total)
			}
		}
	}
	fhirBase := base + "/fhir"
	client := &http.Client{Transport: bearer{token: *token, next: &http.Transport{MaxIdleConnsPerHost: *clients * 2, MaxConnsPerHost: *clients * 2}}}
	if want["alerts"] {
		if err := benchAlerts(ctx, env, client, base, *patients, *dur, *redRate); err != nil {
			return err
		}
		if !want["create"] && !want["read"] && !want["search"] && !want["ingest"] {
			return nil
		}
	}
	if want["ingest"] {
		var clock atomic.Int64
		start := time.Now().Add(-24 * time.Hour).UnixMilli()
		ingestOp := func(r *rand.Rand) (bool, error) {
			body := ingestBatch(r, *batch, *patients, *batchDevices, start, &clock)
			resp, err := client.Post(base+"/api/v1/ingest", "application/json", bytes.NewReader(body))
			if err != nil {
				return false, err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Contains(b, fmt.Appendf(nil, `"stored":%d`, *batch)) {
				return false, fmt.Errorf("ingest: status %d %.200s", resp.StatusCode, b)
			}
			return true, nil
		}
		fmt.Fprintf(env.Stdout, "ingest: %d readings per request\n", *batch)
		if err := phase("ingest", "ingest readings (batches)", ingestOp); err != nil {
			return err
		}
		if !want["create"] && !want["read"] && !want["search"] {
			return nil
		}
	}

	fmt.Fprintf(env.Stdout, "target %s, %d clients, %s per phase\n", fhirBase, *clients, *dur)
	var mu sync.Mutex
	var ids []string
	create := func(r *rand.Rand) (bool, error) {
		body := observationJSON(r, *patients)
		resp, err := client.Post(fhirBase+"/Observation", "application/fhir+json", bytes.NewReader(body))
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		loc := resp.Header.Get("Location")
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusCreated {
			return false, fmt.Errorf("create: status %d", resp.StatusCode)
		}
		if i := strings.Index(loc, "/Observation/"); i >= 0 {
			id := strings.SplitN(loc[i+len("/Observation/"):], "/", 2)[0]
			mu.Lock()
			if len(ids) < 100000 {
				ids = append(ids, id)
			}
			mu.Unlock()
		}
		return true, nil
	}
	if err := phase("create", "create Observation", create); err != nil {
		return err
	}
	if !want["read"] && !want["search"] {
		return nil
	}
	if len(ids) == 0 {
		return fmt.Errorf("no Observation was created")
	}
	read := func(r *rand.Rand) (bool, error) {
		id := ids[r.IntN(len(ids))]
		resp, err := client.Get(fhirBase + "/Observation/" + id)
		if err != nil {
			return false, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("read: status %d", resp.StatusCode)
		}
		return true, nil
	}
	if want["read"] {
		if err := phase("read", "read Observation", read); err != nil {
			return err
		}
	}
	if !want["search"] {
		return nil
	}
	search := func(r *rand.Rand) (bool, error) {
		q := url.Values{}
		q.Set("subject", fmt.Sprintf("Patient/bench-%d", r.IntN(*patients)))
		q.Set("code", "http://loinc.org|"+benchCodes[r.IntN(len(benchCodes))])
		q.Set("date", "ge"+time.Now().Add(-time.Duration(r.IntN(72))*time.Hour).UTC().Format("2006-01-02T15:04:05Z"))
		resp, err := client.Get(fhirBase + "/Observation?" + q.Encode())
		if err != nil {
			return false, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("search: status %d", resp.StatusCode)
		}
		return true, nil
	}
	return phase("search", "search subject+code+date", search)
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// benchAccount makes a service account with every scope on the server
// bench started, and returns a token for it.
func benchAccount(ctx context.Context, app *App) (string, error) {
	// A name of its own: a --data directory may hold the account of an
	// earlier run.
	acc, err := app.Auth.CreateAccount(ctx, auth.AccountSpec{Username: "bench-" + randomHex(4), Role: vigil.RoleService,
		Scopes: []vigil.Scope{{Type: "*", Read: true, Write: true}}})
	if err != nil {
		return "", err
	}
	tok, _, err := app.Auth.IssueToken(ctx, acc.ID, 24*time.Hour, nil)
	return tok, err
}

// benchDevices creates the patients bench-N and their devices bench-d-N.
func benchDevices(ctx context.Context, app *App, n int) error {
	var buf bytes.Buffer
	for i := range n {
		fmt.Fprintf(&buf, `{"resourceType":"Patient","id":"bench-%d"}`+"\n", i)
		fmt.Fprintf(&buf, `{"resourceType":"Device","id":"bench-d-%d","patient":{"reference":"Patient/bench-%d"}}`+"\n", i, i)
	}
	_, err := app.Records.Import(ctx, &buf, records.ImportOptions{BatchSize: 1000})
	return err
}

// ingestBatch builds n readings with distinct times: of random devices,
// or, with devices > 0, of that many random devices, each with a run of
// n/devices consecutive readings.
func ingestBatch(r *rand.Rand, n, patients, devices int, start int64, clock *atomic.Int64) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	dev := 0
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if devices <= 0 || i%max(1, n/devices) == 0 {
			dev = r.IntN(patients)
		}
		code := benchCodes[r.IntN(4)] // not weight: one reading per device and time
		u := benchUnits[code]
		t := time.UnixMilli(start + clock.Add(1)).UTC().Format("2006-01-02T15:04:05.000Z")
		// Stable patients (±2 % around normal values): the benchmark
		// measures ingestion and analysis, not a storm of alerts.
		v := u[2].(float64) * (0.98 + 0.04*r.Float64())
		if code == "2708-6" {
			v = min(v, 100)
		}
		fmt.Fprintf(&b, `{"device":"bench-d-%d","code":"%s","time":"%s","value":%.1f,"unit":"%s"}`,
			dev, code, t, v, u[1])
	}
	b.WriteByte(']')
	return b.Bytes()
}

var benchCodes = []string{"8867-4", "9279-1", "2708-6", "8310-5", "29463-7"}

var benchUnits = map[string][3]any{
	"8867-4":  {"Heart rate", "/min", 72.0},
	"9279-1":  {"Respiratory rate", "/min", 16.0},
	"2708-6":  {"Oxygen saturation", "%", 97.0},
	"8310-5":  {"Body temperature", "Cel", 36.8},
	"29463-7": {"Body weight", "kg", 80.0},
}

// writeObservations writes n vital-sign Observations of patients
// patients (bench-0…) to an NDJSON file, the same every time (fixed seed;
// the times are relative to now).
func writeObservations(name string, n, patients int) (err error) {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		w.Write(observationJSON(r, patients))
		w.WriteByte('\n')
	}
	return w.Flush()
}

// observationJSON builds a vital-signs Observation for a random patient.
func observationJSON(r *rand.Rand, patients int) []byte {
	code := benchCodes[r.IntN(len(benchCodes))]
	u := benchUnits[code]
	v := u[2].(float64) * (0.9 + 0.2*r.Float64())
	t := time.Now().Add(-time.Duration(r.IntN(7*24*3600)) * time.Second).UTC().Format(time.RFC3339)
	return fmt.Appendf(nil, `{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"%s","display":"%s"}]},"subject":{"reference":"Patient/bench-%d"},"effectiveDateTime":"%s","valueQuantity":{"value":%.1f,"unit":"%s","system":"http://unitsofmeasure.org","code":"%s"}}`,
		code, u[0], r.IntN(patients), t, v, u[1], u[1])
}

// benchPhase runs op on clients goroutines for d and prints the figures.
func benchPhase(ctx context.Context, env *Env, name string, clients int, d time.Duration, op func(*rand.Rand) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n, failed atomic.Int64
	lat := make([][]time.Duration, clients)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start, cpu := time.Now(), processCPU()
	for i := range clients {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				t0 := time.Now()
				ok, err := op(r)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				if ok {
					n.Add(1)
					lat[i] = append(lat[i], time.Since(t0))
				}
			}
		}(i)
	}
	// Progress once a second.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			fmt.Fprintf(env.Stderr, "\r%s: %d ok, %d failed", name, n.Load(), failed.Load())
		}
	}
	fmt.Fprintln(env.Stderr)
	el, cpu := time.Since(start), processCPU()-cpu
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	// CPU per request counts the whole process: the clients, and the
	// server when bench started it.
	cpuPer := "-"
	if cpu > 0 && n.Load() > 0 {
		cpuPer = (cpu / time.Duration(n.Load())).Round(time.Microsecond).String()
	}
	fmt.Fprintf(env.Stdout, "%-26s %8.0f req/s  p50 %-9s p99 %-9s max %-9s cpu/req %-7s (%d ok, %d failed)\n", name,
		float64(n.Load())/el.Seconds(), pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond),
		pct(1).Round(10*time.Microsecond), cpuPer, n.Load(), failed.Load())
	if e, _ := firstErr.Load().(error); e != nil {
		fmt.Fprintf(env.Stdout, "  first error: %v\n", e)
	}
	return nil
}
