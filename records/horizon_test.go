package records_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/internal/teststore"
	"github.com/vigilhealth/vigil/records"
)

// heldStore holds back the next write until release is closed: on SQLite
// before it reaches the store's writer (a write queued behind others), on
// PostgreSQL inside its transaction after the resource is put (a
// transaction that commits late, after a later one took a higher sequence
// number). Both are what happens under load; the test makes them certain.
type heldStore struct {
	vigil.ResourceStore
	inside  bool
	hold    atomic.Bool
	held    chan struct{} // closed when the held write is waiting
	release chan struct{}
	once    sync.Once
}

// let releases the held write (once; also on a failed test's cleanup).
func (h *heldStore) let() { h.once.Do(func() { close(h.release) }) }

func (h *heldStore) Write(ctx context.Context, fn func(context.Context, vigil.ResourceTx) error) error {
	if !h.hold.CompareAndSwap(true, false) {
		return h.ResourceStore.Write(ctx, fn)
	}
	if !h.inside {
		close(h.held)
		<-h.release
		return h.ResourceStore.Write(ctx, fn)
	}
	return h.ResourceStore.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		close(h.held)
		<-h.release
		return nil
	})
}

type historyBundle struct {
	Meta struct {
		LastUpdated string `json:"lastUpdated"`
	} `json:"meta"`
	Link []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Resource struct {
			ID string `json:"id"`
		} `json:"resource"`
	} `json:"entry"`
}

func historyPage(t *testing.T, svc *records.Service, q url.Values) historyBundle {
	t.Helper()
	return decodePage(t, "history", q)(svc.History(context.Background(), &records.HistoryRequest{Type: "Basic", Query: q, Base: "http://x/fhir"}))
}

func searchPage(t *testing.T, svc *records.Service, q url.Values) historyBundle {
	t.Helper()
	return decodePage(t, "search", q)(svc.Search(context.Background(), &records.SearchRequest{Type: "Basic", Query: q, Base: "http://x/fhir"}))
}

