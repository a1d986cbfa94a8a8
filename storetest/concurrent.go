package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vigilhealth/vigil"
)

// counter is the body of the resources the concurrency test updates.
type counter struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	N            int    `json:"n"`
}

func testConcurrent(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	const (
		writers = 16
		updates = 50 // per writer, read-modify-write on a hot resource
		creates = 10 // per writer, new resources
		hot     = 4
	)
	f := newFx(t, open)
	for h := range hot {
		f.save("Basic", fmt.Sprintf("h%d", h), tok("n", "", "0"))
	}
	at := f.tick()
	var done [hot]atomic.Int64
	var retries atomic.Int64
	// bump increments the counter of Basic/id in one read-modify-write.
	bump := func(ctx context.Context, tx vigil.ResourceTx, id string) error {
		cur, err := tx.Read(ctx, "Basic", id)
		if err != nil {
			return fmt.Errorf("read %s: %w", id, err)
		}
		var c counter
		if cur.Version > 1 {
			if err := json.Unmarshal(cur.JSON, &c); err != nil {
				return fmt.Errorf("decode %s v%d: %w", id, cur.Version, err)
			}
		}
		c.ResourceType, c.ID, c.N = "Basic", id, c.N+1
		body, err := json.Marshal(c)
		if err != nil {
			return err
		}
		r := &vigil.Resource{Type: "Basic", ID: id, Version: cur.Version + 1, LastUpdated: at, Method: "PUT", JSON: body}
		return tx.Put(ctx, r, []vigil.IndexEntry{tok("n", "", fmt.Sprintf("%s:%d", id, c.N))})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		// Reads run alongside the writers and must never fail.
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := f.s.Read(f.ctx, "Basic", "h0"); err != nil {
				t.Errorf("concurrent Read = %v", err)
				return
			}
			q := query("Patient", param("name", vigil.ParamString, vText("w")))
			q.Count = 5
			if _, err := f.s.Search(f.ctx, q); err != nil {
				t.Errorf("concurrent Search = %v", err)
				return
			}
		}
	})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range updates {
				h := (w + i) % hot
				id := fmt.Sprintf("h%d", h)
				for attempt := 0; ; attempt++ {
					err := f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
						return bump(ctx, tx, id)
					})
					if errors.Is(err, vigil.ErrConflict) && attempt < 1000 {
						retries.Add(1)
						continue
					}
					if err != nil {
						t.Errorf("writer %d update %d: Write = %v", w, i, err)
						return
					}
					done[h].Add(1)
					break
				}
				if i%(updates/creates) == 0 {
					id := fmt.Sprintf("w%02d-%02d", w, i)
					err := f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
						return tx.Put(ctx, doc("Patient", id, 1, at), []vigil.IndexEntry{str("name", id)})
					})
					if err != nil {
						t.Errorf("writer %d create: Write = %v", w, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d conflicts retried", retries.Load())
	total := 0
	for h := range hot {
		id := fmt.Sprintf("h%d", h)
		n := done[h].Load()
		total += int(n)
		cur, err := f.s.Read(f.ctx, "Basic", id)
		if err != nil {
			t.Fatalf("Read(%s) = %v", id, err)
		}
		if cur.Version != n+1 {
			t.Errorf("%s is at version %d after %d updates, want %d", id, cur.Version, n, n+1)
		}
		var c counter
		if err := json.Unmarshal(cur.JSON, &c); err != nil {
			t.Fatalf("decode %s: %v", id, err)
		}
		if int64(c.N) != n {
			t.Errorf("%s counter = %d after %d updates: lost updates", id, c.N, n)
		}
		// The history holds every version, consecutive, newest first.
		var versions []int64
		q := &vigil.HistoryQuery{Type: "Basic", ID: id, Count: 100}
		for {
			h, err := f.s.History(f.ctx, q)
			if err != nil {
				t.Fatalf("History(%s) = %v", id, err)
			}
			for _, v := range h.Versions {
				versions = append(versions, v.Version)
			}
			if h.Next == "" {
				break
			}
			q.Cursor = h.Next
		}
		for i, v := range versions {
			if want := n + 1 - int64(i); v != want {
				t.Errorf("%s history[%d] = version %d, want %d", id, i, v, want)
				break
			}
		}
		if int64(len(versions)) != n+1 {
			t.Errorf("%s history has %d versions, want %d", id, len(versions), n+1)
		}
		f.expectSet(query("Basic", param("n", vigil.ParamToken, vCode(fmt.Sprintf("%s:%d", id, n)))), id)
		f.expectSet(query("Basic", param("n", vigil.ParamToken, vCode(fmt.Sprintf("%s:%d", id, n-1)))))
	}
	if total != writers*updates {
		t.Errorf("%d updates done, want %d", total, writers*updates)
	}
	q := query("Patient")
	q.SummaryCount = true
	if res := f.search(q); res.Total != writers*creates {
		t.Errorf("%d Patients created, want %d", res.Total, writers*creates)
	}
}
