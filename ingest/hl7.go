package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/hl7"
)

// HL7Config configures the HL7 v2 entrance (ORU^R01 over MLLP).
type HL7Config struct {
	// Ingester stores the readings. Required.
	Ingester vigil.Ingester
	// Principal is the account HL7 feeds act as (a service account with
	// system/Observation.write). Required.
	Principal *vigil.Principal
	// ResolvePatient maps PID-3 identifiers to a Patient id; it returns
	// ErrNotFound when no patient matches and ErrConflict when several do.
	// Required.
	ResolvePatient func(ctx context.Context, ids []hl7.Identifier) (string, error)
	// Location reads timestamps without a UTC offset; nil rejects them.
	Location *time.Location
	Now      func() time.Time
	Logger   *slog.Logger
}

// HL7Handler returns an MLLP handler for ORU^R01 messages carrying vital
// signs in OBX segments (HL7 v2.5 chapter 7). It answers with an
// original-mode ACK (chapter 2.9.2) only after the accepted readings are
// durable: AA when every OBX was stored (or was already stored), AE with an
// ERR segment naming the first bad field when some OBX was not acceptable
// (the acceptable ones are still stored, so a corrected resend duplicates
// nothing), AR when the message is not an ORU^R01 or the store failed (the
// sender should retry).
func HL7Handler(cfg HL7Config) func(ctx context.Context, msg []byte) []byte {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return func(ctx context.Context, raw []byte) []byte {
		ctx = vigil.WithPrincipal(ctx, cfg.Principal)
		ack := func(m *hl7.Message, code hl7.AckCode, e *hl7.AckError) []byte {
			return hl7.NewACK(m, hl7.Ack{Code: code, ControlID: controlID(), Time: cfg.Now().UTC(), Error: e}).Encode()
		}
		m, err := hl7.Parse(raw)
		if err != nil {
			head, _ := hl7.ParseHeader(raw)
			return ack(head, hl7.AE, hl7.AckErrorFor(err, head))
		}
		h, err := m.Header()
		if err != nil {
			return ack(m, hl7.AE, hl7.AckErrorFor(err, m))
		}
		if h.MessageCode != "ORU" || h.TriggerEvent != "R01" {
			return ack(m, hl7.AR, &hl7.AckError{Code: hl7.CodeUnsupportedMessage, Segment: "MSH", Sequence: 1, Field: 9,
				Text: "only ORU^R01 is accepted"})
		}
		ids, err := m.PatientIdentifiers()
		if err != nil {
			return ack(m, hl7.AE, hl7.AckErrorFor(err, m))
		}
		patient, err := cfg.ResolvePatient(ctx, ids)
		switch {
		case errors.Is(err, vigil.ErrNotFound):
			return ack(m, hl7.AE, &hl7.AckError{Code: hl7.CodeUnknownKey, Segment: "PID", Sequence: 1, Field: 3, Text: "no patient has this identifier"})
		case errors.Is(err, vigil.ErrConflict):
			return ack(m, hl7.AE, &hl7.AckError{Code: hl7.CodeUnknownKey, Segment: "PID", Sequence: 1, Field: 3, Text: "several patients have this identifier"})
		case err != nil:
			cfg.Logger.ErrorContext(ctx, "hl7: patient lookup failed", "err", err)
			return ack(m, hl7.AR, &hl7.AckError{Code: hl7.CodeApplicationInternal, Text: "internal error; retry"})
		}
		obs, err := m.Observations()
		if err != nil {
			return ack(m, hl7.AE, hl7.AckErrorFor(err, m))
		}
		var items []vigil.Reading
		var firstBad *hl7.AckError
		for i := range obs {
			o := &obs[i]
			if o.Status == "X" || o.Status == "D" || o.Status == "W" {
				continue // cannot be obtained / deleted / wrong: nothing to store
			}
			r, t, err := m.Reading(o, cfg.Location)
			if err != nil {
				if firstBad == nil {
					firstBad = hl7.AckErrorFor(err, m)
				}
				continue
			}
			v := r.Value
			items = append(items, vigil.Reading{Patient: patient, Device: deviceOf(o), Code: r.Code, Time: &t, Value: &v, Unit: r.Unit})
		}
		if len(items) > 0 {
			res, err := cfg.Ingester.Ingest(ctx, "hl7", items)
			if err != nil {
				cfg.Logger.ErrorContext(ctx, "hl7: store failed", "err", err)
				return ack(m, hl7.AR, &hl7.AckError{Code: hl7.CodeApplicationInternal, Text: "could not store; retry"})
			}
			for _, rr := range res {
				if rr.Status == vigil.ItemRejected && firstBad == nil {
					firstBad = &hl7.AckError{Code: hl7.CodeDataType, Segment: "OBX", Text: rr.Error}
				}
			}
		}
		if firstBad != nil {
			return ack(m, hl7.AE, firstBad)
		}
		return ack(m, hl7.AA, nil)
	}
}

// deviceOf returns the device an HL7 observation names: none, since OBX-18
// identifiers are the sender's and not Vigil Device ids (the patient comes
// from PID-3).
func deviceOf(*hl7.Observation) string { return "" }

func controlID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
