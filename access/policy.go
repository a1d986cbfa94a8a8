package access

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
)

// Policy decides what principals may read and write. Create it with New;
// Store wraps a resource store with it. It is safe for concurrent use.
type Policy struct {
	inner vigil.ResourceStore
	model *fhir.Model
	comp  map[string][]string // Patient compartment: type → reference params
	now   func() time.Time
	ttl   time.Duration

	mu      sync.Mutex
	teams   map[string]teamEntry   // practitioner id → patients
	devices map[string]deviceEntry // device id → binding history

	patients patientCache // stored versions → their patients
}

type teamEntry struct {
	patients []string
	until    time.Time
}

type deviceEntry struct {
	bindings vigil.DeviceBindings
	until    time.Time
}

// Option configures a Policy.
type Option func(*Policy)

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(p *Policy) { p.now = now } }

// WithCacheTTL sets how long CareTeam memberships and device bindings are
// cached (default 30 s). Writes through the guarded store invalidate them
// at once; writes by other servers are seen within the TTL.
func WithCacheTTL(d time.Duration) Option { return func(p *Policy) { p.ttl = d } }

// New returns the policy over store (the unguarded store, used to look up
// CareTeams and Devices).
func New(store vigil.ResourceStore, model *fhir.Model, opts ...Option) *Policy {
	p := &Policy{inner: store, model: model, comp: model.PatientCompartment(), now: time.Now, ttl: 30 * time.Second,
		teams: make(map[string]teamEntry), devices: make(map[string]deviceEntry)}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Errors of the policy. A hidden resource answers errHidden: "not found"
// to the caller, "forbidden" to the audit trail (errors.Is both).
var (
	errNoPrincipal  = vigil.Errorf(vigil.ErrUnauthorized, "authentication required")
	errSecondFactor = vigil.Errorf(vigil.ErrForbidden, "enrol a second factor (POST /auth/totp/enrol) before anything else")
)

func hidden(typ, id string) error {
	return &vigil.Error{Kind: vigil.ErrNotFound, Message: "resource not found", Err: vigil.ErrForbidden}
}

func forbidden(msg string) error { return vigil.Errorf(vigil.ErrForbidden, "%s", msg) }

// view is what one principal may reach, computed once per call.
type view struct {
	p        *vigil.Principal
	log      *vigil.PatientLog // the request's audit log of patients, may be nil
	all      bool              // sees every patient (service with a read scope)
	patients []string          // sorted patient ids whose compartments are visible
	// inWrite marks the view of a write transaction, whose reads may see
	// versions that roll back: their patients are not cached.
	inWrite bool
}

func (v *view) sees(patient string) bool {
	_, ok := slices.BinarySearch(v.patients, patient)
	return ok
}

// viewOf resolves the principal of ctx.
func (p *Policy) viewOf(ctx context.Context) (*view, error) {
	pr := vigil.PrincipalFrom(ctx)
	if pr == nil {
		return nil, errNoPrincipal
	}
	if pr.NeedsSecondFactor {
		return nil, errSecondFactor
	}
	v := &view{p: pr, log: vigil.PatientLogFrom(ctx)}
	switch pr.Role {
	case vigil.RoleService:
		v.all = true
	case vigil.RolePatient:
		if pr.Patient != "" {
			v.patients = []string{pr.Patient}
		}
	case vigil.RoleClinician:
		ps, err := p.careTeamPatients(ctx, pr.Practitioner)
		if err != nil {
			return nil, err
		}
		v.patients = slices.Clip(ps) // shared with the cache: never append in place
	case vigil.RoleDevice, vigil.RoleAdmin:
	default:
		return nil, forbidden("unknown role")
	}
	now := p.now()
	for _, g := range pr.BreakGlass {
		if now.Before(g.Expires) && !v.sees(g.Patient) {
			// A new slice: v.patients may be the cached care-team list.
			v.patients = slices.Sorted(slices.Values(append(slices.Clone(v.patients), g.Patient)))
		}
	}
	return v, nil
}

// careTeamPatients lists the subjects of the active CareTeams in which the
// practitioner participates.
func (p *Policy) careTeamPatients(ctx context.Context, practitioner string) ([]string, error) {
	if practitioner == "" {
		return nil, nil
	}
	now := p.now()
	p.mu.Lock()
	e, ok := p.teams[practitioner]
	p.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.patients, nil
	}
	q := &vigil.SearchQuery{Type: "CareTeam", Count: 1000, Params: []vigil.SearchParam{
		{Name: "participant", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Practitioner", RefID: practitioner}}},
		{Name: "status", Type: vigil.ParamToken, Values: []vigil.SearchValue{{Code: "active", AnySystem: true}}},
	}}
	var out []string
	for {
		res, err := p.inner.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for i := range res.Matches {
			var ct struct {
				Subject struct {
					Reference string `json:"reference"`
				} `json:"subject"`
			}
			if err := json.Unmarshal(res.Matches[i].JSON, &ct); err != nil {
				continue
			}
			if id, ok := patientRef(ct.Subject.Reference); ok {
				out = append(out, id)
			}
		}
		if res.Next == "" {
			break
		}
		q.Cursor = res.Next
	}
	slices.Sort(out)
	out = slices.Compact(out)
	p.mu.Lock()
	p.teams[practitioner] = teamEntry{patients: out, until: now.Add(p.ttl)}
	p.mu.Unlock()
	return out, nil
}

// patientRef returns the id of a local "Patient/id" reference.
func patientRef(ref string) (string, bool) {
	id, ok := bytes.CutPrefix([]byte(ref), []byte("Patient/"))
	if !ok || len(id) == 0 || bytes.ContainsAny(id, "/") {
		return "", false
	}
	return string(id), true
}

// DeviceBindings returns the binding history of a device: the periods
// of its DeviceUseStatements (status active, completed or stopped; their
// timingPeriod; entered-in-error, intended and on-hold statements do not
// bind), or, for a device without any, its Device.patient for all time.
// A device that does not exist, or has neither, is bound to nobody.
//
// DeviceUseStatement is how FHIR R4 records that a patient used a device
// over a period: when a device moves from one patient to another, the
// readings it took before (even those that arrive late) stay the first
// patient's.
func (p *Policy) DeviceBindings(ctx context.Context, device string) (vigil.DeviceBindings, error) {
	now := p.now()
	p.mu.Lock()
	e, ok := p.devices[device]
	p.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.bindings, nil
	}
	b, err := p.loadBindings(ctx, device)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.devices[device] = deviceEntry{bindings: b, until: now.Add(p.ttl)}
	p.mu.Unlock()
	return b, nil
}

