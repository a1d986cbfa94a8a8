package fhir

import (
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// testNow is the clock of the parse tests.
var testNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func parseModel(t testing.TB) *Model {
	t.Helper()
	return searchModel(t).WithClock(func() time.Time { return testNow })
}

func mustQuery(t testing.TB, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", raw, err)
	}
	return q
}

func utcDate(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseSearchParams(t *testing.T) {
	m := parseModel(t)
	ucum := "http://unitsofmeasure.org"
	for _, tc := range []struct {
		typ   string
		query string
		want  []vigil.SearchParam
	}{
		// string
		{"Patient", "name=Renée", []vigil.SearchParam{{Name: "name", Type: vigil.ParamString,
			Values: []vigil.SearchValue{{Text: "renee", Exact: "Renée"}}}}},
		{"Patient", "family:exact=Dubé", []vigil.SearchParam{{Name: "family", Type: vigil.ParamString, Modifier: "exact",
			Values: []vigil.SearchValue{{Text: "dube", Exact: "Dubé"}}}}},
		{"Patient", "given:contains=et,ja", []vigil.SearchParam{{Name: "given", Type: vigil.ParamString, Modifier: "contains",
			Values: []vigil.SearchValue{{Text: "et", Exact: "et"}, {Text: "ja", Exact: "ja"}}}}},
		{"Patient", `name=a\,b`, []vigil.SearchParam{{Name: "name", Type: vigil.ParamString,
			Values: []vigil.SearchValue{{Text: "a,b", Exact: "a,b"}}}}},
		// Location's near: latitude|longitude|distance|units
		{"Location", "near=51.5074|-0.1278|11.2|km,-17|179.9|500|m", []vigil.SearchParam{{Name: "near", Type: vigil.ParamSpecial,
			Values: []vigil.SearchValue{{Near: &vigil.Near{Latitude: 51.5074, Longitude: -0.1278, Km: 11.2}},
				{Near: &vigil.Near{Latitude: -17, Longitude: 179.9, Km: 0.5}}}}}},
		{"Location", "near=1|2", []vigil.SearchParam{{Name: "near", Type: vigil.ParamSpecial,
			Values: []vigil.SearchValue{{Near: &vigil.Near{Latitude: 1, Longitude: 2, Km: NearDefaultKm}}}}}},
		{"Location", "near=1|2|10", []vigil.SearchParam{{Name: "near", Type: vigil.ParamSpecial,
			Values: []vigil.SearchValue{{Near: &vigil.Near{Latitude: 1, Longitude: 2, Km: 10}}}}}},
		{"Location", "near=1|2|10|[mi_i]", []vigil.SearchParam{{Name: "near", Type: vigil.ParamSpecial,
			Values: []vigil.SearchValue{{Near: &vigil.Near{Latitude: 1, Longitude: 2, Km: 16.09344}}}}}},
		// repeated parameter: AND
		{"Patient", "name=a&name=b", []vigil.SearchParam{
			{Name: "name", Type: vigil.ParamString, Values: []vigil.SearchValue{{Text: "a", Exact: "a"}}},
			{Name: "name", Type: vigil.ParamString, Values: []vigil.SearchValue{{Text: "b", Exact: "b"}}}}},
		// token forms
		{"Observation", "code=8867-4", []vigil.SearchParam{{Name: "code", Type: vigil.ParamToken,
			Values: []vigil.SearchValue{{Code: "8867-4", AnySystem: true}}}}},
		{"Observation", "code=http://loinc.org|8867-4,|x,http://snomed.info/sct|", []vigil.SearchParam{{Name: "code", Type: vigil.ParamToken,
			Values: []vigil.SearchValue{{System: "http://loinc.org", Code: "8867-4"}, {Code: "x"}, {System: "http://snomed.info/sct"}}}}},
		{"Observation", `code=a\|b`, []vigil.SearchParam{{Name: "code", Type: vigil.ParamToken,
			Values: []vigil.SearchValue{{Code: "a|b", AnySystem: true}}}}},
		{"Observation", "code:text=Heart  Rate", []vigil.SearchParam{{Name: "code", Type: vigil.ParamToken, Modifier: "text",
			Values: []vigil.SearchValue{{Text: "heart rate"}}}}},
		{"Observation", "status:not=final", []vigil.SearchParam{{Name: "status", Type: vigil.ParamToken, Modifier: "not",
			Values: []vigil.SearchValue{{Code: "final", AnySystem: true}}}}},
		{"Patient", "_id=a,b", []vigil.SearchParam{{Name: "_id", Type: vigil.ParamToken,
			Values: []vigil.SearchValue{{Code: "a", AnySystem: true}, {Code: "b", AnySystem: true}}}}},
		{"Patient", "_tag=s|c", []vigil.SearchParam{{Name: "_tag", Type: vigil.ParamToken,
			Values: []vigil.SearchValue{{System: "s", Code: "c"}}}}},
		// date precisions and prefixes
		{"Observation", "date=2020", []vigil.SearchParam{{Name: "date", Type: vigil.ParamDate,
			Values: []vigil.SearchValue{{Start: utcDate(2020, 1, 1), End: utcDate(2021, 1, 1)}}}}},
		{"Observation", "date=ge2020-02&date=lt2020-03-04", []vigil.SearchParam{
			{Name: "date", Type: vigil.ParamDate, Values: []vigil.SearchValue{{Prefix: vigil.PrefixGe, Start: utcDate(2020, 2, 1), End: utcDate(2020, 3, 1)}}},
			{Name: "date", Type: vigil.ParamDate, Values: []vigil.SearchValue{{Prefix: vigil.PrefixLt, Start: utcDate(2020, 3, 4), End: utcDate(2020, 3, 5)}}}}},
		{"Observation", "date=gt2020-03-04T10:00:00%2B02:00", []vigil.SearchParam{{Name: "date", Type: vigil.ParamDate,
			Values: []vigil.SearchValue{{Prefix: vigil.PrefixGt, Start: time.Date(2020, 3, 4, 8, 0, 0, 0, time.UTC), End: time.Date(2020, 3, 4, 8, 0, 1, 0, time.UTC)}}}}},
		{"Observation", "date=sa2020-03-04T10:00,eb2020-03-04T10:00:00.5Z", []vigil.SearchParam{{Name: "date", Type: vigil.ParamDate,
			Values: []vigil.SearchValue{
				{Prefix: vigil.PrefixSa, Start: time.Date(2020, 3, 4, 10, 0, 0, 0, time.UTC), End: time.Date(2020, 3, 4, 10, 1, 0, 0, time.UTC)},
				{Prefix: vigil.PrefixEb, Start: time.Date(2020, 3, 4, 10, 0, 0, 5e8, time.UTC), End: time.Date(2020, 3, 4, 10, 0, 0, 6e8, time.UTC)}}}}},
		// ap on a date 10 days before now: widened by one day (the minimum).
		{"Observation", "date=ap2025-12-22", []vigil.SearchParam{{Name: "date", Type: vigil.ParamDate,
			Values: []vigil.SearchValue{{Prefix: vigil.PrefixAp, Start: utcDate(2025, 12, 21), End: utcDate(2025, 12, 24)}}}}},
		// ap on a date 100 days before now: widened by 10 days.
		{"Observation", "date=ap2025-09-23", []vigil.SearchParam{{Name: "date", Type: vigil.ParamDate,
			Values: []vigil.SearchValue{{Prefix: vigil.PrefixAp, Start: utcDate(2025, 9, 13), End: utcDate(2025, 10, 4)}}}}},
		{"Patient", "_lastUpdated=ne2024", []vigil.SearchParam{{Name: "_lastUpdated", Type: vigil.ParamDate,
			Values: []vigil.SearchValue{{Prefix: vigil.PrefixNe, Start: utcDate(2024, 1, 1), End: utcDate(2025, 1, 1)}}}}},
		// number
		{"RiskAssessment", "probability=gt0.8", []vigil.SearchParam{{Name: "probability", Type: vigil.ParamNumber,
			Values: []vigil.SearchValue{{Prefix: vigil.PrefixGt, Value: 0.8, Low: 0.75, High: 0.8500000000000001}}}}},
		{"RiskAssessment", "probability=100", []vigil.SearchParam{{Name: "probability", Type: vigil.ParamNumber,
			Values: []vigil.SearchValue{{Value: 100, Low: 99.5, High: 100.5}}}}},
		{"RiskAssessment", "probability=ap100", []vigil.SearchParam{{Name: "probability", Type: vigil.ParamNumber,
			Values: []vigil.SearchValue{{Prefix: vigil.PrefixAp, Value: 100, Low: 90, High: 110}}}}},
		// quantity
		{"Observation", "value-quantity=5.4|http://unitsofmeasure.org|mg", []vigil.SearchParam{{Name: "value-quantity", Type: vigil.ParamQuantity,
			Values: []vigil.SearchValue{{Value: 5.4, Low: 5.3500000000000005, High: 5.45, System: ucum, Code: "mg",
				CanonCode: "g", CanonValue: 0.0054, CanonLow: 0.00535, CanonHigh: 0.00545}}}}},
		{"Observation", "value-quantity=le5.4||mg,gt1", []vigil.SearchParam{{Name: "value-quantity", Type: vigil.ParamQuantity,
			Values: []vigil.SearchValue{{Prefix: vigil.PrefixLe, Value: 5.4, Low: 5.3500000000000005, High: 5.45, Code: "mg"},
				{Prefix: vigil.PrefixGt, Value: 1, Low: 0.5, High: 1.5}}}}},
		// reference forms
		{"Observation", "subject=Patient/1,2,http://x.org/fhir/Patient/3", []vigil.SearchParam{{Name: "subject", Type: vigil.ParamReference,
			Values: []vigil.SearchValue{{RefType: "Patient", RefID: "1"}, {RefID: "2"}, {URI: "http://x.org/fhir/Patient/3"}}}}},
		{"Observation", "subject:Patient=1", []vigil.SearchParam{{Name: "subject", Type: vigil.ParamReference, Modifier: "Patient",
			Values: []vigil.SearchValue{{RefType: "Patient", RefID: "1"}}}}},
		{"Observation", "subject=Patient/1/_history/2", []vigil.SearchParam{{Name: "subject", Type: vigil.ParamReference,
			Values: []vigil.SearchValue{{RefType: "Patient", RefID: "1"}}}}},
		{"PlanDefinition", "derived-from=http://x.org/Q|2.0", []vigil.SearchParam{{Name: "derived-from", Type: vigil.ParamReference,
			Values: []vigil.SearchValue{{URI: "http://x.org/Q", RefVersion: "2.0"}}}}},
		// uri
		{"ValueSet", "url:below=http://x.org/fhir", []vigil.SearchParam{{Name: "url", Type: vigil.ParamURI, Modifier: "below",
			Values: []vigil.SearchValue{{URI: "http://x.org/fhir"}}}}},
		// missing
		{"Observation", "value-quantity:missing=true", []vigil.SearchParam{{Name: "value-quantity", Type: vigil.ParamQuantity,
			Modifier: "missing", Missing: true}}},
		{"Patient", "name:missing=false", []vigil.SearchParam{{Name: "name", Type: vigil.ParamString, Modifier: "missing"}}},
		// composite
		{"Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt100|http://unitsofmeasure.org|mm[Hg]",
			[]vigil.SearchParam{{Name: "component-code-value-quantity", Type: vigil.ParamComposite,
				Values: []vigil.SearchValue{{Components: []vigil.SearchValue{
					{System: "http://loinc.org", Code: "8480-6"},
					{Prefix: vigil.PrefixGt, Value: 100, Low: 99.5, High: 100.5, System: ucum, Code: "mm[Hg]",
						CanonCode: "g.m-1.s-2", CanonValue: 13332238.7415, CanonLow: 13265577.5478, CanonHigh: 13398899.9352}}}}}}},
		{"Observation", `code-value-string=8867-4$a\$b`,
			[]vigil.SearchParam{{Name: "code-value-string", Type: vigil.ParamComposite,
				Values: []vigil.SearchValue{{Components: []vigil.SearchValue{
					{Code: "8867-4", AnySystem: true}, {Text: "a$b", Exact: "a$b"}}}}}}},
		// chains
		{"Observation", "subject:Patient.name=peter", []vigil.SearchParam{{Name: "subject", Type: vigil.ParamReference,
			TargetTypes: []string{"Patient"},
			Chain:       &vigil.SearchParam{Name: "name", Type: vigil.ParamString, Values: []vigil.SearchValue{{Text: "peter", Exact: "peter"}}}}}},
		{"Observation", "patient.birthdate=1970", []vigil.SearchParam{{Name: "patient", Type: vigil.ParamReference,
			TargetTypes: []string{"Patient"},
			Chain: &vigil.SearchParam{Name: "birthdate", Type: vigil.ParamDate,
				Values: []vigil.SearchValue{{Start: utcDate(1970, 1, 1), End: utcDate(1971, 1, 1)}}}}}},
		{"Observation", "subject.organization.name:exact=Acme", []vigil.SearchParam{{Name: "subject", Type: vigil.ParamReference,
			TargetTypes: []string{"Device", "Location", "Patient"},
			Chain: &vigil.SearchParam{Name: "organization", Type: vigil.ParamReference, TargetTypes: []string{"Organization"},
				Chain: &vigil.SearchParam{Name: "name", Type: vigil.ParamString, Modifier: "exact",
					Values: []vigil.SearchValue{{Text: "acme", Exact: "Acme"}}}}}}},
		// reference :identifier is a token search on the references' identifiers
		{"Observation", "subject:identifier=urn:mrn|12345", []vigil.SearchParam{{Name: "subject:identifier", Type: vigil.ParamToken,
			Values: []vigil.SearchValue{{System: "urn:mrn", Code: "12345"}}}}},
		{"Observation", "patient:identifier=12345,|777", []vigil.SearchParam{{Name: "patient:identifier", Type: vigil.ParamToken,
			Values: []vigil.SearchValue{{Code: "12345", AnySystem: true}, {Code: "777"}}}}},
		// token :of-type
		{"Patient", `identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12\|3`, []vigil.SearchParam{{Name: "identifier:of-type", Type: vigil.ParamToken,
			Values: []vigil.SearchValue{{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR|12|3"}}}}},
		// reverse chains
		{"Patient", "_has:Observation:patient:code=1234-5", []vigil.SearchParam{{Name: "_has", Type: vigil.ParamSpecial,
			Has: &vigil.ReverseChain{Type: "Observation", Param: "patient",
				Filter: &vigil.SearchParam{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{Code: "1234-5", AnySystem: true}}}}}}},
		{"Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=Practitioner/1", []vigil.SearchParam{{Name: "_has", Type: vigil.ParamSpecial,
			Has: &vigil.ReverseChain{Type: "Observation", Param: "patient",
				Filter: &vigil.SearchParam{Name: "_has", Type: vigil.ParamSpecial,
					Has: &vigil.ReverseChain{Type: "AuditEvent", Param: "entity",
						Filter: &vigil.SearchParam{Name: "agent", Type: vigil.ParamReference,
							Values: []vigil.SearchValue{{RefType: "Practitioner", RefID: "1"}}}}}}}}},
		{"Patient", "_has:Observation:subject:performer:Practitioner.name=smith", []vigil.SearchParam{{Name: "_has", Type: vigil.ParamSpecial,
			Has: &vigil.ReverseChain{Type: "Observation", Param: "subject",
				Filter: &vigil.SearchParam{Name: "performer", Type: vigil.ParamReference, TargetTypes: []string{"Practitioner"},
					Chain: &vigil.SearchParam{Name: "name", Type: vigil.ParamString, Values: []vigil.SearchValue{{Text: "smith", Exact: "smith"}}}}}}}},
		{"Patient", "_has:Observation:patient:code=", nil},
		// empty values are ignored
		{"Patient", "name=", nil},
		// result parameters are not filters
		{"Patient", "_format=json&_pretty=true", nil},
	} {
		t.Run(tc.typ+"?"+tc.query, func(t *testing.T) {
			q, _, issues, err := m.ParseSearch(tc.typ, mustQuery(t, tc.query), true)
			if err != nil {
				t.Fatalf("ParseSearch(%s, %q) error: %v", tc.typ, tc.query, err)
			}
			if len(issues) != 0 {
				t.Errorf("ParseSearch(%s, %q) issues = %v, want none", tc.typ, tc.query, issues)
			}
			if q.Type != tc.typ {
				t.Errorf("Type = %q, want %q", q.Type, tc.typ)
			}
			if !reflect.DeepEqual(q.Params, tc.want) {
				t.Errorf("ParseSearch(%s, %q).Params =\n%+v\nwant\n%+v", tc.typ, tc.query, q.Params, tc.want)
			}
		})
	}
}

func TestParseSearchResultParams(t *testing.T) {
	m := parseModel(t)
	for _, tc := range []struct {
		typ, query string
		check      func(*vigil.SearchQuery, *SearchOptions) bool
		desc       string
	}{
		{"Patient", "_count=10", func(q *vigil.SearchQuery, _ *SearchOptions) bool { return q.Count == 10 }, "Count 10"},
		{"Patient", "_count=0", func(q *vigil.SearchQuery, _ *SearchOptions) bool { return q.Count == 0 && q.SummaryCount }, "Count 0 and SummaryCount"},
		{"Patient", "_count=5000", func(q *vigil.SearchQuery, _ *SearchOptions) bool { return q.Count == 1000 }, "Count capped at 1000"},
		{"Observation", "_sort=-date,status,_id", func(q *vigil.SearchQuery, _ *SearchOptions) bool {
			return reflect.DeepEqual(q.Sort, []vigil.SortKey{{Param: "date", Type: vigil.ParamDate, Desc: true},
				{Param: "status", Type: vigil.ParamToken}, {Param: "_id", Type: vigil.ParamToken}})
		}, "three sort keys"},
		{"Observation", "_include=Observation:subject&_include=Observation:subject:Patient&_include:iterate=Patient:organization",
			func(q *vigil.SearchQuery, _ *SearchOptions) bool {
				return reflect.DeepEqual(q.Include, []vigil.Include{
					{SourceType: "Observation", Param: "subject"},
					{SourceType: "Observation", Param: "subject", TargetType: "Patient"},
					{SourceType: "Patient", Param: "organization", Iterate: true}})
			}, "includes"},
		{"Patient", "_revinclude=Observation:subject&_include=*&_revinclude=Provenance:*",
			func(q *vigil.SearchQuery, _ *SearchOptions) bool {
				return reflect.DeepEqual(q.RevInclude, []vigil.Include{
					{SourceType: "Observation", Param: "subject"}, {SourceType: "Provenance", Param: "*"}}) &&
					reflect.DeepEqual(q.Include, []vigil.Include{{SourceType: "Patient", Param: "*"}})
			}, "revincludes and *"},
		{"Patient", "_summary=count", func(q *vigil.SearchQuery, o *SearchOptions) bool {
			return q.SummaryCount && o.Summary == "count"
		}, "summary count"},
		{"Patient", "_summary=true", func(q *vigil.SearchQuery, o *SearchOptions) bool {
			return !q.SummaryCount && o.Summary == "true"
		}, "summary true"},
		{"Patient", "_elements=name,Patient.birthDate,name", func(_ *vigil.SearchQuery, o *SearchOptions) bool {
			return reflect.DeepEqual(o.Elements, []string{"name", "birthDate"})
		}, "elements"},
		{"Patient", "_total=accurate", func(q *vigil.SearchQuery, _ *SearchOptions) bool { return q.Total }, "total accurate"},
		{"Patient", "_total=estimate", func(q *vigil.SearchQuery, _ *SearchOptions) bool { return q.Total }, "total estimate"},
		{"Patient", "_total=none", func(q *vigil.SearchQuery, _ *SearchOptions) bool { return !q.Total }, "total none"},
		{"", "_id=1&_lastUpdated=gt2020&_tag=a|b&_sort=-_lastUpdated", func(q *vigil.SearchQuery, _ *SearchOptions) bool {
			return q.Type == "" && len(q.Params) == 3 && len(q.Sort) == 1 && q.Sort[0].Desc
		}, "system search"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, opts, _, err := m.ParseSearch(tc.typ, mustQuery(t, tc.query), true)
			if err != nil {
				t.Fatalf("ParseSearch(%s, %q) error: %v", tc.typ, tc.query, err)
			}
			if !tc.check(q, opts) {
				t.Errorf("ParseSearch(%s, %q) = %+v, %+v; want %s", tc.typ, tc.query, q, opts, tc.desc)
			}
		})
	}
}

func TestParseSearchErrors(t *testing.T) {
	m := parseModel(t)
	const secret = "Smith1234"
	for _, tc := range []struct {
		typ, query string
		kind       error
		mention    string // the message names this
	}{
		{"Patient", "foo=1", vigil.ErrInvalid, "foo"},
		{"Nope", "name=x", vigil.ErrInvalid, ""},
		{"Patient", "name:foo=" + secret, vigil.ErrInvalid, "name"},
		{"Patient", "name:missing=" + secret, vigil.ErrInvalid, "name"},
		{"Observation", "date=" + secret, vigil.ErrInvalid, "date"},
		{"Observation", "date=2020-13", vigil.ErrInvalid, "date"},
		{"Observation", "date=xx2020", vigil.ErrInvalid, "date"},
		{"RiskAssessment", "probability=" + secret, vigil.ErrInvalid, "probability"},
		{"Observation", "value-quantity=5|" + secret, vigil.ErrInvalid, "value-quantity"},
		{"Observation", "code=a|b|" + secret, vigil.ErrInvalid, "code"},
		{"Observation", "code:above=" + secret, vigil.ErrInvalid, "code"},
		{"Observation", "code:below=|" + secret, vigil.ErrInvalid, "code"},
		{"Observation", "code:exact=" + secret, vigil.ErrInvalid, "code"},
		{"Observation", "date:exact=2020", vigil.ErrInvalid, "date"},
		{"Observation", "subject:Device.name=x", vigil.ErrInvalid, "subject"},
		{"Observation", "subject:Medication=" + secret, vigil.ErrInvalid, "subject"},
		{"Observation", "subject=Foo/" + secret, vigil.ErrInvalid, "subject"},
		{"Observation", "subject:Patient=Group/" + secret, vigil.ErrInvalid, "subject"},
		{"Observation", "status.name=x", vigil.ErrInvalid, "status"},
		{"Observation", "subject.foo=x", vigil.ErrInvalid, "subject.foo"},
		{"Observation", "component-code-value-quantity=" + secret, vigil.ErrInvalid, "component-code-value-quantity"},
		{"Observation", "component-code-value-quantity=a$" + secret, vigil.ErrInvalid, "component-code-value-quantity"},
		{"Location", "near=91|2|3|km", vigil.ErrInvalid, "near"},
		{"Location", "near=1|-181", vigil.ErrInvalid, "near"},
		{"Location", "near=" + secret, vigil.ErrInvalid, "near"},
		{"Location", "near=1|2|-3", vigil.ErrInvalid, "near"},
		{"Location", "near=1|2|3|" + secret, vigil.ErrInvalid, "near"},
		{"Location", "near=1|2|3|km|x", vigil.ErrInvalid, "near"},
		{"Location", "near=1|2|NaN", vigil.ErrInvalid, "near"},
		{"Location", "near:missing=true", vigil.ErrUnsupported, "near"},
		{"Patient", "identifier:of-type=MR|" + secret, vigil.ErrInvalid, "identifier"},
		{"Patient", "identifier:of-type=s||" + secret, vigil.ErrInvalid, "identifier"},
		{"Patient", "_has:Observation:patient=" + secret, vigil.ErrInvalid, "_has"},
		{"Patient", "_has:Nope:patient:code=" + secret, vigil.ErrInvalid, "_has"},
		{"Patient", "_has:Observation:code:code=" + secret, vigil.ErrInvalid, "_has"},
		{"Patient", "_has:Observation:foo:code=" + secret, vigil.ErrInvalid, "_has"},
		{"Patient", "_has:Observation:patient:foo=" + secret, vigil.ErrInvalid, "_has"},
		{"Patient", "_has:Observation:patient:date=" + secret, vigil.ErrInvalid, "date"},
		{"Practitioner", "_has:Observation:patient:code=" + secret, vigil.ErrInvalid, "_has"},
		{"", "_has:Observation:patient:code=" + secret, vigil.ErrInvalid, "_has"},
		{"Patient", "_count=-1", vigil.ErrInvalid, "_count"},
		{"Patient", "_count:x=1", vigil.ErrInvalid, "_count"},
		{"Patient", "_count=" + secret, vigil.ErrInvalid, "_count"},
		{"Patient", "_summary=" + secret, vigil.ErrInvalid, "_summary"},
		{"Patient", "_total=" + secret, vigil.ErrInvalid, "_total"},
		{"Patient", "_elements=" + secret + "!", vigil.ErrInvalid, "_elements"},
		{"Patient", "_sort=foo", vigil.ErrInvalid, "foo"},
		{"Observation", "_sort=code-value-quantity", vigil.ErrInvalid, "_sort"},
		{"Patient", "_include=" + secret, vigil.ErrInvalid, "_include"},
		{"Patient", "_include=Nope:x", vigil.ErrInvalid, "_include"},
		{"Patient", "_include=Observation:status", vigil.ErrInvalid, "_include"},
		{"Patient", "_include=Observation:foo", vigil.ErrInvalid, "foo"},
		{"Patient", "_include:bad=Observation:subject", vigil.ErrInvalid, "_include"},
		{"", "name=x", vigil.ErrInvalid, "name"},
		{"", "_include=*", vigil.ErrInvalid, "_include"},
		{"Observation", "subject.subject.subject.subject.subject.subject.name=x", vigil.ErrInvalid, "subject"},
	} {
		t.Run(tc.typ+"?"+tc.query, func(t *testing.T) {
			_, _, _, err := m.ParseSearch(tc.typ, mustQuery(t, tc.query), true)
			var ve *vigil.Error
			if !errors.As(err, &ve) || !errors.Is(err, tc.kind) {
				t.Fatalf("ParseSearch(%s, %q) error = %v, want a *vigil.Error of kind %v", tc.typ, tc.query, err, tc.kind)
			}
			if strings.Contains(ve.Message, secret) {
				t.Errorf("ParseSearch(%s, %q) message %q echoes the value", tc.typ, tc.query, ve.Message)
			}
			if !strings.Contains(ve.Message, tc.mention) {
				t.Errorf("ParseSearch(%s, %q) message %q does not name %q", tc.typ, tc.query, ve.Message, tc.mention)
			}
		})
	}
}

func TestParseSearchLenient(t *testing.T) {
	m := parseModel(t)
	q, _, issues, err := m.ParseSearch("Patient", mustQuery(t, "foo=1&name=x&_sort=bar&_include=Observation:baz"), false)
	if err != nil {
		t.Fatalf("ParseSearch() error: %v", err)
	}
	if len(q.Params) != 1 || q.Params[0].Name != "name" || len(q.Sort) != 0 || len(q.Include) != 0 {
		t.Errorf("ParseSearch() = %+v, want only the name filter", q)
	}
	if len(issues) != 3 {
		t.Fatalf("issues = %+v, want 3", issues)
	}
	for _, is := range issues {
		if is.Severity != "warning" || is.Code != "not-supported" || is.Message == "" {
			t.Errorf("issue %+v, want a not-supported warning", is)
		}
	}
	// Malformed values are errors even when lenient.
	if _, _, _, err := m.ParseSearch("Patient", mustQuery(t, "birthdate=x"), false); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("lenient malformed date error = %v, want ErrInvalid", err)
	}
}

func TestSearchParamsList(t *testing.T) {
	m := searchModel(t)
	ps := m.SearchParams("Observation")
	if !slices.IsSortedFunc(ps, func(a, b SearchParamDef) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("SearchParams not sorted by name")
	}
	byName := map[string]SearchParamDef{}
	for _, p := range ps {
		byName[p.Name] = p
	}
	if _, ok := byName["_id"]; ok {
		t.Errorf("SearchParams lists _id")
	}
	if p := byName["subject"]; p.Type != vigil.ParamReference || p.Definition != "http://hl7.org/fhir/SearchParameter/Observation-subject" || len(p.Targets) == 0 {
		t.Errorf("subject = %+v", p)
	}
	if p := byName["code-value-quantity"]; p.Type != vigil.ParamComposite || len(p.Components) != 2 ||
		p.Components[0].Type != vigil.ParamToken || p.Components[1].Type != vigil.ParamQuantity {
		t.Errorf("code-value-quantity = %+v", p)
	}
	if _, ok := byName["_tag"]; !ok {
		t.Errorf("SearchParams lacks _tag")
	}
	if got := m.SearchParams("Nope"); len(got) != 0 {
		t.Errorf("SearchParams(Nope) = %v, want none", got)
	}
	if _, ok := byName["near"]; ok {
		t.Errorf("near listed for Observation")
	}
	if !slices.ContainsFunc(m.SearchParams("Location"), func(p SearchParamDef) bool { return p.Name == "near" && p.Type == vigil.ParamSpecial }) {
		t.Errorf("Location's near not listed")
	}
}

func TestPatientCompartment(t *testing.T) {
	m := searchModel(t)
	c := m.PatientCompartment()
	if !slices.Contains(c["Observation"], "subject") {
		t.Errorf("PatientCompartment()[Observation] = %v, want subject", c["Observation"])
	}
	c["Observation"] = nil
	if c2 := m.PatientCompartment(); len(c2["Observation"]) == 0 {
		t.Errorf("PatientCompartment() shares its map with callers")
	}
	// Every compartment parameter is a reference parameter of its type.
	for typ, params := range c {
		for _, p := range params {
			if pd := m.search.lookup(typ, p); pd == nil || pd.Type != vigil.ParamReference {
				t.Errorf("compartment %s.%s is not a reference parameter", typ, p)
			}
		}
	}
}

func BenchmarkParseSearch(b *testing.B) {
	m := parseModel(b)
	q := mustQuery(b, "subject=Patient/123&code=http://loinc.org|8867-4,http://loinc.org|8480-6&date=ge2024-01-01&date=lt2024-02-01T10:00:00Z"+
		"&value-quantity=gt100|http://unitsofmeasure.org|mm[Hg]&_sort=-date&_count=50&_include=Observation:subject")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := m.ParseSearch("Observation", q, true); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseSearchType(t *testing.T) {
	m := parseModel(t)
	for _, tc := range []struct {
		query    string
		typ      string
		types    []string
		nParams  int
		wantKind error
	}{
		{"_type=Observation&code=8867-4", "Observation", nil, 1, nil},
		{"_type=Patient,Observation,Patient&_id=1", "", []string{"Observation", "Patient"}, 1, nil},
		{"_type=Patient&_type=Practitioner&_lastUpdated=gt2020", "", []string{"Patient", "Practitioner"}, 1, nil},
		{"_type=Nope", "", nil, 0, vigil.ErrInvalid},
		{"_type=", "", nil, 0, vigil.ErrInvalid},
		{"_type=Patient,Observation&code=x", "", nil, 0, vigil.ErrInvalid}, // code is not common to all types
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, _, _, err := m.ParseSearch("", mustQuery(t, tc.query), true)
			if tc.wantKind != nil {
				if !errors.Is(err, tc.wantKind) {
					t.Fatalf("err = %v, want %v", err, tc.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.Type != tc.typ || !slices.Equal(q.Types, tc.types) || len(q.Params) != tc.nParams {
				t.Errorf("Type %q Types %v, %d params; want %q %v %d", q.Type, q.Types, len(q.Params), tc.typ, tc.types, tc.nParams)
			}
		})
	}
	if _, _, _, err := m.ParseSearch("Patient", mustQuery(t, "_type=Patient"), true); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("_type on a type search: err = %v, want ErrInvalid", err)
	}
}
