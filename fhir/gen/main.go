// Command gen generates r4.json.gz, the FHIR R4 model data embedded by
// package fhir, from the official R4 definitions
// (https://hl7.org/fhir/R4/downloads.html: profiles-resources.json,
// profiles-types.json, valuesets.json, search-parameters.json and
// compartmentdefinition-patient.json).
//
// Usage:
//
//	go run ./gen -defs ../../shared/data/fhir-r4/definitions -out r4.json.gz
//
// The output is deterministic: maps are written with sorted keys, lists are
// sorted, and the gzip header carries no name or modification time, so
// running the generator twice on the same input gives the same bytes.
//
// Only definitions of the package's FHIR version (version.info) are kept:
// StructureDefinitions, ValueSets and SearchParameters of other releases,
// and snapshot elements that are not HL7's, which a distributor of the
// package may have added, are skipped and listed on stderr.
//
// The generator imports package fhir for the shape of the data, and
// package fhir embeds r4.json.gz; should that file ever be missing, create
// an empty one before running the generator.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigilhealth/vigil/fhir"
)

func main() {
	defs := flag.String("defs", "../../shared/data/fhir-r4/definitions", "directory holding the FHIR R4 definitions")
	out := flag.String("out", "r4.json.gz", "output file")
	flag.Parse()
	if err := run(*defs, *out, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir, out string, log io.Writer) error {
	data, err := Generate(dir, log)
	if err != nil {
		return err
	}
	return os.WriteFile(out, data, 0o644)
}

// Generate reads the definitions in dir and returns the gzipped JSON of the
// resulting fhir.Definitions. Progress notes (value set counts) go to log.
func Generate(dir string, log io.Writer) ([]byte, error) {
	defs, err := build(dir, log)
	if err != nil {
		return nil, err
	}
	return encode(defs)
}

func build(dir string, log io.Writer) (*fhir.Definitions, error) {
	version, err := readVersion(filepath.Join(dir, "version.info"))
	if err != nil {
		return nil, err
	}
	defs := &fhir.Definitions{Version: version}

	var sds []*structureDef
	for _, name := range []string{"profiles-types.json", "profiles-resources.json"} {
		var b bundle[json.RawMessage]
		if err := readJSON(filepath.Join(dir, name), &b); err != nil {
			return nil, err
		}
		for _, e := range b.Entry {
			var head struct {
				ResourceType string `json:"resourceType"`
			}
			if err := json.Unmarshal(*e.Resource, &head); err != nil {
				return nil, fmt.Errorf("parse %s: %w", name, err)
			}
			if head.ResourceType != "StructureDefinition" {
				continue
			}
			sd := new(structureDef)
			if err := json.Unmarshal(*e.Resource, sd); err != nil {
				return nil, fmt.Errorf("parse %s: %w", name, err)
			}
			if sd.FHIRVersion != version {
				// Definitions from another FHIR release that a distributor
				// added to the package (such as R4B's SubscriptionStatus).
				fmt.Fprintf(log, "gen: skipped StructureDefinition %s (FHIR %s, not %s)\n", sd.ID, sd.FHIRVersion, version)
				continue
			}
			sds = append(sds, sd)
		}
	}
	if err := buildTypes(defs, sds, log); err != nil {
		return nil, err
	}

	var vs bundle[valueSetOrCodeSystem]
	if err := readJSON(filepath.Join(dir, "valuesets.json"), &vs); err != nil {
		return nil, err
	}
	expanded, skipped := buildValueSets(defs, &vs, version)
	fmt.Fprintf(log, "gen: required code bindings: %d value sets expanded, %d skipped\n", expanded, len(skipped))
	for _, u := range skipped {
		fmt.Fprintf(log, "gen: not enforced (cannot expand): %s\n", u)
	}
	added, systems := buildTerminology(defs, &vs, version)
	fmt.Fprintf(log, "gen: search terminology: %d more value sets expanded, %d code systems\n", added, systems)

	var sp bundle[searchParameter]
	if err := readJSON(filepath.Join(dir, "search-parameters.json"), &sp); err != nil {
		return nil, err
	}
	defs.SearchParams = searchParams(&sp, version, log)

	var cd compartmentDef
	if err := readJSON(filepath.Join(dir, "compartmentdefinition-patient.json"), &cd); err != nil {
		return nil, err
	}
	defs.Compartment = compartment(&cd)
	return defs, nil
}

// encode writes defs as JSON into a gzip stream with a fixed header.
func encode(defs *fhir.Definitions) ([]byte, error) {
	js, err := json.Marshal(defs)
	if err != nil {
		return nil, fmt.Errorf("encode definitions: %w", err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// The zero Header has no name, comment or modification time.
	if _, err := zw.Write(js); err != nil {
		return nil, fmt.Errorf("compress definitions: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress definitions: %w", err)
	}
	return buf.Bytes(), nil
}

func readVersion(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read version: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "version="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("read version: no version= line in %s", path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read definitions: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", filepath.Base(path), err)
	}
	return nil
}

// bundle is the shape of the definition Bundles.
type bundle[T any] struct {
	Entry []struct {
		Resource *T `json:"resource"`
	} `json:"entry"`
}

type searchParameter struct {
	ResourceType string   `json:"resourceType"`
	URL          string   `json:"url"`
	Version      string   `json:"version"`
	Code         string   `json:"code"`
	Base         []string `json:"base"`
	Type         string   `json:"type"`
	Expression   string   `json:"expression"`
	Target       []string `json:"target"`
	Modifier     []string `json:"modifier"`
	Comparator   []string `json:"comparator"`
	Component    []struct {
		Definition string `json:"definition"`
		Expression string `json:"expression"`
	} `json:"component"`
}

// searchParams reduces the SearchParameter resources of the given FHIR
// version that have an expression, sorted by first base type, then code,
// then URL.
func searchParams(b *bundle[searchParameter], version string, log io.Writer) []fhir.RawSearchParam {
	var out []fhir.RawSearchParam
	for _, e := range b.Entry {
		r := e.Resource
		if r == nil || r.ResourceType != "SearchParameter" || r.Expression == "" || len(r.Base) == 0 {
			continue
		}
		if r.Version != version {
			fmt.Fprintf(log, "gen: skipped SearchParameter %s (version %s, not %s)\n", r.URL, r.Version, version)
			continue
		}
		p := fhir.RawSearchParam{
			Code:       r.Code,
			URL:        r.URL,
			Base:       sorted(r.Base),
			Type:       r.Type,
			Expression: r.Expression,
			Target:     sorted(r.Target),
			Modifier:   sorted(r.Modifier),
			Comparator: sorted(r.Comparator),
		}
		for _, c := range r.Component {
			p.Component = append(p.Component, fhir.RawSearchComponent{Definition: c.Definition, Expression: c.Expression})
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Base[0] != b.Base[0] {
			return a.Base[0] < b.Base[0]
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		return a.URL < b.URL
	})
	return out
}

type compartmentDef struct {
	Resource []struct {
		Code  string   `json:"code"`
		Param []string `json:"param"`
	} `json:"resource"`
}

// compartment maps resource types to the params that place them in the
// Patient compartment; types with no params are left out.
func compartment(cd *compartmentDef) map[string][]string {
	out := make(map[string][]string)
	for _, r := range cd.Resource {
		if len(r.Param) > 0 {
			out[r.Code] = append([]string(nil), r.Param...)
		}
	}
	return out
}

// sorted returns a sorted copy of s, or nil when s is empty.
func sorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}
