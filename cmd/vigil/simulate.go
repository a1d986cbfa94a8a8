package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigilhealth/vigil/mqtt"
	"github.com/vigilhealth/vigil/sim"
)

const simulateSynopsis = `simulate --target URL --via http|mqtt|mllp [--patients N] [--token T] [--speed X] [--duration D] [--seed S] [--roster FILE] [--replay FILE]

Streams simulated vital signs (package sim) to a Vigil server:
  --via http   POST URL/api/v1/ingest (URL http://host:port) with a bearer token
  --via mqtt   QoS 1 to vigil/v1/devices/{device}/readings at URL tcp://host:1883,
               each device logging in with its id and token
  --via mllp   HL7 v2.5 ORU^R01 to URL host:port, waiting for each ACK

Patients, devices and their accounts must exist on the server: give them in
--roster, NDJSON (or a JSON array) of
  {"patient":"MRN-1","device":"dev-1","token":"…","scenario":"sepsis","onset":"2h"}
with scenario stable (the default), sepsis, heart-failure or hypoxia, and
onset the time from the start to the deterioration. Without --roster,
N patients sim-patient-0001… with devices sim-device-0001… cycle through --mix.
With --speed above 1 and a --duration, simulated time starts in the past so that
no reading is ever in the future. Progress goes to stderr every second.`

// runSimulate streams simulated (or replayed) vital signs to a server.
func runSimulate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "simulate", simulateSynopsis)
	target := fs.String("target", "", "server: http(s)://host:port, tcp://host:1883 or host:port (required)")
	via := fs.String("via", "http", "transport: http, mqtt or mllp")
	n := fs.Int("patients", 10, "number of patients (with --roster: the first N; 0 = all)")
	token := fs.String("token", "", "bearer token (http) or MQTT password for devices without one in the roster")
	speed := fs.Float64("speed", 1, "simulated seconds per real second")
	duration := fs.Duration("duration", 0, "simulated time to run (0: until interrupted, or the end of --replay)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same readings")
	roster := fs.String("roster", "", "patients, devices and tokens (NDJSON or JSON array of sim.Patient)")
	replay := fs.String("replay", "", "replay recorded readings (NDJSON of vigil.Reading) instead of simulating")
	mix := fs.String("mix", "stable,stable,stable,sepsis,heart-failure,hypoxia", "scenarios generated patients cycle through")
	onset := fs.Duration("onset", 30*time.Minute, "when generated patients start to deteriorate")
	interval := fs.Duration("interval", time.Minute, "interval of heart rate, respiratory rate and SpO2 readings")
	authority := fs.String("authority", "", "assigning authority of PID-3 identifiers (mllp)")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if *target == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if *speed <= 0 {
		return fmt.Errorf("--speed must be positive")
	}
	patients, err := simPatients(*roster, *n, *mix, *onset)
	if err != nil {
		return err
	}

	now := time.Now().UTC()
	var src sim.Source
	if *replay != "" {
		f, err := os.Open(*replay)
		if err != nil {
			return err
		}
		r, err := sim.NewReplay(f)
		f.Close()
		if err != nil {
			return err
		}
		span := r.Span()
		if *duration > 0 {
			span = min(span, *duration)
		}
		r.Shift(simStart(now, span, *speed))
		src = r
		if *roster == "" {
			patients = nil
			for _, d := range r.Devices() {
				patients = append(patients, sim.Patient{ID: d, Device: d, Scenario: sim.Stable})
			}
		}
	} else {
		g, err := sim.New(sim.Config{Patients: patients, Seed: *seed, Start: simStart(now, *duration, *speed), Interval: *interval})
		if err != nil {
			return err
		}
		src = g
	}

	var sink sim.Sink
	switch *via {
	case "http":
		sink, err = sim.NewHTTPSink(*target, *token, patients, nil)
	case "mqtt":
		sink, err = sim.NewMQTTSink(ctx, *target, *token, patients, mqtt.Topics{})
	case "mllp":
		sink = sim.NewMLLPSink(strings.TrimPrefix(*target, "mllp://"), *authority, patients, nil)
	default:
		return fmt.Errorf("--via %q: want http, mqtt or mllp", *via)
	}
	if err != nil {
		return err
	}
	defer sink.Close()

	fmt.Fprintf(env.Stderr, "simulating %d patients via %s to %s (speed %g, simulated start %s)\n",
		len(patients), *via, *target, *speed, src.Start().Format(time.RFC3339))
	var last sim.Progress
	runner := &sim.Runner{Source: src, Sink: sink, Speed: *speed, Duration: *duration,
		Report: func(p sim.Progress) {
			rate := 0.0
			if dt := (p.Elapsed - last.Elapsed).Seconds(); dt > 0 {
				rate = float64(p.Sent-last.Sent) / dt
			}
			fmt.Fprintf(env.Stderr, "sim %s  sent %d (%.0f/s)  rejected %d  failed %d%s\n",
				p.Sim.Format(time.RFC3339), p.Sent, rate, p.Rejected, p.Failed, errSuffix(p.LastErr, last.LastErr))
			last = p
		}}
	p, err := runner.Run(ctx)
	fmt.Fprintf(env.Stderr, "done: %d readings sent in %s, %d rejected, %d failed\n", p.Sent, p.Elapsed.Round(time.Millisecond), p.Rejected, p.Failed)
	return err
}

