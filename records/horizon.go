package records

import (
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// track registers a write beginning now in the Service's write horizon
// (vigil.WriteHorizon); defer the result.
func (s *Service) track() (end func()) { return s.horizon.Begin(s.instant) }

// Horizon returns the instant before which every version this Service (and
// every other writer sharing its vigil.WriteHorizon, WithHorizon) stamped
// has been committed or has failed: the meta.lastUpdated of history and
// searchset Bundles, from which a polling client asks next.
func (s *Service) Horizon() time.Time { return s.horizon.At(s.instant) }

// The write horizon itself is vigil.WriteHorizon: see there why history
// and searchset Bundles carry it in meta.lastUpdated.

// markCursor joins the horizon of a listing's first page with the
// cursor of the page after it (the store's, or a merged one), so that
// every page of one listing names the same horizon: "<unix ms>.<cursor>".
func markCursor(at time.Time, cursor string) string {
	if cursor == "" {
		return ""
	}
	return strconv.FormatInt(at.UnixMilli(), 10) + "." + cursor
}

// markedCursor reads a paging parameter made by markCursor: the first
// page's horizon and the inner cursor. Without one (a first page) it
// takes the horizon now, before the listing is read; so it does for a
// cursor made before cursors carried it (no leading "<digits>."), which
// the store then checks as before.
func (s *Service) markedCursor(c string) (at time.Time, cursor string, err error) {
	ms, inner, found := strings.Cut(c, ".")
	if !found || ms == "" || strings.Trim(ms, "0123456789") != "" {
		return s.Horizon(), c, nil
	}
	n, perr := strconv.ParseInt(ms, 10, 64)
	if perr != nil || inner == "" {
		return time.Time{}, "", vigil.Errorf(vigil.ErrInvalid, "the paging cursor is not valid")
	}
	return time.UnixMilli(n).UTC(), inner, nil
}
