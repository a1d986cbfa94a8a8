// Package httpapi serves Vigil over HTTP: the FHIR R4 REST API under /fhir
// (https://hl7.org/fhir/R4/http.html) and, later, Vigil's own JSON API
// under /api/v1.
//
// Every request passes one handler chain — recovery, request id, security
// headers, body limit, then the route — and every FHIR interaction is
// described by one Access value handed to a single Policy before it runs
// and to a single Auditor after it ran, so access control and the audit
// trail each sit in exactly one place.
package httpapi
