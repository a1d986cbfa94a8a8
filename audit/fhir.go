package audit

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilhealth/vigil"
)

// Code systems used by AuditEvent
// (https://hl7.org/fhir/R4/auditevent.html, DICOM PS3.16 CID 400-403).
const (
	systemEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	systemRESTful     = "http://hl7.org/fhir/restful-interaction"
	systemDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	systemEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	systemObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	systemSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	systemActReason   = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	systemRoleType    = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	defaultAccountURI = "urn:vigil:account"
	defaultRequestURI = "urn:vigil:request"
)

type coding struct{ system, code, display string }

func (c coding) json() map[string]any {
	return map[string]any{"system": c.system, "code": c.code, "display": c.display}
}

// eventType is the FHIR rendering of one action.
type eventType struct {
	typ     coding
	subtype coding
	action  string // C R U D E (http://hl7.org/fhir/audit-event-action)
}

var (
	restType  = coding{systemEventType, "rest", "RESTful Operation"}
	authType  = coding{systemDICOM, "110114", "User Authentication"}
	alertType = coding{systemDICOM, "110113", "Security Alert"}
	userAttrs = coding{systemDICOM, "110137", "User Security Attributes Changed"}
	restful   = func(c string) coding { return coding{systemRESTful, c, c} }
	// eventTypes renders each action; knownAction consults it.
	eventTypes = map[vigil.AuditAction]eventType{
		vigil.AuditRead:       {restType, restful("read"), "R"},
		vigil.AuditVRead:      {restType, restful("vread"), "R"},
		vigil.AuditSearch:     {restType, restful("search"), "E"},
		vigil.AuditHistory:    {restType, restful("history"), "R"},
		vigil.AuditCreate:     {restType, restful("create"), "C"},
		vigil.AuditUpdate:     {restType, restful("update"), "U"},
		vigil.AuditPatch:      {restType, restful("patch"), "U"},
		vigil.AuditDelete:     {restType, restful("delete"), "D"},
		vigil.AuditEverything: {restType, restful("operation"), "E"},
		vigil.AuditImport:     {coding{systemDICOM, "110107", "Import"}, coding{systemDICOM, "110107", "Import"}, "C"},
		vigil.AuditExport:     {coding{systemDICOM, "110106", "Export"}, coding{systemDICOM, "110106", "Export"}, "R"},
		vigil.AuditReindex:    {coding{systemDICOM, "110100", "Application Activity"}, coding{systemDICOM, "110100", "Application Activity"}, "R"},

		vigil.AuditLogin:            {authType, coding{systemDICOM, "110122", "Login"}, "E"},
		vigil.AuditLoginFailed:      {authType, coding{systemDICOM, "110122", "Login"}, "E"},
		vigil.AuditLogout:           {authType, coding{systemDICOM, "110123", "Logout"}, "E"},
		vigil.Audit2FAEnrol:         {alertType, userAttrs, "E"},
		vigil.Audit2FADisable:       {alertType, userAttrs, "E"},
		vigil.AuditTokenIssue:       {alertType, userAttrs, "E"},
		vigil.AuditTokenRevoke:      {alertType, userAttrs, "E"},
		vigil.AuditAccountCreate:    {alertType, userAttrs, "E"},
		vigil.AuditAccountUpdate:    {alertType, userAttrs, "E"},
		vigil.AuditAccountLock:      {alertType, userAttrs, "E"},
		vigil.AuditPermissionDenied: {alertType, coding{systemDICOM, "110132", "Use of Restricted Function"}, "E"},
		vigil.AuditBreakGlass:       {alertType, coding{systemDICOM, "110127", "Emergency Override Started"}, "E"},
	}
)

// outcomeCode maps an outcome to http://hl7.org/fhir/audit-event-outcome:
// a denial is a minor failure (like an HTTP 4xx), a failure a serious one
// (like an HTTP 5xx).
func outcomeCode(o vigil.AuditOutcome) string {
	switch o {
	case vigil.AuditDenied:
		return "4"
	case vigil.AuditFailed:
		return "8"
	}
	return "0"
}

// FHIROptions configure ToFHIR.
type FHIROptions struct {
	// Observer names this server in AuditEvent.source.observer.display
	// (default "Vigil").
	Observer string
	// AccountSystem is the identifier system of account ids in
	// agent.who.identifier (default "urn:vigil:account").
	AccountSystem string
	// RequestSystem is the identifier system of request ids
	// (default "urn:vigil:request").
	RequestSystem string
}