// maxDeviceUses bounds the DeviceUseStatements read for one device.
const maxDeviceUses = 1000

func (p *Policy) loadBindings(ctx context.Context, device string) (vigil.DeviceBindings, error) {
	r, err := p.inner.Read(ctx, "Device", device)
	if err != nil {
		if errors.Is(err, vigil.ErrNotFound) || errors.Is(err, vigil.ErrGone) {
			return nil, nil
		}
		return nil, err
	}
	var d struct {
		Patient struct {
			Reference string `json:"reference"`
		} `json:"patient"`
	}
	if err := json.Unmarshal(r.JSON, &d); err != nil {
		return nil, err
	}
	q := &vigil.SearchQuery{Type: "DeviceUseStatement", Count: maxDeviceUses, Params: []vigil.SearchParam{
		{Name: "device", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Device", RefID: device}}},
	}}
	res, err := p.inner.Search(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("access: device uses: %w", err)
	}
	var out vigil.DeviceBindings
	uses := 0
	for i := range res.Matches {
		var u struct {
			Status  string `json:"status"`
			Subject struct {
				Reference string `json:"reference"`
			} `json:"subject"`
			Device struct {
				Reference string `json:"reference"`
			} `json:"device"`
			TimingPeriod *struct {
				Start string `json:"start"`
				End   string `json:"end"`
			} `json:"timingPeriod"`
		}
		if err := json.Unmarshal(res.Matches[i].JSON, &u); err != nil {
			continue
		}
		uses++
		switch u.Status {
		case "active", "completed", "stopped":
		default:
			continue
		}
		patient, ok := patientRef(u.Subject.Reference)
		if !ok || u.TimingPeriod == nil {
			continue
		}
		b := vigil.DeviceBinding{Patient: patient}
		// A bound given only to the day or month covers it whole: start at
		// its beginning, end at its end. An end with a time is taken as the
		// instant of a hand-over: exclusive, so that a period ending when
		// the next starts does not overlap it (FHIR reads a Period's end
		// as inclusive at its precision, which for seconds would make both
		// patients' periods cover the second of the hand-over).
		if u.TimingPeriod.Start != "" {
			if b.Start, ok = bindingBound(u.TimingPeriod.Start, false); !ok {
				continue
			}
		}
		if u.TimingPeriod.End != "" {
			if b.End, ok = bindingBound(u.TimingPeriod.End, true); !ok {
				continue
			}
		}
		out = append(out, b)
	}
	if uses > 0 || res.Next != "" {
		return out, nil
	}
	if id, ok := patientRef(d.Patient.Reference); ok {
		return vigil.DeviceBindings{{Patient: id}}, nil
	}
	return nil, nil
}

// bindingBound returns the instant a DeviceUseStatement's period bound
// stands for: a bound with a time is that instant (the hand-over); a date
// covers its whole span, from its start (isEnd false) or to its end.
func bindingBound(v string, isEnd bool) (time.Time, bool) {
	start, end, err := fhir.DateRange(v)
	switch {
	case err != nil:
		return time.Time{}, false
	case isEnd && !strings.Contains(v, "T"):
		return end, true
	}
	return start, true
}

// forget drops cached memberships and bindings after a CareTeam or Device
// write.
func (p *Policy) forget(typ string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch typ {
	case "CareTeam":
		clear(p.teams)
	case "Device", "DeviceUseStatement":
		clear(p.devices)
	}
}

// inCompartmentType reports whether resources of typ can belong to a
// patient's compartment.
func (p *Policy) inCompartmentType(typ string) bool {
	return typ == "Patient" || len(p.comp[typ]) > 0
}

// patientsOf returns the patients whose compartment holds the resource,
// from its index entries.
func (p *Policy) patientsOf(typ, id string, index []vigil.IndexEntry) []string {
	var out []string
	if typ == "Patient" {
		out = append(out, id)
	}
	params := p.comp[typ]
	for i := range index {
		e := &index[i]
		if e.Type == vigil.ParamReference && e.RefType == "Patient" && e.RefID != "" && slices.Contains(params, e.Param) {
			out = append(out, e.RefID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// patientsOfJSON is patientsOf for a stored resource. With committed set,
// r is a committed version (read outside a write transaction), whose
// answer is cached per version; the slice is then shared, and callers must
// not change it.
func (p *Policy) patientsOfJSON(r *vigil.Resource, committed bool) ([]string, error) {
	if r.Type == "Patient" {
		return []string{r.ID}, nil
	}
	k := keyOf(r)
	if ps, ok := p.patients.get(k); ok {
		return ps, nil
	}
	ps, err := p.decodePatients(r)
	if err != nil {
		return nil, err
	}
	if committed && r.Version > 0 {
		p.patients.put(k, ps)
	}
	return ps, nil
}

// decodePatients decodes r's JSON and indexes its compartment parameters.
func (p *Policy) decodePatients(r *vigil.Resource) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(r.JSON))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	idx, err := p.model.IndexParams(obj, p.comp[r.Type])
	if err != nil {
		return nil, err
	}
	return p.patientsOf(r.Type, r.ID, idx), nil
}

// adminReadable lists the compartment types an admin reads without
// break-the-glass: who cares for whom is access-control data.
var adminReadable = []string{"CareTeam"}

// canRead decides whether v may see r.
func (p *Policy) canRead(v *view, r *vigil.Resource) (bool, error) {
	switch v.p.Role {
	case vigil.RoleDevice:
		return false, nil
	case vigil.RoleService:
		return vigil.Allows(v.p.Scopes, r.Type, false), nil
	}
	if v.p.Scopes != nil && !vigil.Allows(v.p.Scopes, r.Type, false) {
		return false, nil
	}
	if !p.inCompartmentType(r.Type) {
		// Not patient data (Practitioner, Organization, Medication…).
		return v.p.Role != vigil.RolePatient, nil
	}
	if v.p.Role == vigil.RoleAdmin && slices.Contains(adminReadable, r.Type) {
		return true, nil
	}
	if r.Deleted || len(r.JSON) == 0 {
		return false, nil
	}
	ps, err := p.patientsOfJSON(r, !v.inWrite)
	if err != nil {
		return false, err
	}
	for _, id := range ps {
		if v.sees(id) {
			return true, nil
		}
	}
	return false, nil
}

// source returns meta.source of a stored or new resource.
func source(data []byte) string {
	var m struct {
		Meta struct {
			Source string `json:"source"`
		} `json:"meta"`
	}
	_ = json.Unmarshal(data, &m)
	return m.Meta.Source
}

// effectiveTime returns when an Observation was taken (effectiveDateTime,
// effectiveInstant or the start of effectivePeriod), or now when it names
// none: the device binding is checked at that time.
func effectiveTime(data []byte, now time.Time) time.Time {
	var o struct {
		DateTime string `json:"effectiveDateTime"`
		Instant  string `json:"effectiveInstant"`
		Period   struct {
			Start string `json:"start"`
		} `json:"effectivePeriod"`
	}
	_ = json.Unmarshal(data, &o)
	for _, v := range []string{o.DateTime, o.Instant, o.Period.Start} {
		if t, _, err := fhir.DateRange(v); err == nil {
			return t
		}
	}
	return now
}

// canWrite decides whether v may write version r (with its index) over
// old (nil for a create).
func (p *Policy) canWrite(ctx context.Context, v *view, r *vigil.Resource, index []vigil.IndexEntry, old *vigil.Resource) error {
	pr := v.p
	deny := func(msg string) error { return forbidden(msg) }
	if pr.Scopes != nil && !vigil.Allows(pr.Scopes, r.Type, true) {
		return deny("the token's scopes do not allow writing " + r.Type)
	}
	if pr.Role == vigil.RoleService {
		return nil
	}
	newPatients := p.patientsOf(r.Type, r.ID, index)
	compType := p.inCompartmentType(r.Type)
	switch pr.Role {
	case vigil.RoleDevice:
		if r.Type != "Observation" || old != nil || r.Deleted || r.Method != "POST" {
			return deny("a device may only create Observations")
		}
		bindings, err := p.DeviceBindings(ctx, pr.Device)
		if err != nil {
			return err
		}
		bound := bindings.At(effectiveTime(r.JSON, p.now()))
		if bound == "" || len(newPatients) != 1 || newPatients[0] != bound {
			return deny("a device may only submit data for the patient it is bound to")
		}
		if source(r.JSON) != vigil.AccountSource(pr.AccountID) {
			return deny("the resource must carry the device account as meta.source")
		}
		return nil
	case vigil.RolePatient:
		if !compType || r.Type == "Patient" {
			return deny("a patient may only submit data to their own record")
		}
		if old != nil && (old.Deleted || source(old.JSON) != vigil.AccountSource(pr.AccountID)) {
			return deny("a patient may only change what they submitted themselves")
		}
		if !r.Deleted && (len(newPatients) == 0 || !allSeen(v, newPatients) || source(r.JSON) != vigil.AccountSource(pr.AccountID)) {
			return deny("a patient may only submit data to their own record")
		}
		return nil
	}
	// Clinicians and admins.
	if !compType {
		return nil
	}
	if pr.Role == vigil.RoleAdmin && (r.Type == "CareTeam" || (r.Type == "Patient" && old == nil)) {
		return nil // admins manage care teams and register patients
	}
	if r.Type == "Patient" && old == nil && pr.Role == vigil.RoleClinician {
		return nil // registering a new patient
	}
	if old != nil && !old.Deleted {
		ok, err := p.canRead(v, old)
		if err != nil {
			return err
		}
		if !ok {
			return hidden(old.Type, old.ID)
		}
	}
	if !r.Deleted && (len(newPatients) == 0 || !allSeen(v, newPatients)) {
		return deny("the resource would belong to a patient outside your care teams")
	}
	return nil
}

func allSeen(v *view, ids []string) bool {
	for _, id := range ids {
		if !v.sees(id) {
			return false
		}
	}
	return true
}

// testedTypes returns the resource types a parameter's chains and _has
// filters read (a chain with no target types may read any: "*").
func testedTypes(p *vigil.SearchParam) []string {
	var out []string
	if p.Chain != nil {
		if len(p.TargetTypes) == 0 {
			out = append(out, "*")
		}
		out = append(out, p.TargetTypes...)
		out = append(out, testedTypes(p.Chain)...)
	}
	if p.Has != nil {
		out = append(out, p.Has.Type)
		if p.Has.Filter != nil {
			out = append(out, testedTypes(p.Has.Filter)...)
		}
	}
	return out
}

// restrict narrows a search to what v may see, or refuses it.
func (p *Policy) restrict(v *view, q *vigil.SearchQuery) (*vigil.SearchQuery, error) {
	pr := v.p
	if pr.Role == vigil.RoleDevice {
		return nil, forbidden("a device may not search")
	}
	typ := q.Type
	scoped := []string{typOrAll(typ)}
	if typ == "" && len(q.Types) > 0 {
		scoped = q.Types // _type: the scopes must allow each of them
	}
	// Chains and _has test other types' resources: the scopes must allow
	// reading those too, or the answer tells what they hold.
	for i := range q.Params {
		scoped = append(scoped, testedTypes(&q.Params[i])...)
	}
	for _, t := range scoped {
		if pr.Scopes != nil && !vigil.Allows(pr.Scopes, t, false) {
			return nil, forbidden("the token's scopes do not allow reading " + t)
		}
	}
	if v.all {
		return q, nil
	}
	nq := *q
	r := &vigil.Compartment{Type: "Patient", Params: p.comp}
	if len(v.patients) == 1 {
		r.ID = v.patients[0]
	} else {
		r.IDs = v.patients
	}
	// Chains and _has filters of any search test only what v sees.
	nq.Visible = r
	if typ != "" && !p.inCompartmentType(typ) {
		if pr.Role == vigil.RolePatient {
			return nil, forbidden("a patient may only search their own record")
		}
		return &nq, nil
	}
	if pr.Role == vigil.RoleAdmin && slices.Contains(adminReadable, typ) {
		return &nq, nil
	}
	nq.Restrict = r
	return &nq, nil
}

func typOrAll(t string) string {
	if t == "" {
		return "*"
	}
	return t
}

// Visible reports what the principal of ctx may see of patients' data: all
// of it (services with a read scope), or the listed patient ids (sorted).
func (p *Policy) Visible(ctx context.Context) (all bool, patients []string, err error) {
	v, err := p.viewOf(ctx)
	if err != nil {
		return false, nil, err
	}
	if v.p.Role == vigil.RoleDevice {
		return false, nil, nil
	}
	if v.all {
		return vigil.Allows(v.p.Scopes, "Observation", false), nil, nil
	}
	return false, v.patients, nil
}

// SeesPatient reports whether the principal of ctx may see the patient's
// data.
func (p *Policy) SeesPatient(ctx context.Context, patient string) (bool, error) {
	all, ids, err := p.Visible(ctx)
	if err != nil {
		return false, err
	}
	if all {
		return true, nil
	}
	_, ok := slices.BinarySearch(ids, patient)
	return ok, nil
}
