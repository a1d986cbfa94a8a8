package records

import (
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sampleobs"
)

// samplePlan is what a search asks of the samples of one patient.
type samplePlan struct {
	patient string
	// none: the search can match no sample (another patient, a code of
	// another system, another category).
	none bool
	// wantSamples and wantWaves say which kinds the category allows.
	wantSamples, wantWaves bool
	// codes restricts samples (nil: all codes); waveCodes are the codes
	// waveform chunks are looked up by (chunks are found only by code).
	codes, waveCodes []string
	codeGiven        bool
	// dates are the date parameters (on effective[x]), updated the
	// _lastUpdated ones (on the received time), ANDed.
	dates, updated []vigil.SearchParam
	// from and to bound the effective time coarsely (zero: open); the
	// parameters are then checked exactly.
	from, to time.Time
	// sortDate: ordered by date (desc: newest first) and merged with the
	// stored resources by their date; otherwise the stored resources come
	// first, then the samples oldest first.
	sortDate, desc bool
}

// systemCategory is the FHIR observation category code system.
const systemCategory = "http://terminology.hl7.org/CodeSystem/observation-category"

// leftOut is the warning of a search whose samples are left out.
func leftOut(why string) vigil.Issue {
	return vigil.Issue{Severity: "warning", Code: "not-supported",
		Message: "device samples are not included in this result: " + why}
}

// planSamples decides how the samples of a patient take part in q. A nil
// plan means they do not: either q names no single patient (no issue) or
// it uses what the sample layer cannot evaluate (the issue says what).
func planSamples(q *vigil.SearchQuery) (*samplePlan, []vigil.Issue) {
	if q.Type != "Observation" && !(q.Type == "" && q.Compartment != nil) {
		return nil, nil
	}
	p := &samplePlan{wantSamples: true, wantWaves: true}
	var why string
	setPatient := func(id string) {
		if p.patient != "" && p.patient != id {
			p.none = true
		}
		p.patient = id
	}
	if c := q.Compartment; c != nil {
		if c.Type != "Patient" || len(c.IDs) > 0 {
			return nil, []vigil.Issue{leftOut("the compartment is not one patient's")}
		}
		setPatient(c.ID)
	}
	codeParams := 0
	for i := range q.Params {
		sp := &q.Params[i]
		switch {
		case (sp.Name == "subject" || sp.Name == "patient") && sp.Type == vigil.ParamReference:
			if (sp.Modifier != "" && sp.Modifier != "Patient") || sp.Chain != nil || len(sp.Values) != 1 {
				why = "the patient must be one plain reference"
				break
			}
			v := sp.Values[0]
			if v.URI != "" || v.RefVersion != "" || (v.RefType != "" && v.RefType != "Patient") || v.RefID == "" {
				if v.RefType != "" && v.RefType != "Patient" {
					p.none = true // subject=Group/1: no sample's subject
					continue
				}
				why = "the patient must be one plain reference"
				break
			}
			setPatient(v.RefID)
		case sp.Name == "code" && sp.Type == vigil.ParamToken && sp.Modifier == "":
			codeParams++
			if codeParams > 1 {
				why = "more than one code parameter"
				break
			}
			p.codeGiven = true
			p.codes, p.waveCodes = []string{}, []string{}
			for _, v := range sp.Values {
				if v.Code == "" {
					why = "a code without a code (system|)"
					break
				}
				switch {
				case v.AnySystem:
					p.codes = append(p.codes, v.Code)
					p.waveCodes = append(p.waveCodes, v.Code)
				case v.System == sampleobs.SystemLOINC:
					p.codes = append(p.codes, v.Code)
					p.waveCodes = append(p.waveCodes, v.Code)
				case v.System == sampleobs.SystemMDC:
					p.waveCodes = append(p.waveCodes, v.Code)
				}
			}
		case sp.Name == "category" && sp.Type == vigil.ParamToken && sp.Modifier == "":
			vital, proc := false, false
			for _, v := range sp.Values {
				if !v.AnySystem && v.System != systemCategory {
					continue
				}
				vital = vital || v.Code == "vital-signs"
				proc = proc || v.Code == "procedure"
			}
			p.wantSamples = p.wantSamples && vital
			p.wantWaves = p.wantWaves && proc
		case sp.Name == "date" && sp.Type == vigil.ParamDate && sp.Modifier == "" && q.Type == "Observation":
			p.dates = append(p.dates, *sp)
		case sp.Name == "_lastUpdated" && sp.Type == vigil.ParamDate && sp.Modifier == "":
			p.updated = append(p.updated, *sp)
		default:
			why = "the parameter " + safeParamName(sp.Name) + " is not evaluated on samples"
		}
		if why != "" {
			break
		}
	}
	if why == "" && (len(q.Include) > 0 || len(q.RevInclude) > 0) {
		why = "_include and _revinclude are not evaluated on samples"
	}
	if why == "" {
		switch {
		case len(q.Sort) == 0:
		case len(q.Sort) == 1 && q.Sort[0].Param == "date" && q.Type == "Observation":
			p.sortDate, p.desc = true, q.Sort[0].Desc
		default:
			why = "samples are sorted only by date"
		}
	}
	if why != "" {
		if !namesPatient(q) {
			return nil, nil
		}
		return nil, []vigil.Issue{leftOut(why)}
	}
	if p.patient == "" {
		return nil, nil
	}
	if !p.wantSamples && !p.wantWaves {
		p.none = true
	}
	var issues []vigil.Issue
	if p.wantWaves && !p.codeGiven && !p.none {
		issues = append(issues, vigil.Issue{Severity: "information", Code: "informational",
			Message: "waveform observations (valueSampledData) are listed only when the search names their code"})
		p.wantWaves = false
	}
	if !p.wantWaves {
		p.waveCodes = nil
	}
	if p.codeGiven && len(p.codes) == 0 {
		p.wantSamples = false
	}
	if !p.wantSamples && len(p.waveCodes) == 0 {
		p.none = true
	}
	p.from, p.to = dateBounds(p.dates)
	return p, issues
}

