package fhir

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
)

const examplesArchive = "../../shared/data/fhir-r4/hl7.fhir.r4.examples-4.0.1.tgz"

// indexRE strips array indexes, to group issues by element.
var indexRE = regexp.MustCompile(`\[\d+\]`)

// TestOfficialExamples decodes every example resource of the official R4
// examples package and reports how many pass, grouping failures by their
// first issue. Official examples are expected to pass except where they
// are genuinely invalid; the failures are logged, and the test fails only
// when the pass rate drops below the known level.
func TestOfficialExamples(t *testing.T) {
	m := testModel(t)
	var total, passed, notResource int
	groups := map[string][]string{}
	eachExample(t, func(name string, body []byte) {
		v, err := parseStrictJSON(body)
		if obj, ok := v.(map[string]any); err == nil && (!ok || obj["resourceType"] == nil) {
			notResource++ // package manifest or index, not a resource
			return
		}
		total++
		_, err = m.Decode(body)
		if err == nil {
			passed++
			return
		}
		var key string
		var ve *vigil.Error
		switch {
		case errors.As(err, &ve) && len(ve.Issues) > 0:
			is := ve.Issues[0]
			key = fmt.Sprintf("%s %s: %s", is.Code, indexRE.ReplaceAllString(is.Path, ""), is.Message)
		default:
			key = err.Error()
		}
		groups[key] = append(groups[key], name)
	})
	t.Logf("official examples: %d of %d resources pass (%d non-resource files skipped)", passed, total, notResource)
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return len(groups[keys[i]]) > len(groups[keys[j]]) || len(groups[keys[i]]) == len(groups[keys[j]]) && keys[i] < keys[j]
	})
	for _, k := range keys {
		names := groups[k]
		t.Logf("%4d  %s  (e.g. %s)", len(names), k, names[0])
	}
	if total == 0 {
		t.Fatal("no example resources found")
	}
	if failed := total - passed; failed > knownInvalidExamples {
		t.Errorf("%d official examples fail validation, want at most %d (the known invalid ones)", failed, knownInvalidExamples)
	}
}

// eachExample calls fn with the name and content of every .json file of
// the official R4 examples archive, skipping the test when it is absent.
func eachExample(t *testing.T, fn func(name string, data []byte)) {
	t.Helper()
	f, err := os.Open(examplesArchive)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("examples archive %s not present", examplesArchive)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".json") {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fn(h.Name, data)
	}
}

// knownInvalidExamples is how many official R4 examples break the R4
// structure definitions themselves: 10 SearchParameters without the
// required base, 2 ImplementationGuides without the required name, a
// Questionnaire item without the required linkId, a SearchParameter
// whose id is longer than the 64 characters an id allows, and 4 examples
// whose references point at types their element does not allow
// (DeviceMetric.parent at a DeviceDefinition, DeviceUseStatement.reasonReference
// at a Procedure, MedicationRequest.dispenseRequest.performer at a
// Practitioner, Observation.performer at an Encounter).
const knownInvalidExamples = 18

const syntheaDir = "../../shared/data/fhir-r4/synthea"

// TestSyntheaBundles decodes the Synthea patient bundles, real-world-like
// data that the server imports.
func TestSyntheaBundles(t *testing.T) {
	entries, err := os.ReadDir(syntheaDir)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("Synthea data %s not present", syntheaDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	m := testModel(t)
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		body, err := os.ReadFile(syntheaDir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		n++
		if _, err := m.Decode(body); err != nil {
			var ve *vigil.Error
			if errors.As(err, &ve) {
				t.Errorf("Decode(%s): %v; first issues: %v", e.Name(), err, ve.Issues[:min(5, len(ve.Issues))])
			} else {
				t.Errorf("Decode(%s): %v", e.Name(), err)
			}
		}
	}
	if n == 0 {
		t.Skipf("no Synthea bundles in %s", syntheaDir)
	}
}
