package main

import (
	"sort"

	"github.com/vigilhealth/vigil/fhir"
)

// structureDef is the part of a StructureDefinition the generator reads.
type structureDef struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	URL          string `json:"url"`
	Name         string `json:"name"`
	Type         string `json:"type"`
	Kind         string `json:"kind"`
	Abstract     bool   `json:"abstract"`
	Derivation   string `json:"derivation"`
	Snapshot     struct {
		Element []*elementDef `json:"element"`
	} `json:"snapshot"`
}

type elementDef struct {
	ID               string    `json:"id"`
	Path             string    `json:"path"`
	Min              int       `json:"min"`
	Max              string    `json:"max"`
	ContentReference string    `json:"contentReference"`
	IsSummary        bool      `json:"isSummary"`
	IsModifier       bool      `json:"isModifier"`
	Type             []typeRef `json:"type"`
	Binding          *struct {
		Strength string `json:"strength"`
		ValueSet string `json:"valueSet"`
	} `json:"binding"`
}

type typeRef struct {
	Code          string   `json:"code"`
	TargetProfile []string `json:"targetProfile"`
	Extension     []struct {
		URL      string `json:"url"`
		ValueURL string `json:"valueUrl"`
	} `json:"extension"`
}

// buildTypes fills defs.Resources and defs.Types from the
// StructureDefinitions.
func buildTypes(defs *fhir.Definitions, sds []*structureDef) error {
	for _, sd := range sds {
		if sd.Kind == "resource" && !sd.Abstract && sd.Derivation == "specialization" {
			defs.Resources = append(defs.Resources, sd.Type)
		}
	}
	sort.Strings(defs.Resources)
	return nil
}
