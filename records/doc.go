// Package records implements the FHIR R4 RESTful interactions on top of a
// vigil.ResourceStore: create, read, vread, update (including
// update-as-create), JSON Patch, delete, their conditional forms, history,
// search, batch and transaction Bundles, Patient/$everything, compartment
// search and bulk import.
//
// It is transport-free: httpapi maps HTTP requests to Service methods and
// Service results back to HTTP. Validation, index extraction and search
// parsing come from the fhir package; versioning, concurrency and atomicity
// come from the store.
//
// Specifications: FHIR R4 RESTful API (https://hl7.org/fhir/R4/http.html),
// search (https://hl7.org/fhir/R4/search.html), transactions
// (https://hl7.org/fhir/R4/http.html#transaction), JSON Patch (RFC 6902)
// with JSON Pointer (RFC 6901).
package records
