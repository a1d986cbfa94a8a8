package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/monitor"
)

// Visibility answers which patients the caller may see (package access).
type Visibility interface {
	Visible(ctx context.Context) (all bool, patients []string, err error)
	SeesPatient(ctx context.Context, patient string) (bool, error)
}

// MonitorConfig wires the remote-monitoring JSON API (/api/v1, see
// docs/api.md). Fields left nil disable their endpoints.
type MonitorConfig struct {
	Ingest     vigil.Ingester
	Monitor    *monitor.Monitor
	Access     Visibility
	Alerts     *alert.Engine
	AlertStore vigil.AlertStore
	Hub        *alert.Hub
	// Beats and BeatLabels serve the ECG viewer's beats, the ECG findings
	// and the clinicians' labels (ecg.go).
	Beats      vigil.BeatStore
	BeatLabels vigil.BeatLabelStore
}

func (s *Server) monitorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/ingest", s.ingest)
	mux.HandleFunc("GET /api/v1/patients/{id}/news2", s.news2)
	mux.HandleFunc("GET /api/v1/worklist", s.worklist)
	s.alertRoutes(mux)
	s.ecgRoutes(mux)
}

// maxIngestItems bounds one HTTP batch (the body limit bounds it too).
const maxIngestItems = 10000

// decodeReadings splits a JSON array (or single object) or an NDJSON body
// into readings; an item that does not decode becomes a rejection text
// and the others go on.
func decodeReadings(ct string, body []byte) ([]vigil.Reading, []string, error) {
	var raws []json.RawMessage
	switch ct {
	case "application/x-ndjson", "application/ndjson":
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 0, 64<<10), len(body)+1)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			raws = append(raws, json.RawMessage(slices.Clone(line)))
		}
		if err := sc.Err(); err != nil {
			return nil, nil, vigil.Errorf(vigil.ErrInvalid, "malformed NDJSON body")
		}
	case "application/json":
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) > 0 && trimmed[0] == '[' {
			// Fast path, one pass: an array of well-formed readings (the
			// usual case). Anything wrong in it, and the items are decoded
			// one by one below, to answer each.
			if items, ok := decodeArray(trimmed); ok {
				return items, make([]string, len(items)), nil
			}
		}
		if len(trimmed) > 0 && trimmed[0] == '{' {
			raws = []json.RawMessage{trimmed}
		} else if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, nil, vigil.Errorf(vigil.ErrInvalid, "the body must be a JSON array of readings, one reading, or NDJSON")
		}
	default:
		return nil, nil, errUnsupportedMedia
	}
	if len(raws) > maxIngestItems {
		return nil, nil, vigil.Errorf(vigil.ErrTooLarge, "a batch holds at most %d readings", maxIngestItems)
	}
	items := make([]vigil.Reading, len(raws))
	bad := make([]string, len(raws))
	for i, raw := range raws {
		items[i], bad[i] = decodeItem(raw)
	}
	return items, bad, nil
}

// decodeItem decodes one reading strictly; the string says what is wrong
// with it ("" when nothing).
func decodeItem(raw []byte) (vigil.Reading, string) {
	var r vigil.Reading
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return vigil.Reading{}, "malformed reading: " + jsonProblem(err)
	}
	if dec.More() {
		return r, "malformed reading: trailing data"
	}
	return r, ""
}

// decodeArray decodes a JSON array of readings strictly (no unknown
// fields, nothing after it) in one pass; false when anything in it is
// wrong or it holds more than maxIngestItems readings.
func decodeArray(body []byte) ([]vigil.Reading, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var items []vigil.Reading
	if err := dec.Decode(&items); err != nil || dec.More() || len(items) > maxIngestItems {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return items, true
}

// jsonProblem describes a decoding error without echoing values.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case asType(err, &te):
		return "field " + te.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "not valid JSON"
}

func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionCreate, Type: "Observation", RequestID: RequestID(r.Context()), Source: r.RemoteAddr}
	if s.cfg.Monitor.Ingest == nil {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "ingestion is not configured"))
		return
	}
	if err := s.requirePrincipal(r); err != nil {
		a.Err = err
		s.audit(r, a)
		s.unauthorized(w, r, err)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		s.bodyError(w, r, errUnsupportedMedia)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, bad, err := decodeReadings(mt, body)
	if err != nil {
		s.bodyError(w, r, err)
		return
	}
	// Items that did not decode are left out of the batch and answered
	// in place.
	var good []vigil.Reading
	var idx []int
	for i := range items {
		if bad[i] == "" {
			good = append(good, items[i])
			idx = append(idx, i)
		}
	}
	res, err := s.cfg.Monitor.Ingest.Ingest(r.Context(), "http", good)
	if err != nil {
		a.Err = err
		s.audit(r, a)
		s.fail(w, r, err)
		return
	}
	out := make([]vigil.ItemResult, len(items))
	counts := map[vigil.ItemStatus]int{}
	for i := range items {
		out[i] = vigil.ItemResult{Index: i, Status: vigil.ItemRejected, Error: bad[i]}
	}
	for k, rr := range res {
		rr.Index = idx[k]
		out[idx[k]] = rr
	}
	patients := map[string]bool{}
	for i := range out {
		counts[out[i].Status]++
		if out[i].Status != vigil.ItemRejected && out[i].Patient != "" {
			patients[out[i].Patient] = true
		}
	}
	// The record names the patients (as MQTT and HL7 batches do); readings
	// are not FHIR resources of their own to list.
	for p := range patients {
		vigil.PatientLogFrom(r.Context()).Note(p)
	}
	if err := s.audit(r, a); err != nil {
		// The readings are stored; say so, but flag the audit failure.
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out, "stored": counts[vigil.ItemStored],
		"duplicate": counts[vigil.ItemDuplicate], "rejected": counts[vigil.ItemRejected]})
}

