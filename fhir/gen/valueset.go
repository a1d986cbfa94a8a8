package main

import "github.com/vigilhealth/vigil/fhir"

type valueSetOrCodeSystem struct {
	ResourceType string `json:"resourceType"`
	URL          string `json:"url"`
}

// buildValueSets expands the value sets of required code bindings.
func buildValueSets(defs *fhir.Definitions, b *bundle[valueSetOrCodeSystem]) (expanded, skipped int) {
	return 0, 0
}
