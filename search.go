package vigil

import (
	"math"
	"time"
)

// Prefix is a comparison prefix for ordered search values
// (https://hl7.org/fhir/R4/search.html#prefix). The zero value means eq.
type Prefix uint8

// The FHIR R4 search prefixes.
const (
	PrefixEq Prefix = iota
	PrefixNe
	PrefixGt
	PrefixLt
	PrefixGe
	PrefixLe
	PrefixSa
	PrefixEb
	PrefixAp
)

var prefixNames = [...]string{"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"}

// String returns the two-letter prefix.
func (p Prefix) String() string {
	if int(p) < len(prefixNames) {
		return prefixNames[p]
	}
	return "eq"
}

// SearchQuery is a parsed, validated FHIR search. The fhir package builds it
// from a query string; stores execute it. What each field means for
// matching, order, paging, totals and includes is spelled out in
// docs/store-contract.md and checked by the storetest suite. Parameters are ANDed; the Values
// of one SearchParam are ORed.
type SearchQuery struct {
	// Type is the resource type searched; empty for a search across all types.
	Type string
	// Types, for a search across all types (Type empty), limits it to
	// these types (_type); empty means every type.
	Types []string
	// Params are the filters, all of which must match.
	Params []SearchParam
	// Compartment, when set, restricts results to resources in a compartment.
	Compartment *Compartment
	// Restrict, when set, is an access restriction ANDed with everything
	// else: only resources in the compartment of one of Restrict's members
	// match. The access policy sets it (never the client), so that counts,
	// totals and paging cover only what the caller may see.
	Restrict *Compartment
	// Visible, when set, limits what chained parameters and _has filters
	// may test: referenced and referring resources of types that can be in
	// a patient compartment count only when they are in Visible's
	// compartment. The access policy sets it whenever the caller does not
	// see every patient, also for searches of types outside patient
	// compartments (Practitioner?_has:CareTeam:…), which Restrict leaves
	// alone. Without it, Restrict plays this part.
	Visible *Compartment
	// Sort keys, in order; empty means the store's stable creation order.
	Sort []SortKey
	// Count is the page size; stores cap it at their own maximum.
	Count int
	// Cursor continues a previous search; it is opaque and store-made
	// (SearchResult.Next). A store rejects a cursor that does not belong to
	// the same query with ErrInvalid.
	Cursor string
	// Total asks for the total number of matches (_total=accurate); stores
	// always count when SummaryCount is set.
	Total bool
	// SummaryCount means only the count is wanted (_summary=count).
	SummaryCount bool
	// Include and RevInclude name the references to follow
	// (_include / _revinclude).
	Include    []Include
	RevInclude []Include
}

// SearchParam is one filter of a search: one parameter name, optional
// modifier, and the values it may match (ORed).
type SearchParam struct {
	// Name is the search parameter code, e.g. "subject" or "code-value-quantity".
	Name string
	// Type is the parameter's type in the resource type searched.
	Type ParamType
	// Modifier is "", "exact", "contains", "missing", "not", "text", "above",
	// "below", "identifier", or — for reference parameters — a resource type
	// name restricting the target type ("subject:Patient").
	Modifier string
	// Missing is the boolean of :missing (true: the resource has no value).
	Missing bool
	// Chain, when set, makes this a chained search: Name is a reference
	// parameter and Chain is applied to the referenced resources, which must
	// be of one of TargetTypes (e.g. subject:Patient.name=peter).
	Chain       *SearchParam
	TargetTypes []string
	// A parameter of Type ParamSpecial without Has is Location's near: each
	// of its Values has Near set.
	//
	// Has, when set, makes this a _has filter (reverse chaining,
	// https://hl7.org/fhir/R4/search.html#has): Name is "_has", and the
	// resource matches when a current resource of Has.Type refers to it
	// through Has.Param and matches Has.Filter.
	Has *ReverseChain
	// Values are ORed. Empty for :missing.
	Values []SearchValue
}

// ReverseChain is the condition of a _has filter: "_has:Observation:
// patient:code=1234-5" on Patient is {Type: "Observation", Param:
// "patient", Filter: code=1234-5}. Filter may itself be a _has filter.
type ReverseChain struct {
	// Type is the type of the referring resources.
	Type string
	// Param is the reference search parameter of Type that refers to the
	// resource searched.
	Param string
	// Filter is the condition a referring resource must meet.
	Filter *SearchParam
	// Also lists ids of the searched type that match as well, found
	// outside the store: the patients whose device readings (served as
	// Observations from the sample store) meet the filter. Not part of a
	// cursor's identity: like any data, it may grow between pages.
	Also []string `json:"-"`
}

