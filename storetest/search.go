package storetest

import (
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// searchCase is one row of a table-driven search test.
type searchCase struct {
	name string
	p    vigil.SearchParam
	want []string
}

// runCases checks each case as a single-parameter search on typ.
func runCases(t *testing.T, f *fx, typ string, cases []searchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.t = t
			f.expectSet(query(typ, c.p), c.want...)
		})
	}
}

func testSearch(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	for _, g := range []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) vigil.ResourceStore)
	}{
		{"string", searchString},
		{"token", searchToken},
		{"reference", searchReference},
		{"date", searchDate},
		{"number", searchNumber},
		{"quantity", searchQuantity},
		{"uri", searchURI},
		{"composite", searchComposite},
		{"near", searchNear},
		{"missing", searchMissing},
		{"_id", searchID},
		{"_lastUpdated", searchLastUpdated},
		{"and or", searchAndOr},
		{"update replaces index", searchReindex},
	} {
		t.Run(g.name, func(t *testing.T) { g.fn(t, open) })
	}
}

func searchString(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Patient", "smith", str("name", "Smith"), str("name", "John"))
	f.save("Patient", "smithson", str("name", "Smithson"))
	f.save("Patient", "goldsmith", str("name", "Goldsmith"))
	f.save("Patient", "accent", vigil.IndexEntry{Param: "name", Type: vigil.ParamString, Text: "rene", Exact: "René"})
	f.save("Patient", "other", str("address", "Smith Street"))
	f.save("Patient", "none")
	s := func(v string) vigil.SearchParam { return param("name", vigil.ParamString, vText(v)) }
	runCases(t, f, "Patient", []searchCase{
		{"prefix", s("smi"), []string{"smith", "smithson"}},
		{"prefix full", s("smith"), []string{"smith", "smithson"}},
		{"prefix not infix", s("mith"), nil},
		{"second value of resource", s("jo"), []string{"smith"}},
		{"normalised", s("rene"), []string{"accent"}},
		{"or", param("name", vigil.ParamString, vText("gold"), vText("smithson")), []string{"goldsmith", "smithson"}},
		{"exact", modified(s("Smith"), "exact"), []string{"smith"}},
		{"exact is case sensitive", modified(s("smith"), "exact"), nil},
		{"exact keeps accents", modified(param("name", vigil.ParamString, vigil.SearchValue{Text: "rene", Exact: "René"}), "exact"), []string{"accent"}},
		{"exact not prefix", modified(s("Smit"), "exact"), nil},
		{"contains", modified(s("mith"), "contains"), []string{"smith", "smithson", "goldsmith"}},
		{"contains end", modified(s("son"), "contains"), []string{"smithson"}},
		{"other param", param("address", vigil.ParamString, vText("smith")), []string{"other"}},
		{"wildcard chars are literal", s("sm%"), nil},
		{"underscore literal", modified(s("m_t"), "contains"), nil},
	})
}

func searchToken(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	const loinc, snomed = "http://loinc.org", "http://snomed.info/sct"
	f.save("Observation", "loinc", tokText("code", loinc, "8867-4", "heart rate"), vigil.IndexEntry{Param: "code", Type: vigil.ParamToken, Text: "pulse"})
	f.save("Observation", "snomed", tokText("code", snomed, "8867-4", "something else"))
	f.save("Observation", "nosys", tok("code", "", "8867-4"))
	f.save("Observation", "other", tok("code", loinc, "8310-5"))
	f.save("Observation", "none", tok("status", "", "final"))
	code := func(vs ...vigil.SearchValue) vigil.SearchParam { return param("code", vigil.ParamToken, vs...) }
	runCases(t, f, "Observation", []searchCase{
		{"code any system", code(vCode("8867-4")), []string{"loinc", "snomed", "nosys"}},
		{"system and code", code(vSysCode(loinc, "8867-4")), []string{"loinc"}},
		{"no system and code", code(vSysCode("", "8867-4")), []string{"nosys"}},
		{"system any code", code(vSysCode(loinc, "")), []string{"loinc", "other"}},
		{"code is case sensitive", code(vCode("8867-4X")), nil},
		{"or", code(vSysCode(snomed, "8867-4"), vCode("8310-5")), []string{"snomed", "other"}},
		{"text prefix", modified(code(vigil.SearchValue{Text: "heart"}), "text"), []string{"loinc"}},
		{"text of concept", modified(code(vigil.SearchValue{Text: "puls"}), "text"), []string{"loinc"}},
		{"text not infix", modified(code(vigil.SearchValue{Text: "rate"}), "text"), nil},
		{"not", modified(code(vSysCode(loinc, "8867-4")), "not"), []string{"snomed", "nosys", "other", "none"}},
		{"not or", modified(code(vSysCode(loinc, "8867-4"), vCode("8310-5")), "not"), []string{"snomed", "nosys", "none"}},
		{"not any system", modified(code(vCode("8867-4")), "not"), []string{"other", "none"}},
		{"other param", param("status", vigil.ParamToken, vCode("final")), []string{"none"}},
	})
}

