package vigil

import (
	"context"
	"time"
)

// Reading is one item of the device ingestion API, as devices and gateways
// send it (POST /api/v1/ingest, MQTT vigil/v1/devices/{device}/readings,
// and, converted, HL7 v2 OBX segments):
//
//	{"device":"d1","code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"}
//	{"device":"d1","code":"85354-9","time":"…","components":[{"code":"8480-6","value":120,"unit":"mm[Hg]"},{"code":"8462-4","value":80,"unit":"mm[Hg]"}]}
//	{"device":"d1","code":"131329","start":"…","rate_hz":250,"gain":0.005,"unit":"mV","samples":[12,15,…]}
//
// A reading names its Device; the patient is the one the Device is bound
// to (Device.patient). Gateways that know the patient but not a device
// (HL7 feeds) set Patient instead.
type Reading struct {
	Device  string     `json:"device,omitempty"`
	Patient string     `json:"patient,omitempty"`
	Code    string     `json:"code"`
	Time    *time.Time `json:"time,omitempty"`
	Value   *float64   `json:"value,omitempty"`
	Unit    string     `json:"unit,omitempty"`
	// Components carry the parts of a panel (blood pressure: systolic and
	// diastolic), each a code, value and unit.
	Components []ReadingComponent `json:"components,omitempty"`
	// Waveform chunk fields.
	Start   *time.Time `json:"start,omitempty"`
	RateHz  float64    `json:"rate_hz,omitempty"`
	Gain    float64    `json:"gain,omitempty"`
	Samples []int32    `json:"samples,omitempty"`
}

// ReadingComponent is one part of a panel reading.
type ReadingComponent struct {
	Code  string   `json:"code"`
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
}

// ItemStatus is what became of one ingested item.
type ItemStatus string

// The item outcomes.
const (
	ItemStored    ItemStatus = "stored"
	ItemDuplicate ItemStatus = "duplicate"
	ItemRejected  ItemStatus = "rejected"
)

// ItemResult answers one item of a batch, in order.
type ItemResult struct {
	Index  int        `json:"index"`
	Status ItemStatus `json:"status"`
	// Error says why an item was rejected; safe to show (no patient data).
	Error string `json:"error,omitempty"`
	// Patient is the patient a stored item was recorded for (for the
	// audit trail; not sent to devices).
	Patient string `json:"-"`
}

// Ingester validates, normalises, stores and streams readings from any
// ingestion path. It authorizes with the principal in ctx (a device
// account may only submit for the patient its Device is bound to). Valid
// items are stored even when others in the batch are rejected; Ingest
// returns after every stored item is durable. The error is for failures
// of the whole batch (store down, unauthorized caller), not for bad items.
type Ingester interface {
	Ingest(ctx context.Context, source string, items []Reading) ([]ItemResult, error)
}

// DeviceBinding is a period during which a device was bound to (used by)
// a patient: readings from the device timed within it are the patient's.
// A zero Start or End leaves that side open; End is exclusive.
type DeviceBinding struct {
	Patient    string
	Start, End time.Time
}

// DeviceBindings is a device's binding history, in any order.
type DeviceBindings []DeviceBinding

// At returns the patient the device was bound to at t: "" when no period
// covers t, or when periods of different patients do (a conflicting
// history is never guessed at).
func (b DeviceBindings) At(t time.Time) string {
	patient := ""
	for _, p := range b {
		if (!p.Start.IsZero() && t.Before(p.Start)) || (!p.End.IsZero() && !t.Before(p.End)) {
			continue
		}
		if patient != "" && p.Patient != patient {
			return ""
		}
		patient = p.Patient
	}
	return patient
}
