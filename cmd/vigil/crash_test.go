package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
)

// TestCrashKeepsAcknowledgedReadings runs the real binary, streams
// readings, kills it with SIGKILL mid-stream, and checks after a restart
// that every reading the server acknowledged is stored, and that the
// senders' retries store nothing twice. The senders are four devices, each
// posting runs of its own readings (stored in the sample table directly),
// or four gateways, each posting one reading of each of 20 devices per
// batch (stored in the sample log, merged into blocks: sqlite/SAMPLES.md).
func TestCrashKeepsAcknowledgedReadings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, gateway := range []bool{false, true} {
		t.Run(map[bool]string{false: "devices", true: "gateways"}[gateway], func(t *testing.T) { crashKeepsReadings(t, gateway) })
	}
}

func crashKeepsReadings(t *testing.T, gateway bool) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "vigil")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	bundle := filepath.Join(dir, "b.json")
	// Devices d0…d79 of patients p0…p79: device senders use d0…d3;
	// gateway g sends for d(20g)…d(20g+19).
	const perGateway = 20
	var entries []string
	for i := range 4 * perGateway {
		entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Patient","id":"p%d"},"request":{"method":"PUT","url":"Patient/p%d"}}`, i, i),
			fmt.Sprintf(`{"resource":{"resourceType":"Device","id":"d%d","patient":{"reference":"Patient/p%d"}},"request":{"method":"PUT","url":"Device/d%d"}}`, i, i, i))
	}
	if err := os.WriteFile(bundle, []byte(`{"resourceType":"Bundle","type":"transaction","entry":[`+strings.Join(entries, ",")+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("vigil %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	run("import", "--quiet", "--data", data, bundle)
	tokens := make([]string, 4)
	for i := range tokens {
		if gateway {
			run("user", "add", "--data", data, "--username", fmt.Sprintf("gw%d", i), "--role", "service", "--scope", "system/Observation.write")
			tokens[i] = run("token", "issue", "--data", data, "--username", fmt.Sprintf("gw%d", i))
			continue
		}
		run("user", "add", "--data", data, "--username", fmt.Sprintf("dev%d", i), "--role", "device", "--device", fmt.Sprintf("d%d", i))
		tokens[i] = run("token", "issue", "--data", data, "--username", fmt.Sprintf("dev%d", i))
	}
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", data)
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("server output: %v", err)
		}
		i := strings.Index(line, "http://")
		url := strings.TrimSuffix(strings.TrimSpace(line[i:]), "/fhir")
		return cmd, url
	}
	cmd, url := start()
	base := time.Now().Add(-7 * 24 * time.Hour).Truncate(time.Second) // far enough back for any number of batches in 1.5 s
	batchOf := func(dev, n int) []byte {
		var items []string
		for k := range 20 {
			if gateway {
				// One reading of each of the gateway's devices.
				ts := base.Add(time.Duration(n) * time.Second).Format(time.RFC3339)
				items = append(items, fmt.Sprintf(`{"device":"d%d","code":"8867-4","time":%q,"value":%d,"unit":"/min"}`, dev*perGateway+k, ts, 60+k))
				continue
			}
			ts := base.Add(time.Duration(n*20+k) * time.Second).Format(time.RFC3339)
			items = append(items, fmt.Sprintf(`{"code":"8867-4","time":%q,"value":%d,"unit":"/min"}`, ts, 60+k))
		}
		return []byte("[" + strings.Join(items, ",") + "]")
	}
	post := func(url string, dev, n int) (map[string]any, error) {
		req, _ := http.NewRequest("POST", url+"/api/v1/ingest", bytes.NewReader(batchOf(dev, n)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokens[dev])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("status %d", resp.StatusCode)
		}
		var m map[string]any
		return m, json.NewDecoder(resp.Body).Decode(&m)
	}
	var mu sync.Mutex
	acked := map[int]int{} // device → acknowledged batches (in order)
	var wg sync.WaitGroup
	for dev := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				if _, err := post(url, dev, n); err != nil {
					return // the server died
				}
				mu.Lock()
				acked[dev] = n + 1
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	wg.Wait()
	total := 0
	for _, n := range acked {
		total += n
	}
	if total == 0 {
		t.Fatal("no batch was acknowledged before the kill")
	}
	t.Logf("acknowledged batches before SIGKILL: %v", acked)

	// Restart; every device retries its last acknowledged batch and the one
	// in flight: all acknowledged readings are there, none twice.
	cmd, url = start()
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	for dev, n := range acked {
		m, err := post(url, dev, n-1)
		if err != nil {
			t.Fatal(err)
		}
		if m["duplicate"] != float64(20) {
			t.Errorf("device %d: retry of an acknowledged batch: %v", dev, m)
		}
		if _, err := post(url, dev, n); err != nil {
			t.Fatal(err)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	s, err := sqlite.OpenSamples(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for dev, n := range acked {
		if gateway {
			// Each of the gateway's devices: one reading per acknowledged
			// batch, plus the retried in-flight one.
			for k := range perGateway {
				p := fmt.Sprintf("p%d", dev*perGateway+k)
				got, err := s.QuerySamples(context.Background(), &vigil.SampleQuery{Patient: p, Limit: 100000})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != n+1 {
					t.Errorf("gateway %d, %s: %d samples stored, want %d (acknowledged %d batches + 1 retried)", dev, p, len(got), n+1, n)
				}
			}
			continue
		}
		got, err := s.QuerySamples(context.Background(), &vigil.SampleQuery{Patient: fmt.Sprintf("p%d", dev), Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		// Acknowledged batches plus the retried in-flight one.
		if want := (n + 1) * 20; len(got) != want {
			t.Errorf("device %d: %d samples stored, want %d (acknowledged %d batches + 1 retried)", dev, len(got), want, n)
		}
	}
}
