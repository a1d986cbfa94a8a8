package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilhealth/vigil/fhir"
)

// structureDef is the part of a StructureDefinition the generator reads
// (https://hl7.org/fhir/R4/structuredefinition.html).
type structureDef struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	URL          string `json:"url"`
	FHIRVersion  string `json:"fhirVersion"`
	Type         string `json:"type"`
	Kind         string `json:"kind"`
	Abstract     bool   `json:"abstract"`
	Derivation   string `json:"derivation"`
	Snapshot     struct {
		Element []*elementDef `json:"element"`
	} `json:"snapshot"`
}

// elementDef is the part of an ElementDefinition the generator reads
// (https://hl7.org/fhir/R4/elementdefinition.html).
type elementDef struct {
	Path             string    `json:"path"`
	Min              int       `json:"min"`
	Max              string    `json:"max"`
	ContentReference string    `json:"contentReference"`
	IsSummary        bool      `json:"isSummary"`
	IsModifier       *bool     `json:"isModifier"`
	Type             []typeRef `json:"type"`
	Binding          *struct {
		Strength string `json:"strength"`
		ValueSet string `json:"valueSet"`
	} `json:"binding"`
}

type typeRef struct {
	Code          string   `json:"code"`
	Profile       []string `json:"profile"`
	TargetProfile []string `json:"targetProfile"`
	Extension     []struct {
		URL      string `json:"url"`
		ValueURL string `json:"valueUrl"`
	} `json:"extension"`
}

const (
	sdPrefix    = "http://hl7.org/fhir/StructureDefinition/"
	fhirTypeExt = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
)

// systemTypes maps the FHIRPath system types that appear in snapshots
// (for Element.id, Extension.url and the value of primitive types) to FHIR
// primitive types, for when the fhir-type extension is absent.
var systemTypes = map[string]string{
	"http://hl7.org/fhirpath/System.String":   "string",
	"http://hl7.org/fhirpath/System.Boolean":  "boolean",
	"http://hl7.org/fhirpath/System.Integer":  "integer",
	"http://hl7.org/fhirpath/System.Decimal":  "decimal",
	"http://hl7.org/fhirpath/System.Date":     "date",
	"http://hl7.org/fhirpath/System.DateTime": "dateTime",
	"http://hl7.org/fhirpath/System.Time":     "time",
}

// buildTypes fills defs.Resources and defs.Types from the base
// StructureDefinitions (profiles with derivation "constraint", such as
// SimpleQuantity, and logical models are left out).
//
// Snapshot elements without "isModifier" are skipped and reported to log:
// every element of HL7's published R4 snapshots states isModifier, and the
// elements without it are additions by a distributor of the package (such
// as Meta.project), which are not FHIR R4.
func buildTypes(defs *fhir.Definitions, sds []*structureDef, log io.Writer) error {
	defs.Types = make(map[string]*fhir.TypeDef)
	for _, sd := range sds {
		if sd.Derivation == "constraint" {
			continue
		}
		switch sd.Kind {
		case "resource", "complex-type", "primitive-type":
		default:
			continue
		}
		if sd.Kind == "resource" && !sd.Abstract {
			defs.Resources = append(defs.Resources, sd.Type)
		}
		if err := addStructure(defs.Types, sd, log); err != nil {
			return fmt.Errorf("structure %s: %w", sd.ID, err)
		}
	}
	sort.Strings(defs.Resources)
	return nil
}

