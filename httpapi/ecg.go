package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/vigilhealth/vigil"
)

// labelWindow is how far from a stored beat the time of a beat label may
// be: the ANSI/AAMI EC57 beat-matching window.
const labelWindow = 150 * time.Millisecond

// Defaults of GET …/ecg/beats.
const (
	defaultBeatWindow = time.Hour
	defaultBeatLimit  = 20000
)

func (s *Server) ecgRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/patients/{id}/ecg/beats", s.ecgBeats)
	mux.HandleFunc("GET /api/v1/patients/{id}/ecg/findings", s.ecgFindings)
	mux.HandleFunc("GET /api/v1/patients/{id}/ecg/labels", s.ecgLabels)
	mux.HandleFunc("POST /api/v1/patients/{id}/ecg/labels", s.postECGLabels)
}

// beatJSON is a beat as the API shows it.
type beatJSON struct {
	Time   time.Time `json:"time"`
	Class  string    `json:"class"`
	RRMs   int64     `json:"rr_ms,omitempty"`
	Code   string    `json:"code"`
	Device string    `json:"device,omitempty"`
	Model  string    `json:"model"`
}

// ecgRead checks a read of a patient's ECG data: configured, a caller who
// sees the patient (404 otherwise, audited as denied). It returns the
// access to audit on success.
func (s *Server) ecgRead(w http.ResponseWriter, r *http.Request, configured bool) (*Access, bool) {
	id := r.PathValue("id")
	a := &Access{Action: ActionSearch, Type: "Observation", Compartment: "Patient/" + id, RequestID: RequestID(r.Context()), Source: r.RemoteAddr}
	if !configured {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "ECG beats are not configured"))
		return nil, false
	}
	if !s.seesPatient(w, r, id) {
		a.Err = vigil.ErrForbidden
		s.audit(r, a)
		return nil, false
	}
	return a, true
}

// finishRead audits a read of patient id's data and answers v, or err.
func (s *Server) finishRead(w http.ResponseWriter, r *http.Request, a *Access, err error, v any) {
	id := r.PathValue("id")
	a.Err, a.Touched = err, []string{"Patient/" + id}
	vigil.PatientLogFrom(r.Context()).Note(id)
	if aerr := s.audit(r, a); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// timeParam reads an RFC 3339 query parameter; zero when absent.
// rangeParams parses the time bounds named start and end (zero when
// absent) and the limit (default def, at most max) of a listing.
func rangeParams(r *http.Request, start, end string, def, max int) (from, to time.Time, limit int, err error) {
	if from, err = timeParam(r, start); err != nil {
		return
	}
	if to, err = timeParam(r, end); err != nil {
		return
	}
	limit, err = limitParam(r, def, max)
	return
}

func timeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, vigil.Errorf(vigil.ErrInvalid, "%s must be an RFC 3339 time", name)
	}
	return t.UTC(), nil
}

// limitParam reads limit (1 to max); def when absent.
func limitParam(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, vigil.Errorf(vigil.ErrInvalid, "limit must be a number from 1 to %d", max)
	}
	return n, nil
}

// ecgBeats answers GET /api/v1/patients/{id}/ecg/beats?from=&to=&code=&limit=:
// the classified beats of [from, to) (default: the hour before to, to
// default now), oldest first.
func (s *Server) ecgBeats(w http.ResponseWriter, r *http.Request) {
	a, ok := s.ecgRead(w, r, s.cfg.Monitor.Beats != nil)
	if !ok {
		return
	}
	from, to, limit, err := rangeParams(r, "from", "to", defaultBeatLimit, vigil.BeatLimit)
	if err != nil {
		s.finishRead(w, r, a, err, nil)
		return
	}
	if to.IsZero() {
		to = time.Now().UTC()
	}
	if from.IsZero() {
		from = to.Add(-defaultBeatWindow)
	}
	if !from.Before(to) {
		s.finishRead(w, r, a, vigil.Errorf(vigil.ErrInvalid, "from must be before to"), nil)
		return
	}
	q := &vigil.BeatQuery{Patient: r.PathValue("id"), Code: r.URL.Query().Get("code"), From: from, To: to, Limit: limit + 1}
	beats, err := s.cfg.Monitor.Beats.QueryBeats(r.Context(), q)
	out := struct {
		From      time.Time  `json:"from"`
		To        time.Time  `json:"to"`
		Beats     []beatJSON `json:"beats"`
		Truncated bool       `json:"truncated"`
	}{From: from, To: to, Beats: make([]beatJSON, 0, len(beats))}
	if len(beats) > limit {
		beats, out.Truncated = beats[:limit], true
	}
	for _, b := range beats {
		out.Beats = append(out.Beats, beatJSON{Time: b.Time, Class: b.Class, RRMs: b.RR.Milliseconds(), Code: b.Code, Device: b.Device, Model: b.Model})
	}
	s.finishRead(w, r, a, err, out)
}

