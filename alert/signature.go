package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// SignatureHeader is the HTTP header carrying a webhook's signature.
//
// The scheme is Stripe's: the header value is
//
//	t=<Unix seconds>,v1=<hex HMAC-SHA256>
//
// where the HMAC (RFC 2104) is keyed with the endpoint's secret and taken
// over the ASCII decimal timestamp, a full stop and the raw request body:
// HMAC-SHA256(secret, t + "." + body). A receiver recomputes it over the
// bytes it received, compares in constant time, and rejects a timestamp
// too far from its clock (replay protection; the event ID in
// EventIDHeader lets it drop redeliveries). Several v1 entries may appear
// (a rotated secret); one matching entry suffices. Unknown keys are
// ignored, so a later scheme can be added beside v1.
const SignatureHeader = "Vigil-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock in VerifySignature.
const DefaultTolerance = 5 * time.Minute

// maxSignatureHeader bounds the header VerifySignature parses.
const maxSignatureHeader = 4096

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// Signature is a parsed SignatureHeader value.
type Signature struct {
	Time time.Time
	V1   [][]byte // HMAC-SHA256 values, 32 bytes each
	ts   string   // the timestamp as sent: the HMAC covers these bytes
}

// ParseSignature parses a SignatureHeader value. It returns an error of
// kind vigil.ErrInvalid when the value is longer than 4096 bytes, has no
// or several t entries, a timestamp that is not a decimal integer, a v1
// entry that is not 64 hex digits, or no v1 entry.
func ParseSignature(header string) (*Signature, error) {
	bad := func(msg string) error { return vigil.Errorf(vigil.ErrInvalid, "webhook signature: %s", msg) }
	if len(header) > maxSignatureHeader {
		return nil, bad("too long")
	}
	var sig Signature
	seenT := false
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, bad("malformed entry")
		}
		switch k {
		case "t":
			if seenT {
				return nil, bad("several timestamps")
			}
			seenT = true
			if v == "" || len(v) > 18 || strings.Trim(v, "0123456789") != "" {
				return nil, bad("malformed timestamp")
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, bad("malformed timestamp")
			}
			sig.Time, sig.ts = time.Unix(n, 0).UTC(), v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return nil, bad("malformed v1 signature")
			}
			sig.V1 = append(sig.V1, b)
		}
	}
	if !seenT {
		return nil, bad("no timestamp")
	}
	if len(sig.V1) == 0 {
		return nil, bad("no v1 signature")
	}
	return &sig, nil
}

// VerifySignature checks a SignatureHeader value against the body received
// and the shared secret, at the receiver's time now. It returns nil when a
// v1 entry matches and the timestamp is within tolerance of now
// (DefaultTolerance when tolerance <= 0); an error of kind vigil.ErrInvalid
// for a malformed header, and of kind vigil.ErrUnauthorized for a
// signature that does not match or a timestamp out of tolerance.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sig, err := ParseSignature(header)
	if err != nil {
		return err
	}
	if d := now.Sub(sig.Time); d > tolerance || d < -tolerance {
		return vigil.Errorf(vigil.ErrUnauthorized, "webhook signature: timestamp out of tolerance")
	}
	want := mac(secret, sig.ts, body)
	for _, v := range sig.V1 {
		if hmac.Equal(v, want) {
			return nil
		}
	}
	return vigil.Errorf(vigil.ErrUnauthorized, "webhook signature: no matching signature")
}
