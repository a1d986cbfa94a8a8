package records

import (
	"context"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sampleobs"
)

// SamplePatientFinder is implemented by sample stores that can list the
// patients who have readings of given codes (sqlite.Samples,
// postgres.Samples): with it, _has on Observation sees device readings.
type SamplePatientFinder interface {
	SamplePatients(ctx context.Context, codes []string) ([]string, error)
}

// hasSamples lets the Patient search's reverse chains on Observation by
// code see device readings, which the store does not hold as resources:
// Patient?_has:Observation:subject:code=8867-4 also finds the patients
// with heart-rate readings from a device. Only a filter on code alone
// (any number of values; LOINC, MDC or no system) is answered from the
// readings; any other filter (value, date, status…) is left to the store,
// which does not see readings (README, known gaps).
func (s *Service) hasSamples(ctx context.Context, q *vigil.SearchQuery) error {
	finder, ok := s.samples.(SamplePatientFinder)
	if !ok || q.Type != "Patient" {
		return nil
	}
	for i := range q.Params {
		h := q.Params[i].Has
		if h == nil || h.Type != "Observation" || (h.Param != "subject" && h.Param != "patient") {
			continue
		}
		f := h.Filter
		if f == nil || f.Name != "code" || f.Type != vigil.ParamToken || f.Modifier != "" || f.Chain != nil || f.Has != nil {
			continue
		}
		// A reading's code is LOINC, or (waveforms) an all-digit MDC code:
		// a value keeps its code only where its system could render it.
		var codes []string
		for _, v := range f.Values {
			mdc := v.Code != "" && strings.Trim(v.Code, "0123456789") == ""
			switch {
			case v.Code == "":
			case v.AnySystem, v.System == sampleobs.SystemLOINC && sampleobs.IsLOINC(v.Code), v.System == sampleobs.SystemMDC && mdc:
				codes = append(codes, v.Code)
			}
		}
		if len(codes) == 0 {
			continue
		}
		// The ids go to the store as they are: the access policy's
		// restriction of the search (ANDed with everything) keeps out the
		// patients the caller may not see, as for any other match, and the
		// policy refuses _has on Observation to a token that may not read
		// Observations.
		patients, err := finder.SamplePatients(ctx, codes)
		if err != nil {
			return err
		}
		h.Also = patients
	}
	return nil
}