// namesPatient reports whether q is a compartment search or has a
// subject or patient parameter: a search that may be after a patient's
// samples.
func namesPatient(q *vigil.SearchQuery) bool {
	if q.Compartment != nil {
		return true
	}
	for i := range q.Params {
		if n := q.Params[i].Name; n == "subject" || n == "patient" {
			return true
		}
	}
	return false
}

// safeParamName cuts a parameter name short for a message.
func safeParamName(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}

// dateBounds returns a window [from, to) of effective start times (zero:
// open) outside which no sample matches params; it is coarse, matchDates
// decides. It is also a window that every matching waveform chunk overlaps.
func dateBounds(params []vigil.SearchParam) (from, to time.Time) {
	for _, sp := range params {
		var lo, hi time.Time
		loOpen, hiOpen := false, false
		for i, v := range sp.Values {
			l, h := valueBounds(v)
			if l.IsZero() {
				loOpen = true
			} else if i == 0 || l.Before(lo) || lo.IsZero() {
				lo = l
			}
			if h.IsZero() {
				hiOpen = true
			} else if i == 0 || h.After(hi) {
				hi = h
			}
		}
		if !loOpen && !lo.IsZero() && (from.IsZero() || lo.After(from)) {
			from = lo
		}
		if !hiOpen && !hi.IsZero() && (to.IsZero() || hi.Before(to)) {
			to = hi
		}
	}
	return from, to
}

// valueBounds is the window of one date value (zero: open), for an entry
// range [s, s+1ms) (a sample) or a chunk overlapping it.
func valueBounds(v vigil.SearchValue) (lo, hi time.Time) {
	ms := time.Millisecond
	sub := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.Add(-ms)
	}
	switch v.Prefix {
	case vigil.PrefixEq:
		return v.Start, v.End
	case vigil.PrefixGt:
		return sub(v.End), time.Time{}
	case vigil.PrefixLt, vigil.PrefixEb:
		return time.Time{}, v.Start
	case vigil.PrefixGe:
		return sub(v.Start), time.Time{}
	case vigil.PrefixLe:
		return time.Time{}, v.End
	case vigil.PrefixSa:
		return sub(v.End), time.Time{}
	case vigil.PrefixAp:
		return sub(v.Start), v.End
	}
	return time.Time{}, time.Time{} // ne
}

// matchDates reports whether the entry range [s, e) matches every param
// (values ORed), with the store contract's semantics
// (docs/store-contract.md).
func matchDates(params []vigil.SearchParam, s, e time.Time) bool {
	for _, sp := range params {
		ok := false
		for _, v := range sp.Values {
			if matchDate(v, s, e) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchDate matches one value against the entry range [s, e); the value's
// zero Start and End mean −∞ and +∞.
func matchDate(v vigil.SearchValue, s, e time.Time) bool {
	S, E := v.Start, v.End
	geS := func(t time.Time) bool { return S.IsZero() || !t.Before(S) } // t >= S
	ltS := func(t time.Time) bool { return !S.IsZero() && t.Before(S) } // t < S
	leS := func(t time.Time) bool { return !S.IsZero() && !t.After(S) } // t <= S
	leE := func(t time.Time) bool { return E.IsZero() || !t.After(E) }  // t <= E
	ltE := func(t time.Time) bool { return E.IsZero() || t.Before(E) }  // t < E
	gtE := func(t time.Time) bool { return !E.IsZero() && t.After(E) }  // t > E
	geE := func(t time.Time) bool { return !E.IsZero() && !t.Before(E) }
	gtS := func(t time.Time) bool { return S.IsZero() || t.After(S) }
	eq := geS(s) && leE(e)
	switch v.Prefix {
	case vigil.PrefixEq:
		return eq
	case vigil.PrefixNe:
		return !eq
	case vigil.PrefixGt:
		return gtE(e)
	case vigil.PrefixLt:
		return ltS(s)
	case vigil.PrefixGe:
		return gtE(e) || eq
	case vigil.PrefixLe:
		return ltS(s) || eq
	case vigil.PrefixSa:
		return geE(s)
	case vigil.PrefixEb:
		return leS(e)
	case vigil.PrefixAp:
		return ltE(s) && gtS(e)
	}
	return false
}

// matches reports whether an item passes the plan's exact filters (the
// store already applied patient, code and the coarse window).
func (p *samplePlan) matches(it *sampleItem) bool {
	if it.copied() {
		return false
	}
	if len(p.dates) > 0 {
		s, e := it.effective()
		if !matchDates(p.dates, s, e) {
			return false
		}
	}
	if len(p.updated) > 0 {
		r := it.received()
		if !matchDates(p.updated, r, r.Add(time.Millisecond)) {
			return false
		}
	}
	return true
}
