package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// maxLabelBody bounds the body of POST /api/v1/patients/{id}/ecg/labels,
// and maxLabelItems its labels.
const (
	maxLabelBody  = 256 << 10
	maxLabelItems = 1000
)

// labelItem is one answer of a labels request, parsed and checked: about
// one beat (Time, Code optional) or about one finding (Finding).
type labelItem struct {
	Time    time.Time
	Code    string
	Finding string
	Action  string
	Label   string
}

// labelRequest is the JSON body of POST …/ecg/labels:
//
//	{"labels":[{"time":"2026-11-25T08:03:12.345Z","code":"131330","action":"relabel","label":"N"},
//	           {"finding":"ecg-…","action":"confirm"}]}
type labelRequest struct {
	Labels []struct {
		Time    *string `json:"time"`
		Code    string  `json:"code"`
		Finding string  `json:"finding"`
		Action  string  `json:"action"`
		Label   string  `json:"label"`
	} `json:"labels"`
}

// parseLabels decodes and checks a labels request body (its size is
// bounded by the caller). Errors wrap vigil.ErrInvalid with a message safe
// to show that names the offending label by its index; unknown fields,
// classes and actions are refused, never mapped to a default.
func parseLabels(body []byte) ([]labelItem, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req labelRequest
	if err := dec.Decode(&req); err != nil {
		return nil, vigil.Errorf(vigil.ErrInvalid, "malformed labels body: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, vigil.Errorf(vigil.ErrInvalid, "malformed labels body: trailing data")
	}
	switch {
	case len(req.Labels) == 0:
		return nil, vigil.Errorf(vigil.ErrInvalid, "labels: give at least one label")
	case len(req.Labels) > maxLabelItems:
		return nil, vigil.Errorf(vigil.ErrInvalid, "labels: at most %d labels per request", maxLabelItems)
	}
	out := make([]labelItem, len(req.Labels))
	for i, l := range req.Labels {
		it := labelItem{Code: l.Code, Finding: l.Finding, Action: l.Action, Label: l.Label}
		switch {
		case (l.Time == nil) == (l.Finding == ""):
			return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: give either the time of a beat or a finding id", i)
		case l.Time != nil:
			t, err := time.Parse(time.RFC3339Nano, *l.Time)
			if err != nil || t.Year() < 1900 || t.Year() > 9999 {
				return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: time must be an RFC 3339 time", i)
			}
			it.Time = t.UTC()
		case l.Code != "":
			return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: a finding names its lead; give no code", i)
		}
		if len(l.Finding) > 64 || len(l.Code) > 64 || strings.ContainsAny(l.Finding+l.Code, "\x00\n") {
			return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: finding id or code too long or malformed", i)
		}
		switch l.Action {
		case vigil.LabelConfirm, vigil.LabelReject:
			if l.Label != "" {
				return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: %s takes no class (relabel to give one)", i, l.Action)
			}
		case vigil.LabelRelabel:
			if !vigil.ValidBeatClass(l.Label) {
				return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: class must be one of N, S, V, F, Q", i)
			}
		default:
			return nil, vigil.Errorf(vigil.ErrInvalid, "label %d: action must be confirm, reject or relabel", i)
		}
		out[i] = it
	}
	return out, nil
}
