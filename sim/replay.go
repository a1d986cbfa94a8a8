package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
)

// Replay is a Source that plays recorded readings back: NDJSON of
// vigil.Reading, one per line, each with a "time" (or, for a waveform
// chunk, a "start").
type Replay struct {
	rs    []vigil.Reading
	next  int
	start time.Time
}

// maxReplayLine bounds one NDJSON line (a waveform chunk can be long).
const maxReplayLine = 16 << 20

// NewReplay reads every reading from r and orders them by time. Readings
// without a device or patient, without a time, and lines with unknown
// fields are errors naming the line.
func NewReplay(r io.Reader) (*Replay, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxReplayLine)
	var rs []vigil.Reading
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var rd vigil.Reading
		if err := dec.Decode(&rd); err != nil {
			return nil, fmt.Errorf("replay line %d: %w", line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("replay line %d: more than one value", line)
		}
		if rd.Device == "" && rd.Patient == "" {
			return nil, fmt.Errorf("replay line %d: no device or patient", line)
		}
		if readingTime(rd).IsZero() {
			return nil, fmt.Errorf("replay line %d: no time", line)
		}
		rs = append(rs, rd)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("replay: no readings")
	}
	slices.SortStableFunc(rs, func(a, b vigil.Reading) int { return readingTime(a).Compare(readingTime(b)) })
	return &Replay{rs: rs, start: readingTime(rs[0])}, nil
}

// Shift moves every time so that the first reading falls at to (a
// recording then plays as if it were happening now). Call it before Until.
func (p *Replay) Shift(to time.Time) {
	d := to.Sub(p.start)
	for i := range p.rs {
		r := &p.rs[i]
		if r.Time != nil {
			t := r.Time.Add(d)
			r.Time = &t
		}
		if r.Start != nil {
			t := r.Start.Add(d)
			r.Start = &t
		}
	}
	p.start = to
}

// Span is the time from the first reading to the last.
func (p *Replay) Span() time.Duration { return readingTime(p.rs[len(p.rs)-1]).Sub(p.start) }

func readingTime(r vigil.Reading) time.Time {
	if r.Time != nil {
		return *r.Time
	}
	if r.Start != nil {
		return *r.Start
	}
	return time.Time{}
}

// Start returns the time of the first reading (after the shift).
func (p *Replay) Start() time.Time { return p.start }

// Until returns the readings up to t not returned yet.
func (p *Replay) Until(t time.Time) []vigil.Reading {
	i := p.next
	for p.next < len(p.rs) && !readingTime(p.rs[p.next]).After(t) {
		p.next++
	}
	return p.rs[i:p.next]
}

// Done reports whether every reading has been returned.
func (p *Replay) Done() bool { return p.next == len(p.rs) }

// Devices returns the distinct devices of the recording, in order of
// first appearance.
func (p *Replay) Devices() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range p.rs {
		if r.Device != "" && !seen[r.Device] {
			seen[r.Device] = true
			out = append(out, r.Device)
		}
	}
	return out
}
