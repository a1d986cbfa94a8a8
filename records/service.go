package records

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
)

// Service performs FHIR interactions against a store. It is safe for
// concurrent use; its zero value is not usable, call New.
type Service struct {
	store vigil.ResourceStore
	model *fhir.Model
	now   func() time.Time
	newID func() string
	hooks []WriteHook
	// samples and seesPatient show device samples as Observations
	// (WithSamples, samples*.go); nil without.
	samples     SampleSource
	seesPatient func(ctx context.Context, patient string) (bool, error)
	// horizon tracks the writes in flight (WithHorizon; horizon.go).
	horizon *vigil.WriteHorizon
	// terms reads the server's own ValueSet and CodeSystem resources for
	// token :in, :not-in, :above and :below (WithTerminology;
	// terminology.go); nil: the store.
	terms vigil.ResourceReader
	// index tells whether the store's index is an older program's, still
	// being rebuilt (WithIndexState; reindex.go).
	index *IndexState
}

// WriteHook is told about every resource version the Service commits, after
// the commit. Ingestion uses it to feed vital-sign Observations into the
// monitoring stream. Hooks must be quick and must not block.
type WriteHook func(ctx context.Context, r *vigil.Resource)

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock used for meta.lastUpdated (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithIDs sets the generator of server-assigned ids (default: random
// 128-bit hex in UUID layout).
func WithIDs(newID func() string) Option { return func(s *Service) { s.newID = newID } }

// WithHorizon shares h with the other writers of the process (device
// ingestion, the monitor's derived readings), so that the meta.lastUpdated
// of history and searchset Bundles covers their writes in flight too.
// Without it the Service tracks its own writes only.
func WithHorizon(h *vigil.WriteHorizon) Option { return func(s *Service) { s.horizon = h } }

// WithTerminology reads the server's own ValueSet and CodeSystem resources
// (for token :in, :not-in, :above and :below) through r instead of the
// Service's store. A Service on an access-guarded store is given the
// unguarded one: those resources hold no patient data, and a patient or a
// narrowly scoped token may search with the modifiers without being
// allowed to read ValueSets (the expansion is used, never returned).
func WithTerminology(r vigil.ResourceReader) Option { return func(s *Service) { s.terms = r } }

// WithIndexState shares st with the other Services of the process, so that
// all of them search an index an older program made, while it is rebuilt,
// the way that program did (IndexState).
func WithIndexState(st *IndexState) Option { return func(s *Service) { s.index = st } }

// WithWriteHook adds a hook called after each committed version.
func WithWriteHook(h WriteHook) Option { return func(s *Service) { s.hooks = append(s.hooks, h) } }

// New returns a Service over store, validating with model.
func New(store vigil.ResourceStore, model *fhir.Model, opts ...Option) *Service {
	s := &Service{store: store, model: model, now: time.Now, newID: NewID, horizon: &vigil.WriteHorizon{}, index: &IndexState{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// instant returns the current time as stored: UTC, truncated to the
// millisecond precision of meta.lastUpdated, so that Resource.LastUpdated,
// the JSON and _lastUpdated searches agree.
func (s *Service) instant() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// Model returns the FHIR model the service validates with.
func (s *Service) Model() *fhir.Model { return s.model }

// Store returns the underlying store.
func (s *Service) Store() vigil.ResourceStore { return s.store }

// NewID returns a new id: a UUID version 7 (RFC 9562 §5.7), 48 bits of
// Unix milliseconds followed by 74 random bits, valid as a FHIR id. Ids
// made later sort later, so stores append new resources to their id index
// instead of writing to a random page of it. The id reveals when the
// resource was created (as meta.lastUpdated does) and nothing else.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// validID reports whether id is a FHIR id: [A-Za-z0-9\-\.]{1,64}.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Object is a decoded FHIR resource: JSON objects as map[string]any,
// numbers as json.Number.
type Object = map[string]any

// decode parses and validates a resource body, checking that it is of the
// expected type when typ is not empty.
func (s *Service) decode(body []byte, typ string) (Object, error) {
	obj, err := s.model.Decode(body)
	if err != nil {
		return nil, err
	}
	rt, _ := obj["resourceType"].(string)
	if typ != "" && rt != typ {
		return nil, vigil.Errorf(vigil.ErrInvalid, "resource type %q does not match the URL type %q", rt, typ)
	}
	return obj, nil
}

// validate checks an in-memory resource (after references were rewritten,
// a patch applied, …).
func (s *Service) validate(obj Object) error {
	issues := s.model.Validate(obj)
	if hasErrors(issues) {
		return &vigil.Error{Kind: vigil.ErrUnprocessable, Message: "resource does not conform to FHIR R4", Issues: issues}
	}
	return nil
}

func hasErrors(issues []vigil.Issue) bool {
	for _, is := range issues {
		if is.Severity == "error" || is.Severity == "fatal" {
			return true
		}
	}
	return false
}

// prepared is a resource version ready to Put: its JSON carries the final
// meta and its index entries are extracted.
type prepared struct {
	res   vigil.Resource
	index []vigil.IndexEntry
	obj   Object // set for imports, whose version is decided at commit
}

// prepare sets id and meta on obj, encodes it and extracts its index.
func (s *Service) prepare(obj Object, typ, id string, version int64, method string, now time.Time) (*prepared, error) {
	obj["id"] = id
	setMeta(obj, version, now)
	data, err := Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	idx, err := s.model.Index(obj)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", typ, err)
	}
	return &prepared{
		res:   vigil.Resource{Type: typ, ID: id, Version: version, LastUpdated: now, Method: method, JSON: data},
		index: idx,
	}, nil
}

// setMeta sets meta.versionId and meta.lastUpdated, keeping other meta
// elements (tags, profiles, security labels, source).
func setMeta(obj Object, version int64, t time.Time) {
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["meta"] = meta
	}
	meta["versionId"] = strconv.FormatInt(version, 10)
	meta["lastUpdated"] = FormatInstant(t)
}

// FormatInstant formats t as a FHIR instant in UTC with millisecond precision.
func FormatInstant(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// Marshal encodes a resource with "resourceType" first and the other
// elements in sorted order, without HTML escaping.
func Marshal(obj Object) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(512)
	buf.WriteByte('{')
	first := true
	writeKV := func(k string, v any) error {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		return encodeValue(&buf, v)
	}
	if rt, ok := obj["resourceType"]; ok {
		if err := writeKV("resourceType", rt); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		if k != "resourceType" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := writeKV(k, obj[k]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func encodeValue(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case map[string]any:
		// Contained resources keep resourceType first too.
		b, err := Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
		return nil
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeValue(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	default:
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode appends a newline
		return nil
	}
}

// unmarshal decodes stored JSON (already validated) into an Object.
func unmarshal(data []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj Object
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("decode stored resource: %w", err)
	}
	return obj, nil
}

// notify calls the write hooks for committed versions.
func (s *Service) notify(ctx context.Context, rs ...*vigil.Resource) {
	for _, h := range s.hooks {
		for _, r := range rs {
			h(ctx, r)
		}
	}
}

// jsonUnmarshalNumber decodes data into v with json.Number numbers and
// rejects trailing data.
func jsonUnmarshalNumber(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}