// simStart is the simulated start time: now, or earlier when simulated time
// runs faster than real time, so that the run ends at the real "now".
func simStart(now time.Time, duration time.Duration, speed float64) time.Time {
	if speed <= 1 || duration <= 0 {
		return now
	}
	return now.Add(-duration + time.Duration(float64(duration)/speed))
}

func errSuffix(err, prev error) string {
	if err == nil || err == prev {
		return ""
	}
	return "  last error: " + err.Error()
}

// simPatients reads the roster, or makes n patients cycling through mix.
func simPatients(roster string, n int, mix string, onset time.Duration) ([]sim.Patient, error) {
	if roster != "" {
		data, err := os.ReadFile(roster)
		if err != nil {
			return nil, err
		}
		ps, err := parseRoster(data)
		if err != nil {
			return nil, fmt.Errorf("roster %s: %w", roster, err)
		}
		if n > 0 && n < len(ps) {
			ps = ps[:n]
		}
		return ps, nil
	}
	if n <= 0 {
		return nil, errors.New("--patients must be positive")
	}
	var scen []sim.Scenario
	for _, name := range strings.Split(mix, ",") {
		s, err := sim.ParseScenario(strings.TrimSpace(name))
		if err != nil {
			return nil, fmt.Errorf("--mix: %w", err)
		}
		scen = append(scen, s)
	}
	ps := make([]sim.Patient, n)
	for i := range ps {
		ps[i] = sim.Patient{ID: fmt.Sprintf("sim-patient-%04d", i+1), Device: fmt.Sprintf("sim-device-%04d", i+1),
			Scenario: scen[i%len(scen)], Onset: sim.Duration(onset)}
	}
	return ps, nil
}

// parseRoster reads a JSON array or NDJSON of sim.Patient, strictly.
func parseRoster(data []byte) ([]sim.Patient, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ps []sim.Patient
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		if err := dec.Decode(&ps); err != nil {
			return nil, err
		}
	} else {
		for {
			var p sim.Patient
			if err := dec.Decode(&p); err == io.EOF {
				break
			} else if err != nil {
				return nil, fmt.Errorf("entry %d: %w", len(ps)+1, err)
			}
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil, errors.New("no patients")
	}
	for i, p := range ps {
		if p.Scenario == sim.ScenarioUnknown {
			ps[i].Scenario = sim.Stable
		}
	}
	return ps, nil
}
