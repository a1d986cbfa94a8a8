package httpapi

import (
	"context"

	"github.com/vigilhealth/vigil"
)

// Action names a FHIR interaction for access control and audit.
type Action string

// The interactions.
const (
	ActionRead       Action = "read"
	ActionVRead      Action = "vread"
	ActionSearch     Action = "search"
	ActionHistory    Action = "history"
	ActionCreate     Action = "create"
	ActionUpdate     Action = "update"
	ActionPatch      Action = "patch"
	ActionDelete     Action = "delete"
	ActionBatch      Action = "batch"
	ActionEverything Action = "everything"
	ActionMetadata   Action = "capabilities"
)

// Access describes one interaction: what the Policy is asked about before
// it runs, and what the Auditor records after.
type Access struct {
	Action   Action
	Type     string         // resource type, "" for system-level interactions
	ID       string         // resource id when the interaction names one
	Resource map[string]any // the resource being written, for create/update
	// Compartment is "Patient/123" for compartment searches and $everything.
	Compartment string
	// Query is the search being run; a Policy may narrow it (for example to
	// the caller's own compartment) before it reaches the store.
	Query *vigil.SearchQuery
	// Outcome, filled before auditing: nil on success.
	Err error
	// Touched lists the resources returned or written ("Type/id").
	Touched []string
	// RequestID and Source (remote address) identify the request.
	RequestID string
	Source    string

	// appended reports whether the store committed the record with the
	// write (CommitAuditor); nil when not asked.
	appended func() bool
}

// Policy decides whether an interaction is allowed, in one place for every
// request. It returns vigil.ErrForbidden or vigil.ErrUnauthorized to deny.
type Policy interface {
	Authorize(ctx context.Context, a *Access) error
	// Filter narrows a search so that it can only return what the caller
	// may see (including counts, _include and paging).
	Filter(ctx context.Context, a *Access, q *vigil.SearchQuery) error
}

// Auditor records interactions after they ran (the audit trail). Record
// returns after the record is durable; when it fails, the request is
// answered 503 instead of its result (fail closed: no unaudited access to
// health data).
type Auditor interface {
	Record(ctx context.Context, a *Access) error
}

// CommitAuditor is an Auditor that can have the store write the record of
// a create, update, patch or delete in the same transaction as the change
// (vigil.CommitAudit): one commit instead of two, and no change without
// its record. InCommit returns the context for the write and a function
// that reports, after it, whether the store did so; when it did not (a
// failed write, a write that stored nothing, a store without the feature),
// Record is called as usual.
type CommitAuditor interface {
	Auditor
	InCommit(ctx context.Context, a *Access) (context.Context, func() bool)
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, *Access) error                  { return nil }
func (allowAll) Filter(context.Context, *Access, *vigil.SearchQuery) error { return nil }

type noAudit struct{}

func (noAudit) Record(context.Context, *Access) error { return nil }