// ecgFindings answers GET /api/v1/patients/{id}/ecg/findings?from=&to=&kind=&limit=:
// findings whose start is in [from, to), newest first.
func (s *Server) ecgFindings(w http.ResponseWriter, r *http.Request) {
	a, ok := s.ecgRead(w, r, s.cfg.Monitor.Beats != nil)
	if !ok {
		return
	}
	from, to, limit, err := rangeParams(r, "from", "to", 100, vigil.FindingLimit)
	if err != nil {
		s.finishRead(w, r, a, err, nil)
		return
	}
	fs, err := s.cfg.Monitor.Beats.ECGFindings(r.Context(), &vigil.ECGFindingQuery{Patient: r.PathValue("id"), From: from, To: to,
		Kind: r.URL.Query().Get("kind"), Limit: limit})
	s.finishRead(w, r, a, err, map[string]any{"findings": fs})
}

// ecgLabels answers GET /api/v1/patients/{id}/ecg/labels?since=&until=&limit=:
// the clinicians' labels of the patient's beats, oldest first.
func (s *Server) ecgLabels(w http.ResponseWriter, r *http.Request) {
	a, ok := s.ecgRead(w, r, s.cfg.Monitor.BeatLabels != nil)
	if !ok {
		return
	}
	since, until, limit, err := rangeParams(r, "since", "until", 1000, 10000)
	if err != nil {
		s.finishRead(w, r, a, err, nil)
		return
	}
	ls, err := s.cfg.Monitor.BeatLabels.BeatLabels(r.Context(), vigil.BeatLabelQuery{Patient: r.PathValue("id"), Since: since, Until: until, Limit: limit})
	s.finishRead(w, r, a, err, map[string]any{"labels": ls})
}

// postECGLabels answers POST /api/v1/patients/{id}/ecg/labels: a
// clinician who may see the patient confirms, rejects or relabels beats
// (by time, matched to the stored beat within 150 ms) or findings (each
// of the finding's beats is labelled). The labels record who (the
// account), when, the class suggested and the model that suggested it.
// Only clinicians label: patients, devices, services and admins (even
// with break-the-glass, which is for reading) get 403. Bad input gets 400
// and stores nothing.
func (s *Server) postECGLabels(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a := &Access{Action: ActionCreate, Type: "Observation", Compartment: "Patient/" + id, RequestID: RequestID(r.Context()), Source: r.RemoteAddr}
	if s.cfg.Monitor.BeatLabels == nil || s.cfg.Monitor.Beats == nil {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "ECG labels are not configured"))
		return
	}
	if !s.seesPatient(w, r, id) {
		a.Err = vigil.ErrForbidden
		s.audit(r, a)
		return
	}
	p := vigil.PrincipalFrom(r.Context())
	if s.cfg.Auth != nil && (p == nil || p.Role != vigil.RoleClinician) {
		err := vigil.Errorf(vigil.ErrForbidden, "only clinicians label beats")
		a.Err = err
		s.audit(r, a)
		s.fail(w, r, err)
		return
	}
	// Refused bodies are audited as failed writes, like the rest.
	refuse := func(err error) {
		a.Err, a.Touched = err, []string{"Patient/" + id}
		vigil.PatientLogFrom(r.Context()).Note(id)
		if aerr := s.audit(r, a); aerr != nil {
			err = aerr
		}
		s.bodyError(w, r, err)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		refuse(errUnsupportedMedia)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLabelBody+1))
	if err != nil {
		refuse(err)
		return
	}
	if len(body) > maxLabelBody {
		refuse(vigil.Errorf(vigil.ErrInvalid, "the labels body exceeds %d bytes; send at most %d labels per request", maxLabelBody, maxLabelItems))
		return
	}
	items, err := parseLabels(body)
	if err != nil {
		refuse(err)
		return
	}
	by := "anonymous"
	if p != nil {
		by = p.AccountID
	}
	labels, err := s.resolveLabels(r, id, by, items)
	if err == nil {
		err = s.cfg.Monitor.BeatLabels.AddBeatLabels(r.Context(), labels)
	}
	a.Err, a.Touched = err, []string{"Patient/" + id}
	vigil.PatientLogFrom(r.Context()).Note(id)
	if aerr := s.audit(r, a); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if m := s.cfg.Monitor.Monitor; m != nil {
		m.LabelsChanged(id)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"stored": len(labels), "labels": labels})
}

