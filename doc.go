// Package vigil holds Vigil's domain types, its sentinel errors and the small
// interfaces the rest of the system depends on.
//
// Vigil is a telemedicine server: remote patient monitoring, ML-assisted
// diagnosis, virtual consultations and a FHIR R4 record store. This package
// imports only the standard library; adapters (sqlite, postgres, httpapi,
// mqtt, …) implement or consume the interfaces declared here, and cmd/vigil
// wires them together.
package vigil
