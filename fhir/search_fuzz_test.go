package fhir

import (
	"errors"
	"net/url"
	"testing"

	"github.com/vigilhealth/vigil"
)

// FuzzParseSearch feeds arbitrary query strings to ParseSearch: it must
// not panic, and every error must be a *vigil.Error of a known kind.
func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{
		"name=peter&_count=10",
		"code=http://loinc.org|8867-4,|x&date=ge2020-01-01T10:00:00Z",
		"value-quantity=ap5.4|http://unitsofmeasure.org|mg",
		"component-code-value-quantity=http://loinc.org|8480-6$gt100|http://unitsofmeasure.org|mm[Hg]",
		"subject:Patient.name=x&subject.organization.name:exact=y",
		`name=a\,b\$c\|d\\&_sort=-date,_id&_include:iterate=Observation:subject:Patient`,
		"_summary=count&_elements=name,birthDate&_total=accurate&name:missing=true",
		"date=ap2020&probability=1e2&status:not=final&url:below=http://x",
	} {
		f.Add("Observation", s)
	}
	f.Add("", "_id=1&_lastUpdated=gt2020")
	f.Add("", "_type=Patient,Observation&_id=1")
	f.Add("", "_type=Observation&code=x")
	f.Add("Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=x&identifier:of-type=s|MR|1")
	f.Add("Location", "near=51.5|-0.12|11.2|km,-17|179.9&near=1|2|3|[mi_i]")
	f.Add("Observation", "subject:identifier=urn:mrn|1&performer:identifier=x")
	f.Add("Observation", "code:in=http://x/vs|1,http://y&status:below=http://hl7.org/fhir/observation-status|amended&category:not-in=u&code:above=s|c")
	m := searchModel(f)
	f.Fuzz(func(t *testing.T, typ, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, strict := range []bool{true, false} {
			sq, opts, _, err := m.ParseSearch(typ, q, strict)
			if err != nil {
				var ve *vigil.Error
				if !errors.As(err, &ve) || !(errors.Is(err, vigil.ErrInvalid) || errors.Is(err, vigil.ErrUnsupported)) {
					t.Fatalf("ParseSearch(%q, %q) error %v is not an ErrInvalid/ErrUnsupported *vigil.Error", typ, raw, err)
				}
				continue
			}
			if sq == nil || opts == nil {
				t.Fatalf("ParseSearch(%q, %q) returned nil without error", typ, raw)
			}
			if sq.Count < 0 || sq.Count > maxCount {
				t.Fatalf("ParseSearch(%q, %q) Count = %d", typ, raw, sq.Count)
			}
		}
	})
}