// resolveLabels turns parsed answers into labels: a beat answer is
// matched to the nearest stored beat within labelWindow of its time (of
// its lead when it names one), a finding answer to each beat the finding
// shows. The class and model a label answers are the stored beat's.
func (s *Server) resolveLabels(r *http.Request, patient, by string, items []labelItem) ([]vigil.BeatLabel, error) {
	ctx := r.Context()
	now := time.Now().UTC()
	var out []vigil.BeatLabel
	add := func(b *vigil.Beat, it *labelItem, finding string) {
		l := vigil.BeatLabel{Patient: patient, Code: b.Code, Time: b.Time, Suggested: b.Class, Action: it.Action, Model: b.Model,
			Finding: finding, By: by, At: now}
		switch it.Action {
		case vigil.LabelConfirm:
			l.Label = b.Class
		case vigil.LabelRelabel:
			l.Label = it.Label
			if l.Label == l.Suggested {
				l.Action = vigil.LabelConfirm // the beat has that class already
			}
		}
		out = append(out, l)
	}
	for i := range items {
		it := &items[i]
		if it.Finding == "" {
			beats, err := s.cfg.Monitor.Beats.QueryBeats(ctx, &vigil.BeatQuery{Patient: patient, Code: it.Code,
				From: it.Time.Add(-labelWindow), To: it.Time.Add(labelWindow + time.Millisecond)})
			if err != nil {
				return nil, err
			}
			var best *vigil.Beat
			for k := range beats {
				if d := beats[k].Time.Sub(it.Time).Abs(); d <= labelWindow && (best == nil || d < best.Time.Sub(it.Time).Abs()) {
					best = &beats[k]
				}
			}
			if best == nil {
				return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: no stored beat within 150 ms of its time", i)
			}
			if it.Action == vigil.LabelRelabel && it.Label == best.Class {
				return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: the beat is %s already; confirm it instead", i, it.Label)
			}
			add(best, it, "")
			continue
		}
		f, err := s.cfg.Monitor.Beats.ECGFinding(ctx, patient, it.Finding)
		if err != nil {
			if errors.Is(err, vigil.ErrNotFound) {
				return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: no such finding for this patient", i)
			}
			return nil, err
		}
		if len(f.Evidence) == 0 {
			return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: the finding shows no beats to label (a rhythm finding)", i)
		}
		for _, t := range f.Evidence {
			beats, err := s.cfg.Monitor.Beats.QueryBeats(ctx, &vigil.BeatQuery{Patient: patient, Code: f.Code, From: t, To: t.Add(time.Millisecond)})
			if err != nil {
				return nil, err
			}
			for k := range beats {
				if beats[k].Device == f.Device {
					add(&beats[k], it, f.ID)
					break
				}
			}
		}
	}
	if len(out) > vigil.MaxBeatLabels {
		return nil, vigil.Errorf(vigil.ErrInvalid, "labels: the answers name more than %d beats", vigil.MaxBeatLabels)
	}
	return out, nil
}