func searchReference(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Observation", "p1", ref("subject", "Patient", "1"))
	f.save("Observation", "g1", ref("subject", "Group", "1"))
	f.save("Observation", "p2", ref("subject", "Patient", "2"), ref("performer", "Practitioner", "1"))
	f.save("Observation", "abs", refURI("subject", "http://other.org/fhir/Patient/1", ""))
	f.save("Questionnaire", "c10", refURI("derived-from", "http://acme.org/Questionnaire/q", "1.0"))
	f.save("Questionnaire", "c20", refURI("derived-from", "http://acme.org/Questionnaire/q", "2.0"))
	f.save("Questionnaire", "cnone", refURI("derived-from", "http://acme.org/Questionnaire/q", ""))
	subj := func(vs ...vigil.SearchValue) vigil.SearchParam { return param("subject", vigil.ParamReference, vs...) }
	runCases(t, f, "Observation", []searchCase{
		{"type and id", subj(vRef("Patient", "1")), []string{"p1"}},
		{"bare id any type", subj(vRef("", "1")), []string{"p1", "g1"}},
		{"or", subj(vRef("Patient", "2"), vRef("Group", "1")), []string{"p2", "g1"}},
		{"absolute uri", subj(vigil.SearchValue{URI: "http://other.org/fhir/Patient/1"}), []string{"abs"}},
		{"id is not a prefix", subj(vRef("Patient", "")), nil},
		{"other param", param("performer", vigil.ParamReference, vRef("Practitioner", "1")), []string{"p2"}},
	})
	dfrom := func(v vigil.SearchValue) vigil.SearchParam { return param("derived-from", vigil.ParamReference, v) }
	runCases(t, f, "Questionnaire", []searchCase{
		{"canonical any version", dfrom(vigil.SearchValue{URI: "http://acme.org/Questionnaire/q"}), []string{"c10", "c20", "cnone"}},
		{"canonical version", dfrom(vigil.SearchValue{URI: "http://acme.org/Questionnaire/q", RefVersion: "2.0"}), []string{"c20"}},
		{"canonical other", dfrom(vigil.SearchValue{URI: "http://acme.org/Questionnaire/r"}), nil},
	})
}