// decodePage returns a function that decodes a page's Bundle, failing the
// test on an error of the interaction what with query q.
func decodePage(t *testing.T, what string, q url.Values) func(*records.Page, error) historyBundle {
	return func(page *records.Page, err error) historyBundle {
		t.Helper()
		if err != nil {
			t.Fatalf("%s %v: %v", what, q, err)
		}
		var b historyBundle
		if err := json.Unmarshal(page.Bundle, &b); err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func (b historyBundle) ids() map[string]bool {
	m := map[string]bool{}
	for _, e := range b.Entry {
		m[e.Resource.ID] = true
	}
	return m
}

// TestHistoryPollingHorizon is the late-commit case of polling (history
// with _since, and searches with _lastUpdated): a
// create stamped at t0 commits after one stamped at t0+5 ms. A client that
// polled in between and asked next from the newest version it saw would
// never see the first; asking from the history Bundle's meta.lastUpdated
// (the horizon) it does, on both stores. Every page of one listing names
// its first page's horizon; searchset Bundles carry it too.
func TestHistoryPollingHorizon(t *testing.T) {
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range teststore.All() {
		t.Run(st.Name, func(t *testing.T) {
			inner := st.Open(t)
			store := &heldStore{ResourceStore: inner, inside: st.Name != "sqlite", held: make(chan struct{}), release: make(chan struct{})}
			var wg sync.WaitGroup
			t.Cleanup(func() { store.let(); wg.Wait(); inner.Close() })
			t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
			var clock atomic.Int64
			clock.Store(t0.UnixNano())
			svc := records.New(store, model, records.WithClock(func() time.Time { return time.Unix(0, clock.Load()) }))
			ctx := context.Background()
			body := []byte(`{"resourceType":"Basic","code":{"text":"x"}}`)

			// Something older, so that the pages below have two versions.
			old, err := svc.Create(ctx, "Basic", body, "")
			if err != nil {
				t.Fatal(err)
			}
			clock.Add(int64(time.Second))
			tLate := time.Unix(0, clock.Load()).UTC()

			store.hold.Store(true)
			var late *records.Result
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if late, err = svc.Create(ctx, "Basic", body, ""); err != nil {
					t.Errorf("late create: %v", err)
				}
			}()
			<-store.held
			clock.Add(int64(5 * time.Millisecond))
			early, err := svc.Create(ctx, "Basic", body, "")
			if err != nil {
				t.Fatal(err)
			}

			first := historyPage(t, svc, url.Values{})
			if got := first.ids(); !got[early.Resource.ID] || !got[old.Resource.ID] || len(got) != 2 {
				t.Fatalf("first poll lists %v, want the committed %s and %s only", got, old.Resource.ID, early.Resource.ID)
			}
			if want := records.FormatInstant(tLate); first.Meta.LastUpdated != want {
				t.Fatalf("first poll meta.lastUpdated = %s, want the held write's beginning %s", first.Meta.LastUpdated, want)
			}

			// A searchset Bundle carries the same horizon.
			firstSearch := searchPage(t, svc, url.Values{"_count": {"100"}})
			if want := records.FormatInstant(tLate); firstSearch.Meta.LastUpdated != want {
				t.Fatalf("search meta.lastUpdated = %s, want the held write's beginning %s", firstSearch.Meta.LastUpdated, want)
			}

			store.let()
			wg.Wait()
			if !searchPage(t, svc, url.Values{"_lastUpdated": {"ge" + firstSearch.Meta.LastUpdated}}).ids()[late.Resource.ID] {
				t.Errorf("polling a search from meta.lastUpdated %s missed the late commit", firstSearch.Meta.LastUpdated)
			}
			if searchPage(t, svc, url.Values{"_lastUpdated": {"gt" + records.FormatInstant(early.Resource.LastUpdated)}}).ids()[late.Resource.ID] {
				t.Errorf("the late commit is stamped after the newest version seen; the case is not made")
			}
			if !late.Resource.LastUpdated.Before(early.Resource.LastUpdated) {
				t.Fatalf("the held create (%v) should carry an earlier stamp than the one that committed first (%v)", late.Resource.LastUpdated, early.Resource.LastUpdated)
			}
			// Asking from the newest version seen misses the late commit...
			fromNewest := historyPage(t, svc, url.Values{"_since": {records.FormatInstant(early.Resource.LastUpdated)}})
			if fromNewest.ids()[late.Resource.ID] {
				t.Fatalf("the late commit is stamped before the newest version seen; the case is not made")
			}
			// ...asking from the horizon does not.
			next := historyPage(t, svc, url.Values{"_since": {first.Meta.LastUpdated}})
			if !next.ids()[late.Resource.ID] {
				t.Errorf("polling from meta.lastUpdated %s missed the late commit stamped %v", first.Meta.LastUpdated, late.Resource.LastUpdated)
			}

			// Pages: every page names the first page's horizon, even when
			// the clock has moved on.
			p1 := historyPage(t, svc, url.Values{"_count": {"1"}})
			clock.Add(int64(time.Minute))
			var nextURL string
			for _, l := range p1.Link {
				if l.Relation == "next" {
					nextURL = l.URL
				}
			}
			if nextURL == "" {
				t.Fatal("no next link on a page of one of three versions")
			}
			u, err := url.Parse(nextURL)
			if err != nil {
				t.Fatal(err)
			}
			p2 := historyPage(t, svc, u.Query())
			if p2.Meta.LastUpdated != p1.Meta.LastUpdated {
				t.Errorf("page 2 meta.lastUpdated = %s, want page 1's %s", p2.Meta.LastUpdated, p1.Meta.LastUpdated)
			}
			s1 := searchPage(t, svc, url.Values{"_count": {"1"}})
			clock.Add(int64(time.Minute))
			var searchNext string
			for _, l := range s1.Link {
				if l.Relation == "next" {
					searchNext = l.URL
				}
			}
			su, err := url.Parse(searchNext)
			if err != nil || searchNext == "" {
				t.Fatalf("no next link on a search page of one of three (%v)", err)
			}
			if s2 := searchPage(t, svc, su.Query()); s2.Meta.LastUpdated != s1.Meta.LastUpdated || len(s2.Entry) != 1 {
				t.Errorf("search page 2 meta.lastUpdated = %s with %d entries, want page 1's %s and one", s2.Meta.LastUpdated, len(s2.Entry), s1.Meta.LastUpdated)
			}
			if len(p2.Entry) != 1 || p2.ids()[p1.Entry[0].Resource.ID] {
				t.Errorf("page 2 = %v after page 1 = %v", p2.ids(), p1.ids())
			}

			_, err = svc.History(ctx, &records.HistoryRequest{Type: "Basic", Query: url.Values{"_cursor": {"not-a-cursor"}}, Base: "http://x/fhir"})
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Errorf("forged cursor: err = %v, want ErrInvalid", err)
			}
		})
	}
}
