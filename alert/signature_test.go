package alert_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
)

func TestSignKnownAnswer(t *testing.T) {
	// Computed independently: HMAC-SHA256(secret, "1764064800." + body).
	body := []byte(`{"id":"e1"}`)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1764064800." + string(body)))
	want := "t=1764064800,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := alert.Sign(secret, time.Unix(1764064800, 0), body); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1764064800, 0)
	body := []byte(`{"id":"e1","type":"alert.created"}`)
	good := alert.Sign(secret, now, body)
	other := alert.Sign([]byte("another secret of enough length"), now, body)
	v1 := good[strings.Index(good, "v1="):]
	tests := []struct {
		name   string
		header string
		body   []byte
		at     time.Time
		want   error
	}{
		{"valid", good, body, now, nil},
		{"valid, receiver clock 4 min ahead", good, body, now.Add(4 * time.Minute), nil},
		{"valid, with spaces and an unknown scheme", "t=1764064800, v0=abc, " + v1, body, now, nil},
		{"rotated secret: second v1 matches", other + "," + v1, body, now, nil},
		{"tampered body", good, []byte(`{"id":"e2","type":"alert.created"}`), now, vigil.ErrUnauthorized},
		{"wrong secret", other, body, now, vigil.ErrUnauthorized},
		{"too old", good, body, now.Add(6 * time.Minute), vigil.ErrUnauthorized},
		{"from the future", good, body, now.Add(-6 * time.Minute), vigil.ErrUnauthorized},
		{"timestamp changed", strings.Replace(good, "t=1764064800", "t=1764064801", 1), body, now, vigil.ErrUnauthorized},
		{"leading zero changes the signed bytes", strings.Replace(good, "t=", "t=0", 1), body, now, vigil.ErrUnauthorized},
		{"empty", "", body, now, vigil.ErrInvalid},
		{"no timestamp", v1, body, now, vigil.ErrInvalid},
		{"no signature", "t=1764064800", body, now, vigil.ErrInvalid},
		{"two timestamps", "t=1764064800,t=1764064800," + v1, body, now, vigil.ErrInvalid},
		{"negative timestamp", "t=-1," + v1, body, now, vigil.ErrInvalid},
		{"short v1", "t=1764064800,v1=abcd", body, now, vigil.ErrInvalid},
		{"v1 not hex", "t=1764064800,v1=" + strings.Repeat("zz", 32), body, now, vigil.ErrInvalid},
		{"entry without =", "t=1764064800,v1", body, now, vigil.ErrInvalid},
		{"too long", good + strings.Repeat(",x=y", 1200), body, now, vigil.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := alert.VerifySignature(secret, tt.header, tt.body, tt.at, 0)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("VerifySignature(%.60q) = %v, want %v", tt.header, err, tt.want)
			}
		})
	}
}

// FuzzVerifySignature checks that any header is parsed without panic,
// that only a header carrying the right HMAC verifies, and that Sign's
// output always verifies.
func FuzzVerifySignature(f *testing.F) {
	now := time.Unix(1764064800, 0)
	body := []byte(`{"id":"e1"}`)
	f.Add(alert.Sign(secret, now, body), body)
	f.Add("t=1764064800,v1=00", body)
	f.Add("t=,v1=,", []byte{})
	f.Add("t=99999999999999999999,v1="+strings.Repeat("a", 64), []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := alert.VerifySignature(secret, header, body, now, time.Hour)
		if err == nil {
			sig, perr := alert.ParseSignature(header)
			if perr != nil {
				t.Fatalf("VerifySignature accepted %q that ParseSignature rejects: %v", header, perr)
			}
			if !strings.Contains(header, "v1=") || sig.Time.Sub(now).Abs() > time.Hour {
				t.Fatalf("VerifySignature accepted %q", header)
			}
		} else if !errors.Is(err, vigil.ErrInvalid) && !errors.Is(err, vigil.ErrUnauthorized) {
			t.Fatalf("VerifySignature(%q) = %v, want ErrInvalid or ErrUnauthorized", header, err)
		}
		if err := alert.VerifySignature(secret, alert.Sign(secret, now, body), body, now, 0); err != nil {
			t.Fatalf("VerifySignature(Sign(body)) = %v", err)
		}
	})
}