func searchDate(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	ts := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	d1s, d1e := day(2024, 1, 1)
	f.save("Observation", "day", date("date", d1s, d1e))
	f.save("Observation", "instant", date("date", ts(2024, 1, 1, 10), ts(2024, 1, 1, 10).Add(time.Millisecond)))
	f.save("Observation", "month", date("date", ts(2023, 6, 1, 0), ts(2023, 7, 1, 0)))
	f.save("Observation", "openend", date("date", ts(2024, 1, 1, 12), time.Time{}))
	f.save("Observation", "openstart", date("date", time.Time{}, ts(2023, 1, 1, 0)))
	d6s, d6e := day(2025, 3, 1)
	f.save("Observation", "later", date("date", d6s, d6e))
	f.save("Observation", "none", tok("code", "", "x"))
	s, e := day(2024, 1, 1)
	d := func(p vigil.Prefix) vigil.SearchParam { return param("date", vigil.ParamDate, vDate(p, s, e)) }
	runCases(t, f, "Observation", []searchCase{
		{"eq", d(vigil.PrefixEq), []string{"day", "instant"}},
		{"ne", d(vigil.PrefixNe), []string{"month", "openend", "openstart", "later"}},
		{"gt", d(vigil.PrefixGt), []string{"openend", "later"}},
		{"lt", d(vigil.PrefixLt), []string{"month", "openstart"}},
		{"ge", d(vigil.PrefixGe), []string{"day", "instant", "openend", "later"}},
		{"le", d(vigil.PrefixLe), []string{"day", "instant", "month", "openstart"}},
		{"sa", d(vigil.PrefixSa), []string{"later"}},
		{"eb", d(vigil.PrefixEb), []string{"month", "openstart"}},
		{"ap", d(vigil.PrefixAp), []string{"day", "instant", "openend"}},
		{"eq year", param("date", vigil.ParamDate, vDate(vigil.PrefixEq, ts(2023, 1, 1, 0), ts(2024, 1, 1, 0))), []string{"month"}},
		{"ap year", param("date", vigil.ParamDate, vDate(vigil.PrefixAp, ts(2022, 1, 1, 0), ts(2023, 1, 1, 0))), []string{"openstart"}},
		{"gt far future", param("date", vigil.ParamDate, vDate(vigil.PrefixGt, ts(2030, 1, 1, 0), ts(2030, 1, 2, 0))), []string{"openend"}},
		{"lt far past", param("date", vigil.ParamDate, vDate(vigil.PrefixLt, ts(1900, 1, 1, 0), ts(1900, 1, 2, 0))), []string{"openstart"}},
		{"or", param("date", vigil.ParamDate, vDate(vigil.PrefixSa, s, e), vDate(vigil.PrefixEb, s, e)), []string{"later", "month", "openstart"}},
	})
	t.Run("several entries", func(t *testing.T) {
		g := newFx(t, open)
		// A resource matches when any of its entries matches.
		a1, a2 := day(2020, 5, 5)
		b1, b2 := day(2022, 5, 5)
		g.save("Patient", "two", date("date", a1, a2), date("date", b1, b2))
		g.expectSet(query("Patient", param("date", vigil.ParamDate, vDate(vigil.PrefixEq, b1, b2))), "two")
		g.expectSet(query("Patient", param("date", vigil.ParamDate, vDate(vigil.PrefixLt, b1, b2))), "two")
		g.expectSet(query("Patient", param("date", vigil.ParamDate, vDate(vigil.PrefixGt, a1, a2))), "two")
		g.expectSet(query("Patient", param("date", vigil.ParamDate, vDate(vigil.PrefixGt, b1, b2))))
	})
}

func searchNumber(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("RiskAssessment", "n1.5", num("probability", 1.5, 1.45, 1.55))
	f.save("RiskAssessment", "n2", num("probability", 2, 1.5, 2.5))
	f.save("RiskAssessment", "n2.5", num("probability", 2.5, 2.45, 2.55))
	f.save("RiskAssessment", "n3", num("probability", 3, 2.5, 3.5))
	f.save("RiskAssessment", "n100", num("probability", 100, 99.5, 100.5))
	f.save("RiskAssessment", "neg", num("probability", -4, -4.5, -3.5))
	f.save("RiskAssessment", "none")
	n := func(p vigil.Prefix) vigil.SearchParam {
		return param("probability", vigil.ParamNumber, vNum(p, 2, 1.5, 2.5))
	}
	runCases(t, f, "RiskAssessment", []searchCase{
		{"eq", n(vigil.PrefixEq), []string{"n1.5", "n2"}},
		{"ne", n(vigil.PrefixNe), []string{"n2.5", "n3", "n100", "neg"}},
		{"gt", n(vigil.PrefixGt), []string{"n2.5", "n3", "n100"}},
		{"sa", n(vigil.PrefixSa), []string{"n2.5", "n3", "n100"}},
		{"lt", n(vigil.PrefixLt), []string{"n1.5", "neg"}},
		{"eb", n(vigil.PrefixEb), []string{"n1.5", "neg"}},
		{"ge", n(vigil.PrefixGe), []string{"n2", "n2.5", "n3", "n100"}},
		{"le", n(vigil.PrefixLe), []string{"n1.5", "n2", "neg"}},
		{"ap inclusive", param("probability", vigil.ParamNumber, vNum(vigil.PrefixAp, 2, 1.5, 3)), []string{"n1.5", "n2", "n2.5", "n3"}},
		{"eq precise", param("probability", vigil.ParamNumber, vNum(vigil.PrefixEq, 100, 100, 100.0000001)), []string{"n100"}},
		{"negative", param("probability", vigil.ParamNumber, vNum(vigil.PrefixLt, 0, -0.5, 0.5)), []string{"neg"}},
		{"or", param("probability", vigil.ParamNumber, vNum(vigil.PrefixGt, 50, 49.5, 50.5), vNum(vigil.PrefixLt, 0, -0.5, 0.5)), []string{"n100", "neg"}},
	})
}

