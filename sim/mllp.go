package sim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/hl7"
	"github.com/vigilhealth/vigil/mllp"
	"github.com/vigilhealth/vigil/vitals"
)

// MLLPSink sends HL7 v2.5 ORU^R01 messages over MLLP, one per patient and
// measurement time, and waits for each ACK (HL7 v2.5 chapters 2.9 and 7).
// PID-3 carries the patient's identifier, each vital sign is an NM OBX with
// its LOINC code (coding system LN), value, UCUM unit and observation time
// (OBX-14); blood pressure is one OBX per component.
type MLLPSink struct {
	addr      string
	authority string
	patients  map[string]string // device → patient identifier
	now       func() time.Time
	client    *mllp.Client
	seq       int
}

// NewMLLPSink returns a sink sending to the MLLP listener at addr
// (host:port). authority, when set, is the assigning authority of the
// PID-3 identifiers (CX.4). It connects on the first Send.
func NewMLLPSink(addr, authority string, patients []Patient, now func() time.Time) *MLLPSink {
	if now == nil {
		now = time.Now
	}
	s := &MLLPSink{addr: addr, authority: authority, patients: map[string]string{}, now: now}
	for _, p := range patients {
		s.patients[p.Device] = p.ID
	}
	return s
}

// Send sends one ORU^R01 per device and time in rs. A message answered AR
// (nothing stored) counts all its OBX as rejected; one answered AE (the
// acceptable OBX stored) counts one per ERR segment, at least one. On a
// connection error it closes the connection (the next Send dials again)
// and returns the error.
func (s *MLLPSink) Send(ctx context.Context, rs []vigil.Reading) (int, error) {
	rejected := 0
	for i := 0; i < len(rs); {
		if rs[i].Time == nil { // a waveform chunk has no OBX form here
			rejected++
			i++
			continue
		}
		j := i + 1
		for j < len(rs) && rs[j].Device == rs[i].Device && rs[j].Patient == rs[i].Patient && sameTime(rs[j], rs[i]) {
			j++
		}
		msg, n, err := s.Message(rs[i:j])
		if err != nil {
			return rejected, err
		}
		code, errs, err := s.send(ctx, msg)
		if err != nil {
			return rejected, err
		}
		switch code {
		case hl7.AA:
		case hl7.AE:
			rejected += max(1, errs)
		default:
			rejected += n
		}
		i = j
	}
	return rejected, nil
}

// send returns the ACK's code and number of ERR segments.
func sameTime(a, b vigil.Reading) bool {
	return a.Time != nil && b.Time != nil && a.Time.Equal(*b.Time)
}

func (s *MLLPSink) send(ctx context.Context, msg []byte) (hl7.AckCode, int, error) {
	if s.client == nil {
		c, err := mllp.Dial(ctx, s.addr)
		if err != nil {
			return "", 0, err
		}
		s.client = c
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	raw, err := s.client.Send(sctx, msg)
	if err != nil {
		_ = s.client.Close()
		s.client = nil
		return "", 0, err
	}
	ack, err := hl7.Parse(raw)
	if err != nil {
		return "", 0, fmt.Errorf("ACK: %w", err)
	}
	msa := ack.Segment("MSA")
	if msa == nil || len(msa.Fields) < 2 {
		return "", 0, errors.New("ACK without MSA")
	}
	return hl7.AckCode(msa.Fields[1].Value(1)), len(ack.All("ERR")), nil
}

// loincNames are the OBX-3 texts.
var loincNames = map[string]string{
	vitals.CodeHeartRate: "Heart rate", vitals.CodeRespRate: "Respiratory rate",
	vitals.CodeSpO2: "Oxygen saturation in Arterial blood", vitals.CodeSpO2PulseOx: "Oxygen saturation in Arterial blood by Pulse oximetry",
	vitals.CodeBodyTemp: "Body temperature", vitals.CodeSystolic: "Systolic blood pressure",
	vitals.CodeDiastolic: "Diastolic blood pressure", vitals.CodeWeight: "Body weight",
}

// Message builds the ORU^R01 of readings of one device (or patient) at
// one time, and returns it with its number of OBX segments. The patient is
// the reading's Patient, else the one the device was given to. Waveform
// chunks are not sent over HL7.
func (s *MLLPSink) Message(rs []vigil.Reading) ([]byte, int, error) {
	patient := rs[0].Patient
	if patient == "" {
		p, ok := s.patients[rs[0].Device]
		if !ok {
			return nil, 0, fmt.Errorf("sim: device %s has no patient", rs[0].Device)
		}
		patient = p
	}
	if rs[0].Time == nil {
		return nil, 0, fmt.Errorf("sim: a reading without a time (waveform chunk?) cannot go over HL7")
	}
	s.seq++
	t := hl7.FormatTime(*rs[0].Time)
	m := hl7.NewMessage(hl7.DefaultDelimiters(),
		hl7.Text("VIGIL-SIM"), hl7.Text("SIM"), hl7.Text("VIGIL"), hl7.Text("VIGIL"),
		hl7.Text(hl7.FormatTime(s.now())), hl7.Field{}, hl7.Components("ORU", "R01", "ORU_R01"),
		hl7.Text("SIM"+strconv.FormatInt(s.now().UnixNano(), 36)+"-"+strconv.Itoa(s.seq)), hl7.Text("P"), hl7.Text("2.5"))
	pid3 := hl7.Text(patient)
	if s.authority != "" {
		pid3 = hl7.Components(patient, "", "", s.authority, "MR")
	}
	m.Add("PID", hl7.Text("1"), hl7.Field{}, pid3)
	m.Add("OBR", hl7.Text("1"), hl7.Field{}, hl7.Field{}, hl7.Components("85353-1", "Vital signs panel", "LN"),
		hl7.Field{}, hl7.Field{}, hl7.Text(t))
	n := 0
	obx := func(code string, v float64, unit string) {
		n++
		m.Add("OBX", hl7.Text(strconv.Itoa(n)), hl7.Text("NM"), hl7.Components(code, loincNames[code], "LN"), hl7.Field{},
			hl7.Text(strconv.FormatFloat(v, 'f', -1, 64)), hl7.Components(unit, "", "UCUM"),
			hl7.Field{}, hl7.Field{}, hl7.Field{}, hl7.Field{}, hl7.Text("F"), hl7.Field{}, hl7.Field{}, hl7.Text(t))
	}
	for _, r := range rs {
		switch {
		case len(r.Components) > 0:
			for _, c := range r.Components {
				if c.Value != nil {
					obx(c.Code, *c.Value, c.Unit)
				}
			}
		case r.Value != nil:
			obx(r.Code, *r.Value, r.Unit)
		}
	}
	return m.Encode(), n, nil
}

// Close closes the connection.
func (s *MLLPSink) Close() error {
	if s.client != nil {
		return s.client.Close()
	}
	return nil
}
