package httpapi

import (
	"fmt"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/records"
)

// capabilityStatement describes what the server does, generated from the
// same model that drives validation and search, so it stays true
// (https://hl7.org/fhir/R4/capabilitystatement.html).
func capabilityStatement(m *fhir.Model, version string) ([]byte, error) {
	var resources []any
	for _, t := range m.ResourceTypes() {
		var params []any
		for _, p := range m.SearchParams(t) {
			sp := map[string]any{"name": p.Name, "type": p.Type.String()}
			if p.Definition != "" {
				sp["definition"] = p.Definition
			}
			if p.Type == vigil.ParamSpecial {
				sp["documentation"] = fmt.Sprintf("latitude|longitude|distance|units (WGS84 degrees); great-circle distance on a sphere of %g km; "+
					"without a distance %d km; units km (default), m, [mi_i], [mi_us] or [nmi_i]", vigil.EarthRadiusKm, fhir.NearDefaultKm)
			}
			params = append(params, sp)
		}
		for _, p := range []struct{ name, typ string }{{"_id", "token"}, {"_lastUpdated", "date"}, {"_has", "special"}} {
			params = append(params, map[string]any{"name": p.name, "type": p.typ})
		}
		res := map[string]any{
			"type": t,
			"interaction": []any{
				map[string]any{"code": "read"}, map[string]any{"code": "vread"},
				map[string]any{"code": "update"}, map[string]any{"code": "patch"},
				map[string]any{"code": "delete"}, map[string]any{"code": "history-instance"},
				map[string]any{"code": "history-type"}, map[string]any{"code": "create"},
				map[string]any{"code": "search-type"},
			},
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      true,
			"conditionalCreate": true,
			"conditionalRead":   "not-supported",
			"conditionalUpdate": true,
			"conditionalDelete": "multiple",
			"referencePolicy":   []any{"literal", "local"},
			"searchInclude":     []any{"*"},
			"searchRevInclude":  []any{"*"},
			"searchParam":       params,
		}
		if t == "Patient" {
			res["operation"] = []any{map[string]any{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}}
		}
		resources = append(resources, res)
	}
	cs := records.Object{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         time.Now().UTC().Format("2006-01-02"),
		"publisher":    "Vigil",
		"kind":         "instance",
		"software":     map[string]any{"name": "Vigil", "version": version},
		"implementation": map[string]any{
			"description": "Vigil telemedicine server FHIR R4 API",
		},
		"fhirVersion": "4.0.1",
		"format":      []any{"application/fhir+json", "json"},
		"patchFormat": []any{"application/json-patch+json"},
		"rest": []any{map[string]any{
			"mode":     "server",
			"resource": resources,
			"interaction": []any{
				map[string]any{"code": "transaction"}, map[string]any{"code": "batch"},
				map[string]any{"code": "history-system"}, map[string]any{"code": "search-system"},
			},
			"searchParam": []any{
				map[string]any{"name": "_id", "type": "token"},
				map[string]any{"name": "_lastUpdated", "type": "date"},
				map[string]any{"name": "_type", "type": "token"},
			},
			"compartment": []any{"http://hl7.org/fhir/CompartmentDefinition/patient"},
		}},
	}
	return records.Marshal(cs)
}