func searchQuantity(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	const ucum = "http://unitsofmeasure.org"
	f.save("Observation", "1g", qty("value-quantity", 1, ucum, "g", "g", 1))
	f.save("Observation", "1000mg", qty("value-quantity", 1000, ucum, "mg", "g", 1))
	f.save("Observation", "1lb", qty("value-quantity", 1, ucum, "[lb_av]", "g", 453.59237))
	f.save("Observation", "1tab", qty("value-quantity", 1, "", "tablet", "", 0))
	f.save("Observation", "2g", qty("value-quantity", 2, ucum, "g", "g", 2))
	f.save("Observation", "1other", qty("value-quantity", 1, "http://other.org", "g", "", 0))
	f.save("Observation", "none")
	canon := func(p vigil.Prefix) vigil.SearchParam {
		return param("value-quantity", vigil.ParamQuantity, vigil.SearchValue{
			Prefix: p, Value: 1, Low: 0.95, High: 1.05, System: ucum, Code: "g",
			CanonCode: "g", CanonValue: 1, CanonLow: 0.95, CanonHigh: 1.05,
		})
	}
	plain := func(p vigil.Prefix, v, lo, hi float64, system, code string) vigil.SearchParam {
		return param("value-quantity", vigil.ParamQuantity, vigil.SearchValue{Prefix: p, Value: v, Low: lo, High: hi, System: system, Code: code})
	}
	runCases(t, f, "Observation", []searchCase{
		{"canonical eq", canon(vigil.PrefixEq), []string{"1g", "1000mg"}},
		{"canonical gt", canon(vigil.PrefixGt), []string{"1lb", "2g"}},
		{"canonical ge", canon(vigil.PrefixGe), []string{"1g", "1000mg", "1lb", "2g"}},
		{"canonical lt", canon(vigil.PrefixLt), nil},
		{"canonical le", canon(vigil.PrefixLe), []string{"1g", "1000mg"}},
		{"canonical ne", canon(vigil.PrefixNe), []string{"1lb", "2g"}},
		{"canonical mg", param("value-quantity", vigil.ParamQuantity, vigil.SearchValue{
			Value: 2000, Low: 1999.5, High: 2000.5, System: ucum, Code: "mg",
			CanonCode: "g", CanonValue: 2, CanonLow: 1.9995, CanonHigh: 2.0005}), []string{"2g"}},
		{"unit code", plain(vigil.PrefixEq, 1, 0.95, 1.05, "", "tablet"), []string{"1tab"}},
		{"unit code and system", plain(vigil.PrefixEq, 1, 0.95, 1.05, "http://other.org", "g"), []string{"1other"}},
		{"unit code any system", plain(vigil.PrefixEq, 1, 0.95, 1.05, "", "g"), []string{"1g", "1other"}},
		{"unit code mg no canon", plain(vigil.PrefixEq, 1000, 999.5, 1000.5, "", "mg"), []string{"1000mg"}},
		{"no unit", plain(vigil.PrefixEq, 1, 0.95, 1.05, "", ""), []string{"1g", "1lb", "1tab", "1other"}},
		{"no unit gt", plain(vigil.PrefixGt, 1, 0.95, 1.05, "", ""), []string{"1000mg", "2g"}},
		{"no unit ap", plain(vigil.PrefixAp, 1.5, 0.9, 2.1, "", ""), []string{"1g", "1lb", "1tab", "2g", "1other"}},
	})
}

