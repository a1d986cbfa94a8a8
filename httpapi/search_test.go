package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// seed creates resources through the API and returns a map name → id.
func seed(t *testing.T, base string, resources map[string]string) map[string]string {
	t.Helper()
	names := make([]string, 0, len(resources))
	for n := range resources {
		names = append(names, n)
	}
	sort.Strings(names)
	ids := map[string]string{}
	// Resources may refer to earlier ones as {{name}}; create in dependency order.
	for len(ids) < len(names) {
		progress := false
		for _, n := range names {
			if _, done := ids[n]; done {
				continue
			}
			body := resources[n]
			ready := true
			for m := range resources {
				if strings.Contains(body, "{{"+m+"}}") {
					id, ok := ids[m]
					if !ok {
						ready = false
						break
					}
					body = strings.ReplaceAll(body, "{{"+m+"}}", id)
				}
			}
			if !ready {
				continue
			}
			typ := strings.SplitN(strings.SplitN(body, `"resourceType":"`, 2)[1], `"`, 2)[0]
			r := do(t, "POST", base+"/"+typ, fj, []byte(body))
			if r.status != http.StatusCreated {
				t.Fatalf("seed %s: status %d: %s", n, r.status, r.raw)
			}
			ids[n] = r.body["id"].(string)
			progress = true
		}
		if !progress {
			t.Fatal("seed: circular references")
		}
	}
	return ids
}

// matchIDs runs a search and returns the ids of the matches (search mode
// "match"), sorted, or fails the test when the status is not 200.
func matchIDs(t *testing.T, base, query string) []string {
	t.Helper()
	r := do(t, "GET", base+"/"+query, "", nil)
	if r.status != 200 {
		t.Fatalf("GET %s: status %d: %s", query, r.status, r.raw)
	}
	var ids []string
	for _, e := range entries(r.body) {
		m := e.(map[string]any)
		if s, _ := m["search"].(map[string]any); s["mode"] == "match" {
			ids = append(ids, m["resource"].(map[string]any)["id"].(string))
		}
	}
	sort.Strings(ids)
	return ids
}

func TestSearch(t *testing.T) { eachStore(t, testSearch) }

