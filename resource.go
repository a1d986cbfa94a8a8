package vigil

import "time"

// Resource is one version of a FHIR resource as the store keeps it.
//
// JSON is the complete resource as sent to clients, including
// meta.versionId and meta.lastUpdated, which the records service sets before
// the resource is written. A deleted version has Deleted set and no JSON.
type Resource struct {
	Type        string    // FHIR resource type, e.g. "Observation"
	ID          string    // logical id
	Version     int64     // 1, 2, 3… per resource
	LastUpdated time.Time // UTC; equals meta.lastUpdated
	Deleted     bool      // a delete marker in the history
	Method      string    // "POST", "PUT", "PATCH" or "DELETE": how this version was made (history entries)
	JSON        []byte    // the resource; nil when Deleted
}

// Ref returns "Type/id".
func (r *Resource) Ref() string { return r.Type + "/" + r.ID }

// ParamType is the type of a FHIR search parameter
// (https://hl7.org/fhir/R4/search.html#ptypes). The zero value is unknown.
type ParamType uint8

// The FHIR R4 search parameter types.
const (
	ParamUnknown ParamType = iota
	ParamNumber
	ParamDate
	ParamString
	ParamToken
	ParamReference
	ParamComposite
	ParamQuantity
	ParamURI
	ParamSpecial
)

var paramTypeNames = [...]string{"", "number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"}

// String returns the FHIR name of the type ("token", "date", …).
func (t ParamType) String() string {
	if int(t) < len(paramTypeNames) {
		return paramTypeNames[t]
	}
	return ""
}

// ParseParamType returns the ParamType for a FHIR type name, or ParamUnknown.
func ParseParamType(s string) ParamType {
	for i, n := range paramTypeNames {
		if i > 0 && n == s {
			return ParamType(i)
		}
	}
	return ParamUnknown
}

// IndexEntry is one value of one search parameter extracted from a resource.
// The fhir package produces entries; stores persist them next to the resource
// version that is current and use them to answer searches. Which fields are
// set depends on Type:
//
//   - string: Text (normalised: lower case, accents removed, spaces folded) and Exact (as written)
//   - token: System and Code; Text holds the normalised display/text for :text
//   - reference: RefType and RefID for a literal relative reference
//     ("Patient/1"), URI for an absolute or canonical reference (with
//     version in RefVersion for canonicals "url|version")
//   - date: Start and End bound the instant range the value covers
//     (Start inclusive, End exclusive; zero Start or End means open-ended)
//   - number: Value, and Low/High for the range its precision implies
//   - quantity: Value, Low, High, System and Code (the unit code); when the
//     unit is a known UCUM unit also CanonCode and CanonValue/CanonLow/CanonHigh
//     in canonical UCUM base units
//   - uri: URI
//
// The resource-level parameters _id and _lastUpdated are answered by stores
// from their own columns and are never extracted as entries.
//
// A composite parameter is stored as its components: every component entry
// of one combination carries the composite's Param name, the same Group
// (> 0, unique within the resource) and its component position in Part
// (0, 1, …), with Type set to the component's own type.
type IndexEntry struct {
	Param string
	Type  ParamType
	Group int
	Part  int

	Text   string
	Exact  string
	System string
	Code   string

	RefType    string
	RefID      string
	RefVersion string
	URI        string

	Start time.Time
	End   time.Time

	Value float64
	Low   float64
	High  float64

	CanonCode  string
	CanonValue float64
	CanonLow   float64
	CanonHigh  float64
}