func searchURI(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("ValueSet", "vs", uri("url", "http://acme.org/fhir/ValueSet/123"))
	f.save("ValueSet", "hist", uri("url", "http://acme.org/fhir/ValueSet/123/_history/5"))
	f.save("ValueSet", "root", uri("url", "http://acme.org/fhir"))
	f.save("ValueSet", "oid", uri("url", "urn:oid:1.2.3"))
	f.save("ValueSet", "none")
	u := func(v, mod string) vigil.SearchParam {
		return modified(param("url", vigil.ParamURI, vigil.SearchValue{URI: v}), mod)
	}
	runCases(t, f, "ValueSet", []searchCase{
		{"eq", u("http://acme.org/fhir/ValueSet/123", ""), []string{"vs"}},
		{"eq not prefix", u("http://acme.org/fhir/ValueSet", ""), nil},
		{"urn", u("urn:oid:1.2.3", ""), []string{"oid"}},
		{"below", u("http://acme.org/fhir/ValueSet", "below"), []string{"vs", "hist"}},
		{"above", u("http://acme.org/fhir/ValueSet/123/_history/5", "above"), []string{"vs", "hist", "root"}},
		{"above none", u("http://other.org/x", "above"), nil},
	})
}

func searchComposite(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	const cvq = "code-value-quantity"
	const loinc = "http://loinc.org"
	// "a" has two combinations: (A, 10) and (B, 20).
	f.save("Observation", "a",
		part(cvq, 1, 0, tok("", loinc, "A")), part(cvq, 1, 1, qty("", 10, "", "", "", 0)),
		part(cvq, 2, 0, tok("", loinc, "B")), part(cvq, 2, 1, qty("", 20, "", "", "", 0)),
		tok("code", loinc, "A"), tok("code", loinc, "B"))
	f.save("Observation", "b",
		part(cvq, 1, 0, tok("", loinc, "B")), part(cvq, 1, 1, qty("", 10, "", "", "", 0)))
	f.save("Observation", "c", tok("code", loinc, "A"))
	cd := func(code string, p vigil.Prefix, v float64) vigil.SearchValue {
		return vigil.SearchValue{Components: []vigil.SearchValue{
			{Code: code, AnySystem: true},
			{Prefix: p, Value: v, Low: v - 0.5, High: v + 0.5},
		}}
	}
	comp := func(vs ...vigil.SearchValue) vigil.SearchParam { return param(cvq, vigil.ParamComposite, vs...) }
	runCases(t, f, "Observation", []searchCase{
		{"first pair", comp(cd("A", vigil.PrefixEq, 10)), []string{"a"}},
		{"second pair", comp(cd("B", vigil.PrefixEq, 20)), []string{"a"}},
		{"not across pairs", comp(cd("A", vigil.PrefixEq, 20)), nil},
		{"other resource", comp(cd("B", vigil.PrefixEq, 10)), []string{"b"}},
		{"prefix in component", comp(cd("B", vigil.PrefixGe, 10)), []string{"a", "b"}},
		{"or", comp(cd("A", vigil.PrefixEq, 20), cd("B", vigil.PrefixLt, 15)), []string{"b"}},
		{"system in component", comp(vigil.SearchValue{Components: []vigil.SearchValue{
			{System: loinc, Code: "A"}, {Value: 10, Low: 9.5, High: 10.5}}}), []string{"a"}},
		{"missing", missing(cvq, vigil.ParamComposite, true), []string{"c"}},
	})
	t.Run("date component", func(t *testing.T) {
		g := newFx(t, open)
		s1, e1 := day(2024, 3, 1)
		s2, e2 := day(2024, 4, 1)
		g.save("Group", "g",
			part("characteristic-value", 1, 0, tok("", "", "onset")), part("characteristic-value", 1, 1, date("", s1, e1)),
			part("characteristic-value", 2, 0, tok("", "", "end")), part("characteristic-value", 2, 1, date("", s2, e2)))
		cv := func(code string, s, e time.Time) vigil.SearchParam {
			return param("characteristic-value", vigil.ParamComposite, vigil.SearchValue{Components: []vigil.SearchValue{
				{Code: code, AnySystem: true}, {Start: s, End: e}}})
		}
		g.expectSet(query("Group", cv("onset", s1, e1)), "g")
		g.expectSet(query("Group", cv("onset", s2, e2)))
		g.expectSet(query("Group", cv("end", s2, e2)), "g")
	})
}

