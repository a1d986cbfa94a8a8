package audit

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
)

// Page sizes for Query.
const (
	DefaultCount = 50
	MaxCount     = 1000
)

// Query returns a page of records matching q, newest first, with keyset
// paging: pass the returned Next as q.Before for the next page. Count
// defaults to DefaultCount and is capped at MaxCount. q.Patient must be a
// "Patient/id" reference (ErrInvalid otherwise).
//
// Every record returned is checked against its MAC and against q, so that
// a row forged or misfiled in the database is never shown: Query fails
// with ErrTampered instead.
func (t *Trail) Query(ctx context.Context, q *vigil.AuditQuery) (*vigil.AuditPage, error) {
	qq := *q
	if qq.Count <= 0 {
		qq.Count = DefaultCount
	}
	qq.Count = min(qq.Count, MaxCount)
	// Stores keep whole microseconds; so do the bounds.
	qq.Since, qq.Until = qq.Since.Truncate(time.Microsecond), qq.Until.Truncate(time.Microsecond)
	if qq.Patient != "" && !validRef(qq.Patient, true) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "patient must be a Patient/id reference")
	}
	for _, a := range qq.Actions {
		if !knownAction(a) {
			return nil, vigil.Errorf(vigil.ErrInvalid, "unknown audit action")
		}
	}
	want := qq.Count
	qq.Count++ // one more tells whether there is a next page
	entries, err := t.store.QueryAudit(ctx, &qq)
	if err != nil {
		return nil, err
	}
	page := &vigil.AuditPage{}
	for i := range entries {
		e := &entries[i]
		if len(page.Records) == want {
			page.Next = page.Records[want-1].Seq
			break
		}
		if !bytes.Equal(e.MAC, t.keys.recordMAC(e.Data)) {
			return nil, fmt.Errorf("%w: record %d does not match its MAC", ErrTampered, e.Seq)
		}
		r, err := Decode(e.Data)
		if err != nil || r.Seq != e.Seq || !matches(&r, &qq) {
			return nil, fmt.Errorf("%w: record %d is not what its index says", ErrTampered, e.Seq)
		}
		page.Records = append(page.Records, r)
	}
	return page, nil
}

// matches reports whether r satisfies q's filters.
func matches(r *vigil.AuditRecord, q *vigil.AuditQuery) bool {
	switch {
	case q.Patient != "" && !slices.Contains(r.Patients, q.Patient),
		q.Agent != "" && r.ActorID != q.Agent,
		!q.Since.IsZero() && r.Time.Before(q.Since),
		!q.Until.IsZero() && !r.Time.Before(q.Until),
		len(q.Actions) > 0 && !slices.Contains(q.Actions, r.Action),
		q.Before > 0 && r.Seq >= q.Before:
		return false
	}
	return true
}

// Read returns record seq (for GET AuditEvent/{id}), checked against its
// MAC. It returns vigil.ErrNotFound when there is no such record and
// ErrTampered when the stored record is not the one written there.
func (t *Trail) Read(ctx context.Context, seq int64) (vigil.AuditRecord, error) {
	var (
		r     vigil.AuditRecord
		found bool
		bad   error
	)
	if seq <= 0 {
		return r, vigil.Errorf(vigil.ErrNotFound, "no audit record %d", seq)
	}
	err := t.store.ScanAudit(ctx, seq, seq, func(e *vigil.AuditEntry) error {
		found = true
		if !bytes.Equal(e.MAC, t.keys.recordMAC(e.Data)) {
			bad = fmt.Errorf("%w: record %d does not match its MAC", ErrTampered, e.Seq)
			return nil
		}
		var err error
		if r, err = Decode(e.Data); err != nil || r.Seq != e.Seq {
			bad = fmt.Errorf("%w: record %d is not the record stored there", ErrTampered, e.Seq)
		}
		return nil
	})
	switch {
	case err != nil:
		return vigil.AuditRecord{}, err
	case !found:
		return vigil.AuditRecord{}, vigil.Errorf(vigil.ErrNotFound, "no audit record %d", seq)
	case bad != nil:
		return vigil.AuditRecord{}, bad
	}
	return r, nil
}