func testSearch(t *testing.T, srv *httptest.Server) {
	base := srv.URL + "/fhir"
	obs := func(patient, code, system, effective, value string) string {
		return `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"` + system + `","code":"` + code + `"}]},"subject":{"reference":"Patient/{{` + patient + `}}"},"effectiveDateTime":"` + effective + `",` + value + `}`
	}
	ids := seed(t, base, map[string]string{
		"peter":   `{"resourceType":"Patient","name":[{"family":"Chalmers","given":["Peter","James"]}],"gender":"male","birthDate":"1974-12-25","identifier":[{"system":"urn:mrn","value":"12345"}],"telecom":[{"system":"email","value":"peter@example.org"}]}`,
		"jose":    `{"resourceType":"Patient","name":[{"family":"Muñoz","given":["José"]}],"gender":"male","birthDate":"1980-02","active":true,"identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},"system":"urn:other","value":"777"}]}`,
		"amy":     `{"resourceType":"Patient","name":[{"family":"Shaw","given":["Amy"]}],"gender":"female","birthDate":"2001-07-14","active":false,"generalPractitioner":[{"reference":"Practitioner/{{drsmith}}"}]}`,
		"drsmith": `{"resourceType":"Practitioner","name":[{"family":"Smith","given":["Adam"]}]}`,
		"clinic":  `{"resourceType":"Location","name":"Clinic","position":{"latitude":51.5074,"longitude":-0.1278}}`,
		"annex":   `{"resourceType":"Location","name":"Annex","position":{"latitude":51.4769,"longitude":0.0005}}`,
		"nowhere": `{"resourceType":"Location","name":"No position"}`,
		"hr1":     obs("peter", "8867-4", "http://loinc.org", "2024-03-01T10:00:00Z", `"valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}`),
		"hr2":     obs("peter", "8867-4", "http://loinc.org", "2024-03-02T10:00:00Z", `"valueQuantity":{"value":118,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}`),
		"wt":      obs("peter", "29463-7", "http://loinc.org", "2024-03-02", `"valueQuantity":{"value":81500,"unit":"g","system":"http://unitsofmeasure.org","code":"g"}`),
		"temp":    obs("jose", "8310-5", "http://loinc.org", "2024-03-05T08:30:00+02:00", `"valueQuantity":{"value":100.4,"unit":"°F","system":"http://unitsofmeasure.org","code":"[degF]"}`),
		"byid":    `{"resourceType":"Observation","status":"final","code":{"text":"outside lab"},"subject":{"type":"Patient","identifier":{"system":"urn:mrn","value":"12345"},"display":"P. Chalmers"}}`,
		"bp": `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"subject":{"reference":"Patient/{{amy}}"},"effectivePeriod":{"start":"2024-02-01T00:00:00Z","end":"2024-02-01T00:05:00Z"},
			"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":185,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
			{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":95,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`,
	})
	id := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = ids[n]
		}
		sort.Strings(out)
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		// string
		{"Patient?family=chal", id("peter")},
		{"Patient?family=munoz", id("jose")},
		{"Patient?family:exact=Muñoz", id("jose")},
		{"Patient?family:exact=munoz", nil},
		{"Patient?name:contains=ame", id("peter")},
		{"Patient?given=peter,amy", id("peter", "amy")},
		// token
		{"Patient?gender=male", id("peter", "jose")},
		{"Patient?gender:not=male", id("amy")},
		// a code element's system is its required binding's
		{"Patient?gender=http://hl7.org/fhir/administrative-gender|male", id("peter", "jose")},
		{"Patient?gender=http://hl7.org/fhir/administrative-gender|", id("peter", "jose", "amy")},
		{"Patient?gender=http://example.org/other|male", nil},
		{"Observation?status=http://hl7.org/fhir/observation-status|final", id("hr1", "hr2", "wt", "temp", "byid", "bp")},
		{"Patient?identifier=urn:mrn|12345", id("peter")},
		{"Patient?identifier=|12345", nil},
		{"Patient?identifier=12345", id("peter")},
		{"Patient?active=true", id("jose")},
		{"Patient?email=peter@example.org", id("peter")},
		{"Observation?code=http://loinc.org|8867-4", id("hr1", "hr2")},
		{"Observation?code=http://loinc.org|", id("hr1", "hr2", "wt", "temp", "bp")},
		// special: near (9.51 km between clinic and annex)
		{"Location?near=51.5074|-0.1278|5|km", id("clinic")},
		{"Location?near=51.5074|-0.1278", id("clinic", "annex")},
		{"Location?near=51.5074|-0.1278|9000|m", id("clinic")},
		{"Location?near=51.5074|-0.1278|6|[mi_i]", id("clinic", "annex")},
		{"Location?near=51.5074|-0.1278|5,51.4769|0.0005|1&name=annex", id("annex")},
		// missing
		{"Patient?active:missing=true", id("peter")},
		{"Patient?active:missing=false", id("jose", "amy")},
		// date
		{"Patient?birthdate=1974", id("peter")},
		{"Patient?birthdate=1980-02-10", nil},
		{"Patient?birthdate=ge1980-02-10", id("jose", "amy")},
		{"Patient?birthdate=lt1980", id("peter")},
		{"Patient?birthdate=sa1980-01-31", id("jose", "amy")},
		{"Observation?date=2024-03-02", id("hr2", "wt")},
		{"Observation?date=gt2024-03-02T09:00:00Z", id("hr2", "temp", "wt")},
		{"Observation?date=lt2024-03-01T10:00:01Z", id("hr1", "bp")},
		{"Observation?date=2024-03-05T06:30:00Z", id("temp")},
		{"Observation?date=eb2024-03", id("bp")},
		{"Observation?date=ge2024-03-01&date=le2024-03-01", id("hr1")},
		// reference
		{"Observation?subject=Patient/" + ids["peter"], id("hr1", "hr2", "wt")},
		{"Observation?subject=" + ids["peter"], id("hr1", "hr2", "wt")},
		{"Observation?patient=" + ids["amy"], id("bp")},
		{"Observation?subject:Patient=" + ids["jose"], id("temp")},
		// chained
		{"Observation?subject:Patient.name=shaw", id("bp")},
		{"Observation?subject.gender=male&code=http://loinc.org|8867-4", id("hr1", "hr2")},
		{"Observation?subject:Patient.general-practitioner.name=smith", id("bp")},
		// token :of-type
		{"Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|777", id("jose")},
		{"Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345", nil},
		{"Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|777", nil},
		{"Patient?identifier=urn:other|777", id("jose")},
		// reference :identifier
		{"Observation?subject:identifier=urn:mrn|12345", id("byid")},
		{"Observation?subject:identifier=12345", id("byid")},
		{"Observation?subject:identifier=urn:other|12345", nil},
		{"Observation?patient:identifier=urn:mrn|12345", id("byid")},
		// reverse chained (_has)
		{"Patient?_has:Observation:patient:code=8867-4", id("peter")},
		{"Patient?_has:Observation:subject:value-quantity=gt100&gender=male", id("peter", "jose")},
		{"Patient?_has:Observation:subject:component-code-value-quantity=http://loinc.org|8480-6$gt180", id("amy")},
		{"Practitioner?_has:Patient:general-practitioner:_has:Observation:subject:code=85354-9", id("drsmith")},
		{"Practitioner?_has:Patient:general-practitioner:_has:Observation:subject:code=8867-4", nil},
		// quantity, with UCUM conversion where units match
		{"Observation?value-quantity=gt100", id("hr2", "wt", "temp")},
		{"Observation?value-quantity=72||/min", id("hr1")},
		{"Observation?value-quantity=81.5|http://unitsofmeasure.org|kg", id("wt")},
		{"Observation?value-quantity=gt37.5|http://unitsofmeasure.org|Cel", id("temp")},
		{"Observation?value-quantity=lt37.5|http://unitsofmeasure.org|Cel", nil},
		{"Observation?value-quantity=ap70||/min", id("hr1")},
		// composite
		{"Observation?component-code-value-quantity=http://loinc.org|8480-6$gt180", id("bp")},
		{"Observation?component-code-value-quantity=http://loinc.org|8462-4$gt180", nil},
		{"Observation?code-value-quantity=http://loinc.org|8867-4$ge100", id("hr2")},
		// _id, _lastUpdated
		{"Patient?_id=" + ids["peter"] + "," + ids["amy"], id("peter", "amy")},
		{"Patient?_lastUpdated=gt2000-01-01", id("peter", "jose", "amy")},
		{"Patient?_lastUpdated=lt2000-01-01", nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			got := matchIDs(t, base, tc.query)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("GET %s = %v, want %v", tc.query, got, tc.want)
			}
		})
	}

	t.Run("metadata lists near", func(t *testing.T) {
		r := do(t, "GET", base+"/metadata", "", nil)
		var cs struct {
			Rest []struct {
				Resource []struct {
					Type        string
					SearchParam []struct{ Name, Type, Documentation string }
				}
			}
		}
		if err := json.Unmarshal(r.raw, &cs); err != nil || len(cs.Rest) == 0 {
			t.Fatalf("metadata: %v", err)
		}
		for _, res := range cs.Rest[0].Resource {
			for _, p := range res.SearchParam {
				if p.Name == "near" {
					if res.Type != "Location" || p.Type != "special" || !strings.Contains(p.Documentation, "10 km") {
						t.Errorf("%s near = %+v, want Location's, special, documenting the 10 km default", res.Type, p)
					}
					return
				}
			}
		}
		t.Error("no resource lists near")
	})

	t.Run("POST _search", func(t *testing.T) {
		form := url.Values{"family": {"shaw"}}
		r := do(t, "POST", base+"/Patient/_search", "application/x-www-form-urlencoded", []byte(form.Encode()))
		if r.status != 200 || len(entries(r.body)) != 1 {
			t.Fatalf("POST _search: status %d, %d entries: %s", r.status, len(entries(r.body)), r.raw)
		}
	})
	t.Run("_include and _revinclude", func(t *testing.T) {
		r := do(t, "GET", base+"/Observation?code=http://loinc.org|85354-9&_include=Observation:subject", "", nil)
		types := map[string]string{}
		for _, e := range entries(r.body) {
			m := e.(map[string]any)
			types[m["resource"].(map[string]any)["resourceType"].(string)] = m["search"].(map[string]any)["mode"].(string)
		}
		if types["Observation"] != "match" || types["Patient"] != "include" {
			t.Errorf("_include: got %v", types)
		}
		r = do(t, "GET", base+"/Patient?_id="+ids["peter"]+"&_revinclude=Observation:subject", "", nil)
		if n := len(entries(r.body)); n != 4 {
			t.Errorf("_revinclude: %d entries, want 1 patient + 3 observations: %s", n, r.raw)
		}
	})
	t.Run("_sort, _count and paging", func(t *testing.T) {
		r := do(t, "GET", base+"/Patient?_sort=-birthdate&_count=2", "", nil)
		var got []string
		for _, e := range entries(r.body) {
			got = append(got, e.(map[string]any)["resource"].(map[string]any)["id"].(string))
		}
		if fmt.Sprint(got) != fmt.Sprint([]string{ids["amy"], ids["jose"]}) {
			t.Errorf("_sort=-birthdate page 1 = %v, want amy, jose", got)
		}
		next := link(r.body, "next")
		if next == "" {
			t.Fatalf("no next link: %s", r.raw)
		}
		// A new resource that sorts first must not shift the next page.
		seed(t, base, map[string]string{"baby": `{"resourceType":"Patient","birthDate":"2024-01-01"}`})
		p2 := do(t, "GET", next, "", nil)
		got = got[:0]
		for _, e := range entries(p2.body) {
			got = append(got, e.(map[string]any)["resource"].(map[string]any)["id"].(string))
		}
		if fmt.Sprint(got) != fmt.Sprint([]string{ids["peter"]}) {
			t.Errorf("page 2 = %v, want [peter]", got)
		}
	})
	t.Run("_summary=count, _total, _elements", func(t *testing.T) {
		r := do(t, "GET", base+"/Observation?subject=Patient/"+ids["peter"]+"&_summary=count", "", nil)
		if r.body["total"] != float64(3) || len(entries(r.body)) != 0 {
			t.Errorf("_summary=count: %s", r.raw)
		}
		r = do(t, "GET", base+"/Patient?_id="+ids["peter"]+"&_elements=gender", "", nil)
		res := entries(r.body)[0].(map[string]any)["resource"].(map[string]any)
		if _, has := res["name"]; has || res["gender"] != "male" {
			t.Errorf("_elements=gender kept %v", res)
		}
	})
	t.Run("conditional create, update, delete", func(t *testing.T) {
		body := `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"777"}]}`
		c1 := do(t, "POST", base+"/Patient", fj, []byte(body), "If-None-Exist", "identifier=urn:mrn|777")
		c2 := do(t, "POST", base+"/Patient", fj, []byte(body), "If-None-Exist", "identifier=urn:mrn|777")
		if c1.status != 201 || c2.status != 200 || c1.body["id"] != c2.body["id"] {
			t.Fatalf("conditional create: %d then %d", c1.status, c2.status)
		}
		u := do(t, "PUT", base+"/Patient?identifier=urn:mrn|777", fj, []byte(`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"777"}],"active":true}`))
		if u.status != 200 || u.body["id"] != c1.body["id"] {
			t.Fatalf("conditional update: status %d: %s", u.status, u.raw)
		}
		d := do(t, "DELETE", base+"/Patient?identifier=urn:mrn|777", "", nil)
		if d.status != 204 {
			t.Fatalf("conditional delete: status %d", d.status)
		}
		if got := matchIDs(t, base, "Patient?identifier=urn:mrn|777"); len(got) != 0 {
			t.Errorf("after conditional delete, search finds %v", got)
		}
	})
	t.Run("batch", func(t *testing.T) {
		b := `{"resourceType":"Bundle","type":"batch","entry":[
			{"request":{"method":"GET","url":"Patient/` + ids["peter"] + `"}},
			{"request":{"method":"GET","url":"Patient/does-not-exist"}},
			{"resource":{"resourceType":"Patient","gender":"robot"},"request":{"method":"POST","url":"Patient"}},
			{"resource":{"resourceType":"Patient","gender":"female"},"request":{"method":"POST","url":"Patient"}}]}`
		r := do(t, "POST", base, fj, []byte(b))
		if r.status != 200 {
			t.Fatalf("batch: status %d: %s", r.status, r.raw)
		}
		var st []string
		for _, e := range entries(r.body) {
			st = append(st, strings.Fields(e.(map[string]any)["response"].(map[string]any)["status"].(string))[0])
		}
		if fmt.Sprint(st) != "[200 404 422 201]" {
			t.Errorf("batch statuses = %v, want [200 404 422 201]", st)
		}
	})
	t.Run("history", func(t *testing.T) {
		r := do(t, "GET", base+"/Patient/_history?_count=2", "", nil)
		if r.status != 200 || len(entries(r.body)) != 2 || link(r.body, "next") == "" {
			t.Errorf("type history page: status %d, %d entries: %s", r.status, len(entries(r.body)), r.raw)
		}
		r = do(t, "GET", base+"/_history", "", nil)
		if r.status != 200 || len(entries(r.body)) == 0 {
			t.Errorf("system history: status %d", r.status)
		}
	})
}

// link returns the URL of a Bundle link relation.
func link(b map[string]any, rel string) string {
	ls, _ := b["link"].([]any)
	for _, l := range ls {
		m := l.(map[string]any)
		if m["relation"] == rel {
			return m["url"].(string)
		}
	}
	return ""
}