func searchMissing(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	s, e := day(1980, 1, 1)
	f.save("Patient", "full", str("name", "x"), date("birthdate", s, e), tok("gender", "", "f"),
		ref("general-practitioner", "Practitioner", "1"), uri("url", "http://x"), num("n", 1, 0.5, 1.5),
		qty("q", 1, "", "mg", "", 0))
	f.save("Patient", "empty")
	f.save("Patient", "gone", str("name", "x"), date("birthdate", s, e))
	f.del("Patient", "gone")
	var cases []searchCase
	for _, p := range []struct {
		name string
		typ  vigil.ParamType
	}{
		{"name", vigil.ParamString}, {"birthdate", vigil.ParamDate}, {"gender", vigil.ParamToken},
		{"general-practitioner", vigil.ParamReference}, {"url", vigil.ParamURI},
		{"n", vigil.ParamNumber}, {"q", vigil.ParamQuantity},
	} {
		cases = append(cases,
			searchCase{p.name + " true", missing(p.name, p.typ, true), []string{"empty"}},
			searchCase{p.name + " false", missing(p.name, p.typ, false), []string{"full"}})
	}
	runCases(t, f, "Patient", cases)
}

func searchID(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Patient", "a")
	f.save("Patient", "b")
	f.save("Patient", "ab")
	f.save("Observation", "a")
	runCases(t, f, "Patient", []searchCase{
		{"one", vID("a"), []string{"a"}},
		{"or", vID("a", "ab", "zz"), []string{"a", "ab"}},
		{"none", vID("zz"), nil},
	})
}