// seesPatient answers 401/404 unless the caller may see the patient; a
// patient the caller may not see is "not found".
func (s *Server) seesPatient(w http.ResponseWriter, r *http.Request, patient string) bool {
	if err := s.requirePrincipal(r); err != nil {
		s.unauthorized(w, r, err)
		return false
	}
	if s.cfg.Monitor.Access == nil {
		return true
	}
	ok, err := s.cfg.Monitor.Access.SeesPatient(r.Context(), patient)
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	if !ok {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "patient not found"))
		return false
	}
	return true
}

func (s *Server) news2(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a := &Access{Action: ActionRead, Type: "Patient", ID: id, RequestID: RequestID(r.Context()), Source: r.RemoteAddr}
	if s.cfg.Monitor.Monitor == nil {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "monitoring is not configured"))
		return
	}
	if !s.seesPatient(w, r, id) {
		a.Err = vigil.ErrForbidden
		s.audit(r, a)
		return
	}
	res, ok, err := s.cfg.Monitor.Monitor.NEWS2(r.Context(), id)
	a.Err, a.Touched = err, []string{"Patient/" + id}
	vigil.PatientLogFrom(r.Context()).Note(id)
	if aerr := s.audit(r, a); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "no NEWS2 parameter has been recorded for this patient"))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// visibleFilter returns the caller's patient filter.
func (s *Server) visibleFilter(w http.ResponseWriter, r *http.Request) (func(string) bool, bool) {
	if err := s.requirePrincipal(r); err != nil {
		s.unauthorized(w, r, err)
		return nil, false
	}
	if s.cfg.Monitor.Access == nil {
		return func(string) bool { return true }, true
	}
	all, ids, err := s.cfg.Monitor.Access.Visible(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return func(p string) bool {
		if all {
			return true
		}
		_, ok := slices.BinarySearch(ids, p)
		return ok
	}, true
}

func (s *Server) worklist(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Monitor.Monitor == nil {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "monitoring is not configured"))
		return
	}
	visible, ok := s.visibleFilter(w, r)
	if !ok {
		return
	}
	// A clinician's worklist lists every patient of their care teams, also
	// those with no reading since the server started: their state is built
	// from the store on first sight.
	if s.cfg.Monitor.Access != nil {
		all, ids, err := s.cfg.Monitor.Access.Visible(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !all {
			for _, id := range ids {
				if _, _, err := s.cfg.Monitor.Monitor.NEWS2(r.Context(), id); err != nil {
					s.fail(w, r, err)
					return
				}
			}
		}
	}
	entries := s.cfg.Monitor.Monitor.Worklist(visible)
	a := &Access{Action: ActionSearch, Type: "Patient", RequestID: RequestID(r.Context()), Source: r.RemoteAddr}
	type row struct {
		monitor.Entry
		OpenAlerts int `json:"open_alerts"`
	}
	rows := make([]row, len(entries))
	for i, e := range entries {
		rows[i].Entry = e
		a.Touched = append(a.Touched, "Patient/"+e.Patient)
		vigil.PatientLogFrom(r.Context()).Note(e.Patient)
		if s.cfg.Monitor.AlertStore != nil {
			list, _, err := s.cfg.Monitor.AlertStore.ListAlerts(r.Context(), &vigil.AlertQuery{Patient: e.Patient,
				Status: []vigil.AlertStatus{vigil.AlertOpen, vigil.AlertAcknowledged}, Limit: 1000})
			if err != nil {
				s.fail(w, r, err)
				return
			}
			rows[i].OpenAlerts = len(list)
		}
	}
	// Risk first: NEWS2, then open alerts.
	slices.SortStableFunc(rows, func(x, y row) int {
		if x.Score != y.Score {
			return y.Score - x.Score
		}
		return y.OpenAlerts - x.OpenAlerts
	})
	if err := s.audit(r, a); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rows)
}
