package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
)

// TestConcurrentNewQueryShapes runs many searches of shapes not seen
// before at once on a small read pool. Preparing a new shape must never
// wait for a connection while the searches holding every connection wait
// for it (the statement cache once deadlocked so).
func TestConcurrentNewQueryShapes(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.WithReaders(2))
	if err != nil {
		t.Fatal(err)
	}
	// Closed only on success: after a deadlock Close would wait forever.
	err = db.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		for i := range 10 {
			r := &vigil.Resource{Type: "Patient", ID: fmt.Sprint("p", i), Version: 1, LastUpdated: time.Now().UTC(), Method: "PUT", JSON: []byte(`{}`)}
			idx := []vigil.IndexEntry{{Param: "family", Type: vigil.ParamString, Text: fmt.Sprint("name", i), Exact: fmt.Sprint("Name", i)}}
			if err := tx.Put(ctx, r, idx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// g+1 ORed values: a different SQL text per goroutine.
				vals := make([]vigil.SearchValue, g%32+1)
				for i := range vals {
					vals[i] = vigil.SearchValue{Text: fmt.Sprint("name", i)}
				}
				q := &vigil.SearchQuery{Type: "Patient", Total: g%2 == 0, Params: []vigil.SearchParam{{Name: "family", Type: vigil.ParamString, Values: vals}}}
				if _, err := db.Search(ctx, q); err != nil {
					t.Errorf("search: %v", err)
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("concurrent searches of new shapes did not finish in 30 s (deadlock?)")
	}
}
