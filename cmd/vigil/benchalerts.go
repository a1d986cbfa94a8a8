package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// benchAlerts streams every patient's vital signs at one reading per
// second per parameter (heart rate, respiratory rate, SpO2, temperature)
// and, each second, makes a few patients' SpO2 fall to 80 % (NEWS2 single
// red score: a new alert). It measures the alert latency the issue names:
// from the ingest request that carried the reading being acknowledged to
// the alert event reaching a live subscriber (Server-Sent Events).
func benchAlerts(ctx context.Context, env *Env, client *http.Client, base string, patients int, d time.Duration, perSecond int) error {
	ctx, cancel := context.WithTimeout(ctx, d+10*time.Second)
	defer cancel()
	// The live subscriber.
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/alerts/stream", nil)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("alert stream: status %d", resp.StatusCode)
	}
	var mu sync.Mutex
	acked := map[string]time.Time{}  // patient → when its red reading was acknowledged
	posted := map[string]time.Time{} // patient → when the request carrying it was sent
	seen := map[string]time.Time{}   // patient → when its first NEWS2 alert event arrived
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "data: {") {
				continue
			}
			now := time.Now()
			var ev struct {
				Type  string `json:"type"`
				Alert struct {
					Patient string `json:"patient"`
					Rule    string `json:"rule"`
				} `json:"alert"`
			}
			if json.Unmarshal([]byte(line[len("data: "):]), &ev) != nil || ev.Alert.Rule != "news2" || ev.Type != "created" {
				continue
			}
			mu.Lock()
			if _, ok := seen[ev.Alert.Patient]; !ok {
				seen[ev.Alert.Patient] = now
			}
			mu.Unlock()
		}
	}()
	codes := []struct {
		code, unit string
		v          float64
	}{{"8867-4", "/min", 72}, {"9279-1", "/min", 16}, {"2708-6", "%", 97}, {"8310-5", "Cel", 36.8}}
	const perRequest = 250 // devices per request
	start := time.Now()
	next := 0 // next patient to deteriorate
	sent := 0
	fmt.Fprintf(env.Stderr, "alerts: %d patients × %d parameters per second for %s\n", patients, len(codes), d)
	for sec := 0; time.Since(start) < d; sec++ {
		tick := start.Add(time.Duration(sec) * time.Second)
		time.Sleep(time.Until(tick))
		ts := time.Now().UTC().Truncate(time.Millisecond)
		red := map[int]bool{}
		for range perSecond {
			red[next%patients] = true
			next++
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for lo := 0; lo < patients; lo += perRequest {
			hi := min(lo+perRequest, patients)
			var b bytes.Buffer
			b.WriteByte('[')
			var reds []string
			for p := lo; p < hi; p++ {
				for k, c := range codes {
					if p > lo || k > 0 {
						b.WriteByte(',')
					}
					v := c.v
					if c.code == "2708-6" && red[p] {
						v = 80
						reds = append(reds, fmt.Sprintf("bench-%d", p))
					}
					fmt.Fprintf(&b, `{"device":"bench-d-%d","code":"%s","time":"%s","value":%g,"unit":"%s"}`, p, c.code, ts.Format(time.RFC3339Nano), v, c.unit)
				}
			}
			b.WriteByte(']')
			sent += (hi - lo) * len(codes)
			sem <- struct{}{}
			wg.Add(1)
			go func(body []byte, reds []string) {
				defer wg.Done()
				defer func() { <-sem }()
				sentAt := time.Now()
				resp, err := client.Post(base+"/api/v1/ingest", "application/json", bytes.NewReader(body))
				if err != nil {
					return
				}
				resp.Body.Close()
				at := time.Now()
				if resp.StatusCode == 200 && len(reds) > 0 {
					mu.Lock()
					for _, p := range reds {
						acked[p], posted[p] = at, sentAt
					}
					mu.Unlock()
				}
			}(b.Bytes(), reds)
		}
		wg.Wait()
		if lag := time.Since(tick); lag > time.Second {
			fmt.Fprintf(env.Stderr, "  second %d took %s (behind real time)\n", sec, lag.Round(time.Millisecond))
		}
	}
	el := time.Since(start)
	time.Sleep(3 * time.Second) // late events
	mu.Lock()
	defer mu.Unlock()
	// The alert is raised while the request is handled, so it usually
	// reaches the subscriber before the device has its acknowledgement:
	// those count as 0.
	var lat, full []time.Duration
	missing := 0
	for p, a := range acked {
		e, ok := seen[p]
		if !ok {
			missing++
			continue
		}
		lat = append(lat, max(0, e.Sub(a)))
		full = append(full, e.Sub(posted[p]))
	}
	slices.Sort(lat)
	slices.Sort(full)
	pctOf := func(l []time.Duration, p float64) time.Duration {
		if len(l) == 0 {
			return 0
		}
		return l[min(len(l)-1, int(float64(len(l))*p))]
	}
	pct := func(p float64) time.Duration { return pctOf(lat, p) }
	fmt.Fprintf(env.Stdout, "alerts: %d readings in %s (%.0f/s), %d alerts measured, %d not delivered; latency p50 %s p99 %s max %s\n",
		sent, el.Round(time.Millisecond), float64(sent)/el.Seconds(), len(lat), missing,
		pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond))
	fmt.Fprintf(env.Stdout, "alerts: from sending the reading to delivery: p50 %s p99 %s max %s\n",
		pctOf(full, 0.5).Round(time.Millisecond), pctOf(full, 0.99).Round(time.Millisecond), pctOf(full, 1).Round(time.Millisecond))
	return nil
}
