package hl7

import (
	"errors"
	"time"

	"github.com/vigilhealth/vigil/vitals"
)

// Reading converts observation o of m into a normalised vital-sign reading
// and the instant it was measured, failing closed:
//
//   - OBX-3 must be a LOINC code (coding system "LN") that package vitals
//     accepts (field 3, error code 103 otherwise);
//   - OBX-5 must be a number (NM, or SN without comparator or range) and
//     plausible (field 5, code 102);
//   - OBX-6 must be a unit vitals accepts for that code, read from its
//     identifier, which is a UCUM code or one of the few aliases vitals
//     lists (field 6, code 103);
//   - the time is OBX-14, else OBR-7 of the order the OBX belongs to
//     (field 14, code 101 when neither is present); a timestamp without a
//     UTC offset is read in loc, and loc nil rejects it.
//
// OBX-11 is not judged here: which result statuses to store (F, C, R, P…)
// and how to apply corrections is the caller's decision.
func (m *Message) Reading(o *Observation, loc *time.Location) (vitals.Reading, time.Time, error) {
	bad := func(field, code int, reason string) error {
		return &Error{Segment: o.Segment + 1, Name: "OBX", Field: field, Reason: reason, Code: code}
	}
	if o.Code.System != "LN" {
		return vitals.Reading{}, time.Time{}, bad(3, CodeTableValue, "observation identifier is not coded in LOINC (LN)")
	}
	v, err := o.Number()
	if err != nil {
		return vitals.Reading{}, time.Time{}, err
	}
	r, err := vitals.Normalize(o.Code.Code, v, o.Units.Code)
	switch {
	case errors.Is(err, vitals.ErrUnknownCode):
		return r, time.Time{}, bad(3, CodeTableValue, "LOINC code is not a vital sign Vigil accepts")
	case errors.Is(err, vitals.ErrUnknownUnit):
		return r, time.Time{}, bad(6, CodeTableValue, "unit is not accepted for this code")
	case err != nil:
		return r, time.Time{}, bad(5, CodeDataType, "value is outside the plausible range")
	}
	ts := o.Time
	if ts.IsZero() && o.Order >= 0 && o.Order < len(m.Segments) {
		if s := m.Segments[o.Order].Value(7, 1); s != "" {
			t, err := ParseTime(s)
			if err != nil {
				return r, time.Time{}, &Error{Segment: o.Order + 1, Name: "OBR", Field: 7, Reason: "invalid timestamp", Code: CodeDataType}
			}
			ts = t
		}
	}
	if ts.IsZero() {
		return r, time.Time{}, bad(14, CodeRequiredMissing, "no observation time (OBX-14 or OBR-7)")
	}
	if !ts.HasOffset && loc == nil {
		return r, time.Time{}, bad(14, CodeDataType, "observation time has no UTC offset")
	}
	return r, ts.In(loc), nil
}