// addStructure adds the TypeDef of sd and of its backbone elements.
func addStructure(types map[string]*fhir.TypeDef, sd *structureDef, log io.Writer) error {
	els := sd.Snapshot.Element
	if len(els) == 0 || els[0].Path != sd.Type {
		return fmt.Errorf("snapshot does not start at %s", sd.Type)
	}
	if _, dup := types[sd.Type]; dup {
		return fmt.Errorf("duplicate type %s", sd.Type)
	}
	root := &fhir.TypeDef{Name: sd.Type, Kind: sd.Kind}
	types[sd.Type] = root
	// hasChildren marks the paths that have child elements: these are
	// backbone elements.
	hasChildren := make(map[string]bool)
	for _, ed := range els[1:] {
		if i := strings.LastIndexByte(ed.Path, '.'); i > 0 {
			hasChildren[ed.Path[:i]] = true
		}
	}
	for _, ed := range els[1:] {
		if ed.IsModifier == nil {
			fmt.Fprintf(log, "gen: skipped element %s (no isModifier: not part of FHIR R4)\n", ed.Path)
			continue
		}
		parentPath, name, _ := cutLast(ed.Path)
		parent := types[parentPath]
		if parent == nil || (parentPath != sd.Type && parent.Kind != "backbone") {
			return fmt.Errorf("element %s has no parent type", ed.Path)
		}
		if sd.Kind == "primitive-type" && name == "value" {
			// The value of a primitive is the JSON value itself.
			continue
		}
		el, err := element(sd, ed, name, hasChildren[ed.Path])
		if err != nil {
			return fmt.Errorf("element %s: %w", ed.Path, err)
		}
		parent.Elements = append(parent.Elements, el)
		if hasChildren[ed.Path] {
			types[ed.Path] = &fhir.TypeDef{Name: ed.Path, Kind: "backbone"}
		}
	}
	return nil
}

// element converts one ElementDefinition.
func element(sd *structureDef, ed *elementDef, name string, backbone bool) (*fhir.Element, error) {
	el := &fhir.Element{
		Name:     name,
		Min:      ed.Min,
		Summary:  ed.IsSummary,
		Modifier: *ed.IsModifier,
	}
	if n, ok := strings.CutSuffix(name, "[x]"); ok {
		el.Name, el.Choice = n, true
	}
	switch ed.Max {
	case "*":
		el.Max = -1
	default:
		n, err := strconv.Atoi(ed.Max)
		if err != nil {
			return nil, fmt.Errorf("max %q: %w", ed.Max, err)
		}
		el.Max = n
	}
	switch {
	case ed.ContentReference != "":
		ref, ok := strings.CutPrefix(ed.ContentReference, "#")
		if !ok {
			return nil, fmt.Errorf("unsupported contentReference %q", ed.ContentReference)
		}
		el.Types = []string{ref}
	case backbone:
		el.Types = []string{ed.Path}
	default:
		for _, t := range ed.Type {
			code := t.Code
			if strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
				code = systemType(t)
				if sd.Kind == "resource" && ed.Path == sd.Type+".id" {
					// Resource.id is an id (https://hl7.org/fhir/R4/resource.html#id),
					// though the snapshot says System.String.
					code = "id"
				}
			}
			if code == "" {
				return nil, fmt.Errorf("unknown type %q", t.Code)
			}
			if !contains(el.Types, code) {
				el.Types = append(el.Types, code)
			}
			for _, p := range t.Profile {
				// Base definitions give at most one profile per type
				// (SimpleQuantity on Quantity).
				if el.Profiles == nil {
					el.Profiles = make(map[string]string)
				}
				el.Profiles[code] = strings.TrimPrefix(p, sdPrefix)
			}
			if code == "Reference" {
				for _, p := range t.TargetProfile {
					target := strings.TrimPrefix(p, sdPrefix)
					if target != "Resource" && !contains(el.Targets, target) {
						el.Targets = append(el.Targets, target)
					}
				}
			}
		}
		if len(el.Types) == 0 {
			return nil, fmt.Errorf("no type")
		}
		sort.Strings(el.Targets)
	}
	if b := ed.Binding; b != nil && b.Strength == "required" && b.ValueSet != "" &&
		len(el.Types) == 1 && bindable(el.Types[0]) {
		el.Binding, _, _ = strings.Cut(b.ValueSet, "|")
	}
	return el, nil
}

// bindable reports whether required bindings on elements of type typ are
// recorded (and enforced by package fhir).
func bindable(typ string) bool {
	return typ == "code" || typ == "Coding" || typ == "CodeableConcept"
}

// systemType maps a FHIRPath system type reference to a FHIR primitive type.
func systemType(t typeRef) string {
	for _, x := range t.Extension {
		if x.URL == fhirTypeExt && x.ValueURL != "" {
			return x.ValueURL
		}
	}
	return systemTypes[t.Code]
}

// cutLast splits "a.b.c" into "a.b" and "c".
func cutLast(path string) (parent, name string, ok bool) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return "", path, false
	}
	return path[:i], path[i+1:], true
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
