// Package access is Vigil's access policy, decided in one place for every
// request: a vigil.ResourceStore decorator that checks every resource read,
// every search and every write against the principal in the call's
// context, deny by default (HIPAA Security Rule 45 CFR 164.312(a)(1)
// access control; the FHIR Patient compartment,
// https://hl7.org/fhir/R4/compartmentdefinition-patient.html).
//
// The rules (docs/security.md has the full table):
//   - patients reach only resources in their own Patient compartment and
//     change only what they submitted themselves (meta.source carries the
//     submitting account);
//   - clinicians reach the patients of the active CareTeams they
//     participate in (through their Practitioner), and others only through
//     a break-the-glass grant;
//   - devices only create Observations for the patient their Device is
//     bound to (Device.patient) and read nothing;
//   - admins manage accounts and CareTeams, and read clinical data only
//     through break-the-glass;
//   - services are bounded by their SMART system scopes.
//
// Searches are narrowed in the store query itself (vigil.SearchQuery.Restrict),
// so totals and paging never count what the caller may not see; included
// resources and history versions are filtered one by one; a resource the
// caller may not see answers "not found", never "forbidden", so that its
// existence is not revealed.
package access