// ToFHIR renders r as a FHIR R4 AuditEvent
// (https://hl7.org/fhir/R4/auditevent.html), in the JSON form of package
// fhir (map[string]any). The id is the record's sequence number. REST
// interactions are typed audit-event-type "rest" with a
// restful-interaction subtype; security events use the DICOM codes
// (110114 User Authentication with 110122 Login / 110123 Logout, 110113
// Security Alert with 110132 Use of Restricted Function, 110127 Emergency
// Override Started, 110137 User Security Attributes Changed; DICOM PS3.16
// CID 400-403). Each patient and resource becomes an entity whose what is a
// reference; a break-the-glass record carries purposeOfEvent BTG.
func ToFHIR(r *vigil.AuditRecord, opt FHIROptions) map[string]any {
	if opt.Observer == "" {
		opt.Observer = "Vigil"
	}
	if opt.AccountSystem == "" {
		opt.AccountSystem = defaultAccountURI
	}
	if opt.RequestSystem == "" {
		opt.RequestSystem = defaultRequestURI
	}
	et := eventTypes[r.Action]
	ev := map[string]any{
		"resourceType": "AuditEvent",
		"type":         et.typ.json(),
		"subtype":      []any{et.subtype.json()},
		"action":       et.action,
		"recorded":     r.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		"outcome":      outcomeCode(r.Outcome),
	}
	if r.Seq > 0 {
		ev["id"] = strconv.FormatInt(r.Seq, 10)
	}
	if r.Detail != "" {
		ev["outcomeDesc"] = r.Detail
	}
	if r.Action == vigil.AuditBreakGlass {
		ev["purposeOfEvent"] = []any{map[string]any{"coding": []any{coding{systemActReason, "BTG", "break the glass"}.json()}}}
	}
	agent := map[string]any{"requestor": true}
	who := map[string]any{}
	if r.ActorID != "" {
		who["identifier"] = map[string]any{"system": opt.AccountSystem, "value": r.ActorID}
	}
	if r.ActorName != "" {
		who["display"] = r.ActorName
	}
	if len(who) == 0 {
		who["display"] = "anonymous"
	}
	agent["who"] = who
	if r.Role != "" {
		code, display := "humanuser", "human user"
		if r.Role == "device" || r.Role == "service" {
			code, display = "dataprocessor", "data processor"
		}
		agent["type"] = map[string]any{"coding": []any{coding{systemRoleType, code, display}.json()}}
		agent["role"] = []any{map[string]any{"text": r.Role}}
	}
	if r.Source != "" {
		host := r.Source
		if h, _, err := net.SplitHostPort(r.Source); err == nil {
			host = h
		}
		typ := "1" // machine name
		if net.ParseIP(host) != nil {
			typ = "2" // IP address
		}
		agent["network"] = map[string]any{"address": host, "type": typ}
	}
	ev["agent"] = []any{agent}
	ev["source"] = map[string]any{
		"observer": map[string]any{"display": opt.Observer},
		"type":     []any{coding{systemSourceType, "4", "Application Server"}.json()},
	}
	var entities []any
	for _, p := range r.Patients {
		entities = append(entities, map[string]any{
			"what": map[string]any{"reference": p},
			"type": coding{systemEntityType, "1", "Person"}.json(),
			"role": coding{systemObjectRole, "1", "Patient"}.json(),
		})
	}
	for _, ref := range r.Resources {
		if slices.Contains(r.Patients, ref) {
			continue
		}
		typ := coding{systemEntityType, "2", "System Object"}
		if strings.HasPrefix(ref, "Patient/") {
			typ = coding{systemEntityType, "1", "Person"}
		}
		entities = append(entities, map[string]any{
			"what": map[string]any{"reference": ref},
			"type": typ.json(),
			"role": coding{systemObjectRole, "4", "Domain Resource"}.json(),
		})
	}
	if r.RequestID != "" {
		entities = append(entities, map[string]any{
			"what":        map[string]any{"identifier": map[string]any{"system": opt.RequestSystem, "value": r.RequestID}},
			"type":        coding{systemEntityType, "2", "System Object"}.json(),
			"description": "request",
		})
	}
	if entities != nil {
		ev["entity"] = entities
	}
	return ev
}

// ActionsFor returns the actions whose AuditEvent carries code, for the
// FHIR search parameters "action" (C, R, U, D, E) and "subtype" (a
// restful-interaction or DICOM code such as "read" or "110122"), sorted.
// An unknown code gives none. Use it to build AuditQuery.Actions.
func ActionsFor(param, code string) []vigil.AuditAction {
	var out []vigil.AuditAction
	for a, et := range eventTypes {
		switch {
		case param == "action" && et.action == code,
			param == "subtype" && et.subtype.code == code,
			param == "type" && et.typ.code == code:
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}
