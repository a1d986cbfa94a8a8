package sqlite_test

import (
	"errors"
	"testing"

	"github.com/vigilhealth/vigil"
)

// FuzzCursor feeds arbitrary cursors to Search and History: each is either
// accepted or rejected with vigil.ErrInvalid, never a panic or another error.
func FuzzCursor(f *testing.F) {
	db := open(f)
	for _, s := range []string{"", "eyJrIjoxLCJoIjoiIn0", "eyJ2IjpbeyJzIjoieCJ9XSwiayI6MSwiaCI6IiJ9", "eyJzIjo1LCJoIjoiIn0", "!!", "e30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		q := &vigil.SearchQuery{Type: "Patient", Cursor: cursor, Sort: []vigil.SortKey{{Param: "name", Type: vigil.ParamString}}}
		if _, err := db.Search(t.Context(), q); err != nil && !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("Search(cursor %q) = %v, want nil or ErrInvalid", cursor, err)
		}
		if _, err := db.History(t.Context(), &vigil.HistoryQuery{Cursor: cursor}); err != nil && !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("History(cursor %q) = %v, want nil or ErrInvalid", cursor, err)
		}
	})
}
