package alert_test

import (
	"context"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
)

func patientEvent(id, patient string) alert.Event {
	ev := event(alert.Created, id)
	ev.Alert.Patient = patient
	return ev
}

func TestHubFilter(t *testing.T) {
	h := alert.NewHub(8)
	mine, cancelMine := h.Subscribe(func(a *vigil.Alert) bool { return a.Patient == "p1" })
	defer cancelMine()
	all, cancelAll := h.Subscribe(nil)
	defer cancelAll()
	for i, p := range []string{"p1", "p2", "p1"} {
		h.Publish(patientEvent(string(rune('a'+i)), p))
	}
	tests := []struct {
		name string
		ch   <-chan alert.Event
		want string
	}{
		{"filtered", mine, "ac"},
		{"all", all, "abc"},
	}
	for _, tt := range tests {
		got := ""
		for len(got) < len(tt.want) {
			select {
			case ev := <-tt.ch:
				got += ev.ID
			case <-time.After(time.Second):
				t.Fatalf("%s: got %q, then nothing; want %q", tt.name, got, tt.want)
			}
		}
		select {
		case ev := <-tt.ch:
			t.Errorf("%s: extra event %s", tt.name, ev.ID)
		default:
		}
		if got != tt.want {
			t.Errorf("%s: events %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestHubSlowSubscriber checks that a subscriber that does not read never
// blocks Publish, loses what does not fit its buffer, and learns how many
// events it missed.
func TestHubSlowSubscriber(t *testing.T) {
	h := alert.NewHub(2)
	slow, cancel := h.Subscribe(nil)
	defer cancel()
	published := make(chan struct{})
	go func() {
		for _, id := range []string{"1", "2", "3", "4", "5"} {
			h.Publish(event(alert.Updated, id))
		}
		close(published)
	}()
	select {
	case <-published:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a slow subscriber")
	}
	e1, e2 := <-slow, <-slow
	if e1.ID != "1" || e2.ID != "2" || e1.Missed != 0 || e2.Missed != 0 {
		t.Errorf("buffered events %s (missed %d), %s (missed %d); want 1 and 2, none missed", e1.ID, e1.Missed, e2.ID, e2.Missed)
	}
	h.Publish(event(alert.Updated, "6"))
	if e := <-slow; e.ID != "6" || e.Missed != 3 {
		t.Errorf("next event %s with Missed %d, want 6 with 3 (events 3, 4, 5)", e.ID, e.Missed)
	}
}

func TestHubCancel(t *testing.T) {
	h := alert.NewHub(0)
	ch, cancel := h.Subscribe(nil)
	if h.Subscribers() != 1 {
		t.Fatalf("Subscribers = %d, want 1", h.Subscribers())
	}
	cancel()
	cancel() // a second call is harmless
	if _, ok := <-ch; ok {
		t.Error("channel open after cancel")
	}
	if h.Subscribers() != 0 {
		t.Errorf("Subscribers after cancel = %d, want 0", h.Subscribers())
	}
	h.Publish(event(alert.Created, "x")) // no subscriber: no panic
}

// TestHubWithEngine subscribes to a live engine and checks that a raise
// arrives once the store has it.
func TestHubWithEngine(t *testing.T) {
	ctx := context.Background()
	hub := alert.NewHub(16)
	store := openSQLite(t)
	eng, err := alert.New(alert.Config{Store: store, Sinks: []alert.Sink{hub}})
	if err != nil {
		t.Fatal(err)
	}
	ch, cancel := hub.Subscribe(func(a *vigil.Alert) bool { return a.Patient == "p1" })
	defer cancel()
	if _, err := eng.Raise(ctx, finding("p2", "spo2", "high")); err != nil {
		t.Fatal(err)
	}
	a, err := eng.Raise(ctx, finding("p1", "spo2", "high", sample("p1", 0, 85)))
	if err != nil {
		t.Fatal(err)
	}
	ev := <-ch
	if ev.Kind != alert.Created || ev.Alert.ID != a.ID || len(ev.Alert.Readings) != 1 {
		t.Errorf("event %s of alert %s with %d readings, want created of %s with 1", ev.Kind, ev.Alert.ID, len(ev.Alert.Readings), a.ID)
	}
	stored, err := store.Alert(ctx, ev.Alert.ID)
	if err != nil || stored.Version != ev.Alert.Version {
		t.Errorf("stored alert version %v (%v), event's %d: events must follow the commit", stored, err, ev.Alert.Version)
	}
}
