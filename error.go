package vigil

import (
	"errors"
	"fmt"
)

// Sentinel errors shared by every package. Test for them with errors.Is; the
// HTTP layer maps each to one status code in one table.
var (
	// ErrNotFound means the thing asked for does not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrGone means a resource existed but has been deleted (HTTP 410).
	ErrGone = errors.New("gone")
	// ErrConflict means a write lost a race or contradicts current state,
	// such as a version mismatch on update (HTTP 409).
	ErrConflict = errors.New("conflict")
	// ErrPrecondition means a client-supplied precondition (If-Match,
	// If-None-Exist with several matches) failed (HTTP 412).
	ErrPrecondition = errors.New("precondition failed")
	// ErrInvalid means the input is malformed or violates a rule (HTTP 400).
	ErrInvalid = errors.New("invalid input")
	// ErrUnprocessable means the input is well-formed but fails validation
	// against the FHIR structure definitions (HTTP 422).
	ErrUnprocessable = errors.New("unprocessable")
	// ErrForbidden means the caller is authenticated but not allowed (HTTP 403).
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthorized means the caller is not authenticated (HTTP 401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrTooLarge means a body or result exceeds a configured limit (HTTP 413).
	ErrTooLarge = errors.New("too large")
	// ErrTooMany means the caller must slow down: too many attempts, such
	// as failed logins from one address (HTTP 429).
	ErrTooMany = errors.New("too many requests")
	// ErrUnavailable means a dependency the request needs is down, such as
	// the audit trail (HTTP 503); the caller may retry.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnsupported means a valid request the server does not implement
	// (HTTP 501), or an unsupported media type where the caller says so.
	ErrUnsupported = errors.New("unsupported")
)

// Issue is one problem found in a request, located by a FHIRPath-like path
// such as "Patient.name[0].given". Issues end up in an OperationOutcome.
type Issue struct {
	// Severity is "fatal", "error", "warning" or "information".
	Severity string
	// Code is a FHIR issue-type code such as "structure", "required",
	// "value", "invalid", "not-found", "not-supported".
	Code string
	// Path locates the problem inside the resource or request; may be empty.
	Path string
	// Message is safe to show to the caller: it never contains patient data.
	Message string
}

// Error is an error with a message safe to return to a caller, kept apart
// from the internal cause (which may hold details that must not leave the
// server). Kind is one of the sentinel errors above, so errors.Is(err,
// ErrNotFound) works on an *Error.
type Error struct {
	Kind    error   // one of the sentinel errors
	Message string  // public message: no patient data, no secrets
	Issues  []Issue // optional detail, for OperationOutcome
	Err     error   // internal cause; may be nil
}

// Errorf returns an *Error of the given kind with a formatted public message.
// Only put values in the message that are safe to show (types, paths, ids).
func Errorf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Error implements error. It returns the public message and the cause.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// PublicMessage returns the message of the outermost *Error in err's chain,
// or a generic text for the sentinel it wraps. It never returns internal
// causes, so it is safe to put into an HTTP response.
func PublicMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	for _, s := range []error{ErrNotFound, ErrGone, ErrConflict, ErrPrecondition, ErrInvalid,
		ErrUnprocessable, ErrForbidden, ErrUnauthorized, ErrTooLarge, ErrTooMany, ErrUnavailable, ErrUnsupported} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "internal error"
}
