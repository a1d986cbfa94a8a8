// Package fhir is Vigil's FHIR R4 model: the structure of every R4
// resource type and data type, the search parameters and the Patient
// compartment, generated from the official definitions
// (https://hl7.org/fhir/R4/downloads.html) and embedded in the binary.
//
// It is pure (no I/O beyond the embedded data) and does four things:
//
//   - Decode parses a resource from JSON and validates it against the
//     structure definitions (known elements, types, cardinality, required
//     elements, required bindings, reference targets, SimpleQuantity and
//     the invariants of the base types), returning issues with
//     FHIRPath-like locations (https://hl7.org/fhir/R4/validation.html).
//   - Index extracts the search index entries of a resource by evaluating
//     each search parameter's expression (a small FHIRPath subset compiled
//     at load time; https://hl7.org/fhir/R4/searchparameter.html).
//   - ParseSearch turns a search query string into a vigil.SearchQuery
//     (https://hl7.org/fhir/R4/search.html).
//   - Summarize and Elements shape resources for _summary and _elements.
//
// The generated data lives in r4.json.gz; "go generate ./fhir" re-creates it
// from ../shared/data/fhir-r4/definitions (or the directory given to the
// generator with -defs).
package fhir
