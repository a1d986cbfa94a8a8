package records

import (
	"context"
	"errors"
	"net/http"

	"github.com/vigilhealth/vigil"
)

// statusTable maps each sentinel error to its HTTP status: the one place
// where Vigil's error vocabulary meets HTTP.
var statusTable = []struct {
	kind   error
	status int
	code   string // FHIR issue-type code
}{
	{vigil.ErrNotFound, http.StatusNotFound, "not-found"},
	{vigil.ErrGone, http.StatusGone, "deleted"},
	{vigil.ErrConflict, http.StatusConflict, "conflict"},
	{vigil.ErrPrecondition, http.StatusPreconditionFailed, "conflict"},
	{vigil.ErrUnprocessable, http.StatusUnprocessableEntity, "processing"},
	{vigil.ErrInvalid, http.StatusBadRequest, "invalid"},
	{vigil.ErrUnauthorized, http.StatusUnauthorized, "login"},
	{vigil.ErrForbidden, http.StatusForbidden, "forbidden"},
	{vigil.ErrTooLarge, http.StatusRequestEntityTooLarge, "too-costly"},
	{vigil.ErrTooMany, http.StatusTooManyRequests, "throttled"},
	{vigil.ErrUnavailable, http.StatusServiceUnavailable, "transient"},
	{vigil.ErrUnsupported, http.StatusNotImplemented, "not-supported"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "timeout"},
	{context.Canceled, 499, "timeout"},
}

// Status returns the HTTP status for err: the status of the first sentinel
// it wraps, or 500.
func Status(err error) int {
	for _, e := range statusTable {
		if errors.Is(err, e.kind) {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

func issueCode(err error) string {
	for _, e := range statusTable {
		if errors.Is(err, e.kind) {
			return e.code
		}
	}
	return "exception"
}

// Outcome renders err as an OperationOutcome. Only public messages and
// issues go into it, never internal causes.
func Outcome(err error) []byte {
	var issues []vigil.Issue
	var ve *vigil.Error
	if errors.As(err, &ve) {
		issues = append(issues, ve.Issues...)
	}
	if len(issues) == 0 {
		issues = []vigil.Issue{{Severity: "error", Code: issueCode(err), Message: vigil.PublicMessage(err)}}
	} else if ve != nil && ve.Message != "" {
		issues = append([]vigil.Issue{{Severity: "error", Code: issueCode(err), Message: ve.Message}}, issues...)
	}
	return OutcomeOf(issues)
}

// OutcomeOf renders issues as an OperationOutcome.
func OutcomeOf(issues []vigil.Issue) []byte {
	list := make([]any, 0, len(issues))
	for _, is := range issues {
		m := map[string]any{"severity": orDefault(is.Severity, "error"), "code": orDefault(is.Code, "processing")}
		if is.Message != "" {
			m["diagnostics"] = is.Message
		}
		if is.Path != "" {
			m["expression"] = []any{is.Path}
		}
		list = append(list, m)
	}
	b, err := Marshal(Object{"resourceType": "OperationOutcome", "issue": list})
	if err != nil {
		return []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}`)
	}
	return b
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