// SearchValue is one parsed value of a search parameter. Which fields are
// set follows Type as for IndexEntry; see there.
type SearchValue struct {
	Prefix Prefix

	// string: Text is the normalised value; Exact the raw one.
	// token :text: Text is normalised.
	Text  string
	Exact string

	// token: "code" sets Code only (AnySystem); "system|code" sets both;
	// "|code" sets Code with empty System and AnySystem false; "system|"
	// sets System with empty Code (any code).
	System    string
	Code      string
	AnySystem bool

	// reference: RefType/RefID for "Type/id" (RefType empty for a bare id),
	// URI for an absolute reference or canonical; RefVersion for "url|version".
	RefType    string
	RefID      string
	RefVersion string
	// uri: URI (also the target of :above/:below).
	URI string

	// date: the range the search value covers at its precision.
	Start time.Time
	End   time.Time

	// number and quantity: the value and the range implied by its precision.
	Value float64
	Low   float64
	High  float64
	// quantity: System and Code (unit) come from "value|system|code";
	// CanonCode/CanonLow/CanonHigh/CanonValue are set when the unit is UCUM
	// and convertible, so that 1 g matches 1000 mg.
	CanonCode  string
	CanonValue float64
	CanonLow   float64
	CanonHigh  float64

	// composite: the component values, in component order.
	Components []SearchValue

	// Near is the value of Location's special parameter near (the only
	// special parameter of R4 other than _has). Its entries are number
	// entries of one Group: Part 0 the latitude, Part 1 the longitude.
	Near *Near
}

// Near is a circle on the WGS84 earth, the value of `near=[latitude]|
// [longitude]|[distance]|[units]`: a position matches when its
// great-circle distance from (Latitude, Longitude), in degrees, is at most
// Km kilometres (haversine formula on a sphere of EarthRadiusKm).
type Near struct {
	Latitude, Longitude, Km float64
}

// EarthRadiusKm is the mean radius of the earth (IUGG) that near searches
// measure great-circle distances on.
const EarthRadiusKm = 6371.0088

// NearSlackKm is the rounding a near search allows on top of Km (a
// micrometre): haversine in floating point puts one point written two
// ways, such as the North Pole at two longitudes or a point of the
// antimeridian at -180 and 180, about 1e-12 km from itself, so that near
// at distance 0 would miss it.
const NearSlackKm = 1e-9

// LatitudeSpan returns the latitudes within n's distance (and
// NearSlackKm) of its centre: a bound stores use to find candidates before
// they measure distances.
func (n *Near) LatitudeSpan() (lo, hi float64) {
	d := (n.Km + NearSlackKm) / EarthRadiusKm * 180 / math.Pi
	return n.Latitude - d, n.Latitude + d
}

// Compartment restricts a search to one compartment
// (https://hl7.org/fhir/R4/compartmentdefinition.html): a resource is in the
// compartment when any of the reference parameters listed for its type
// refers to Type/ID. For a Patient compartment the Patient itself is in it too.
type Compartment struct {
	Type string // e.g. "Patient"
	ID   string
	// IDs, when not empty, replaces ID: the resource is in the compartment
	// of any of them (an access restriction over several patients).
	IDs []string
	// Params lists, per resource type, the reference parameters that place a
	// resource of that type in the compartment. Types not listed are not in
	// the compartment.
	Params map[string][]string
}

// Members returns the compartment owners' ids: IDs, or ID alone.
func (c *Compartment) Members() []string {
	if len(c.IDs) > 0 {
		return c.IDs
	}
	return []string{c.ID}
}

// SortKey is one _sort key.
type SortKey struct {
	Param string // a search parameter name, or _id / _lastUpdated
	Type  ParamType
	Desc  bool
}

// Include is one _include or _revinclude directive: follow the reference
// parameter Param of resources of SourceType, optionally only to TargetType.
// Param "*" means every reference parameter.
type Include struct {
	SourceType string
	Param      string
	TargetType string
	Iterate    bool
}

// MaxIncluded bounds the resources _include and _revinclude bring into one
// page: a page of 1,000 Patients with _revinclude=Observation:subject
// would otherwise load every Observation of every one of them.
const MaxIncluded = 1000

// SearchResult is one page of a search.
type SearchResult struct {
	// Matches are the resources matching the query, in sort order.
	Matches []Resource
	// Included are resources brought in by _include/_revinclude, without
	// duplicates, at most MaxIncluded.
	Included []Resource
	// IncludedCut reports that more resources than MaxIncluded would have
	// been included: the page lists the first MaxIncluded (by the store's
	// order), and the client should ask for smaller pages.
	IncludedCut bool
	// Total is the number of matches over all pages, or -1 when not counted.
	Total int
	// Next is the cursor of the next page, empty on the last page.
	Next string
}

// HistoryQuery selects versions for a history interaction. Type and ID are
// both empty for system history, ID empty for type history.
type HistoryQuery struct {
	Type  string
	ID    string
	Since time.Time // only versions with LastUpdated >= Since (zero: all)
	At    time.Time // the versions current at At (zero: ignored)
	Count int
	// Cursor continues a previous page (HistoryResult.Next).
	Cursor string
}

// HistoryResult is one page of history, newest first.
type HistoryResult struct {
	Versions []Resource
	Total    int
	Next     string
}