func searchLastUpdated(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	t1 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(1500 * time.Millisecond)
	t3 := time.Date(2024, 5, 2, 9, 0, 0, 0, time.UTC)
	for _, r := range []*vigil.Resource{doc("Patient", "t1", 1, t1), doc("Patient", "t2", 1, t2), doc("Patient", "t3", 1, t3)} {
		if err := f.put(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	lu := func(p vigil.Prefix, s, e time.Time) vigil.SearchParam {
		return param("_lastUpdated", vigil.ParamDate, vDate(p, s, e))
	}
	s, e := day(2024, 5, 1)
	runCases(t, f, "Patient", []searchCase{
		{"eq day", lu(vigil.PrefixEq, s, e), []string{"t1", "t2"}},
		{"eq instant", lu(vigil.PrefixEq, t2, t2.Add(time.Millisecond)), []string{"t2"}},
		{"eq second", lu(vigil.PrefixEq, t2.Truncate(time.Second), t2.Truncate(time.Second).Add(time.Second)), []string{"t2"}},
		{"gt instant", lu(vigil.PrefixGt, t2, t2.Add(time.Millisecond)), []string{"t3"}},
		{"ge instant", lu(vigil.PrefixGe, t2, t2.Add(time.Millisecond)), []string{"t2", "t3"}},
		{"lt instant", lu(vigil.PrefixLt, t2, t2.Add(time.Millisecond)), []string{"t1"}},
		{"le instant", lu(vigil.PrefixLe, t2, t2.Add(time.Millisecond)), []string{"t1", "t2"}},
		{"gt day", lu(vigil.PrefixGt, s, e), []string{"t3"}},
		{"ne day", lu(vigil.PrefixNe, s, e), []string{"t3"}},
		{"ap", lu(vigil.PrefixAp, t1.Add(-time.Hour), t1.Add(time.Hour)), []string{"t1", "t2"}},
	})
}

func searchAndOr(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	s, e := day(2024, 1, 10)
	f.save("Observation", "1", ref("subject", "Patient", "a"), tok("code", "l", "hr"), date("date", s, e))
	f.save("Observation", "2", ref("subject", "Patient", "a"), tok("code", "l", "bp"), date("date", s, e))
	f.save("Observation", "3", ref("subject", "Patient", "b"), tok("code", "l", "hr"), date("date", s, e))
	f.save("Observation", "4", ref("subject", "Patient", "a"), tok("code", "l", "hr"))
	subj := param("subject", vigil.ParamReference, vRef("Patient", "a"))
	hr := param("code", vigil.ParamToken, vSysCode("l", "hr"))
	when := param("date", vigil.ParamDate, vDate(vigil.PrefixGe, s, e))
	f.expectSet(query("Observation", subj, hr, when), "1")
	f.expectSet(query("Observation", subj, hr), "1", "4")
	f.expectSet(query("Observation", subj, param("code", vigil.ParamToken, vCode("hr"), vCode("bp")), when), "1", "2")
	// The same parameter twice is an AND.
	f.expectSet(query("Observation", hr, param("code", vigil.ParamToken, vCode("bp"))))
	f.expectSet(query("Observation", param("subject", vigil.ParamReference, vRef("Patient", "a")), param("subject", vigil.ParamReference, vRef("", "a"))), "1", "2", "4")
}

func searchReindex(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Observation", "o", tok("code", "l", "old"), str("note", "old"))
	f.save("Observation", "o", tok("code", "l", "new"))
	f.expectSet(query("Observation", param("code", vigil.ParamToken, vCode("old"))))
	f.expectSet(query("Observation", param("note", vigil.ParamString, vText("old"))))
	f.expectSet(query("Observation", param("code", vigil.ParamToken, vCode("new"))), "o")
	f.expectSet(query("Observation", missing("note", vigil.ParamString, true)), "o")
	f.del("Observation", "o")
	f.expectSet(query("Observation", param("code", vigil.ParamToken, vCode("new"))))
	f.expectSet(query("Observation", missing("note", vigil.ParamString, true)))
	f.expectSet(query("Observation", modified(param("code", vigil.ParamToken, vCode("x")), "not")))
}

// searchNear checks Location's near: great-circle distances (haversine,
// figures from an independent computation), one position's latitude and
// longitude taken together, any of a resource's positions, ORed values
// and the antimeridian.
func searchNear(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	pos := func(g int, lat, lon float64) []vigil.IndexEntry {
		return []vigil.IndexEntry{part("near", g, 0, num("", lat, lat, lat)), part("near", g, 1, num("", lon, lon, lon))}
	}
	f.save("Location", "london", pos(1, 51.5074, -0.1278)...)
	f.save("Location", "paris", pos(1, 48.8566, 2.3522)...)     // 343.56 km from london
	f.save("Location", "greenwich", pos(1, 51.4769, 0.0005)...) // 9.51 km from london
	f.save("Location", "sydney-paris", append(pos(1, -33.8688, 151.2093), pos(2, 48.8566, 2.3522)...)...)
	// london's latitude in one position and its longitude in another:
	// 6,339 and 4,615 km away, not near.
	f.save("Location", "split", append(pos(1, 51.5074, 100.0), pos(2, 10.0, -0.1278)...)...)
	f.save("Location", "fiji-west", pos(1, -17.0, 179.9)...) // 21.27 km from (-17, -179.9)
	f.save("Location", "none")
	near := func(vs ...vigil.Near) vigil.SearchParam {
		p := vigil.SearchParam{Name: "near", Type: vigil.ParamSpecial}
		for i := range vs {
			p.Values = append(p.Values, vigil.SearchValue{Near: &vs[i]})
		}
		return p
	}
	london := func(km float64) vigil.Near { return vigil.Near{Latitude: 51.5074, Longitude: -0.1278, Km: km} }
	runCases(t, f, "Location", []searchCase{
		{"5 km", near(london(5)), []string{"london"}},
		{"10 km", near(london(10)), []string{"london", "greenwich"}},
		{"343 km", near(london(343.5)), []string{"london", "greenwich"}},
		{"344 km", near(london(343.6)), []string{"london", "greenwich", "paris", "sydney-paris"}},
		{"0 km", near(london(0)), []string{"london"}},
		{"or", near(vigil.Near{Latitude: -33.87, Longitude: 151.21, Km: 1}, vigil.Near{Latitude: 51.4769, Longitude: 0.0005, Km: 1}),
			[]string{"sydney-paris", "greenwich"}},
		{"antimeridian", near(vigil.Near{Latitude: -17.0, Longitude: -179.9, Km: 22}), []string{"fiji-west"}},
		{"antimeridian, too far", near(vigil.Near{Latitude: -17.0, Longitude: -179.9, Km: 21}), nil},
		{"whole earth", near(vigil.Near{Latitude: 0, Longitude: 0, Km: 20100}), []string{"london", "paris", "greenwich", "sydney-paris", "split", "fiji-west"}},
	})
}
