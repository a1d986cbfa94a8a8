package mllp_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhealth/vigil/hl7"
	"github.com/vigilhealth/vigil/mllp"
)

// An ORU^R01 round trip the way Vigil wires it: the handler parses the
// message, reads its observations, and answers with an hl7 ACK; oversize
// messages get an AR addressed from their MSH.
func TestHL7OverMLLP(t *testing.T) {
	var ids atomic.Int64
	now := func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }
	ack := func(orig *hl7.Message, code hl7.AckCode, err error) []byte {
		a := hl7.Ack{Code: code, ControlID: "V" + strconv.FormatInt(ids.Add(1), 10), Time: now()}
		if err != nil {
			a.Error = hl7.AckErrorFor(err, orig)
		}
		return hl7.NewACK(orig, a).Encode()
	}
	var stored atomic.Int64
	srv := &mllp.Server{
		MaxMessageSize: 2048,
		Handler: func(ctx context.Context, raw []byte) []byte {
			m, err := hl7.Parse(raw)
			if err != nil {
				h, _ := hl7.ParseHeader(raw)
				return ack(h, hl7.AE, err)
			}
			obs, err := m.Observations()
			if err != nil {
				return ack(m, hl7.AE, err)
			}
			for i := range obs {
				if _, _, err := m.Reading(&obs[i], nil); err != nil {
					return ack(m, hl7.AE, err)
				}
			}
			stored.Add(int64(len(obs)))
			return ack(m, hl7.AA, nil)
		},
		Reject: func(ctx context.Context, head []byte, err error) []byte {
			h, _ := hl7.ParseHeader(head)
			return ack(h, hl7.AR, err)
		},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	c, err := mllp.Dial(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	send := func(msg string) *hl7.Message {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		raw, err := c.Send(ctx, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		m, err := hl7.Parse(raw)
		if err != nil {
			t.Fatalf("ACK does not parse: %v", err)
		}
		return m
	}
	const msh = "MSH|^~\\&|MON|ICU|VIGIL|HOSP|20260301115959+0000||ORU^R01^ORU_R01|"
	good := msh + "C1|P|2.5\rPID|1||42^^^HOSP^MR\rOBX|1|NM|8867-4^^LN||72|/min|||||F|||20260301115950+0000\r"
	m := send(good)
	if msa := m.Segment("MSA"); msa.Value(1, 1) != "AA" || msa.Value(2, 1) != "C1" {
		t.Errorf("good message: MSA %q %q", msa.Value(1, 1), msa.Value(2, 1))
	}
	h, err := m.Header()
	if err != nil || h.SendingApp != "VIGIL" || h.ReceivingApp != "MON" || h.MessageCode != "ACK" {
		t.Errorf("ACK header %+v, %v", h, err)
	}

	bad := msh + "C2|P|2.5\rPID|1||42\rOBX|1|NM|8867-4^^LN||72|Hz|||||F|||20260301115950+0000\r"
	m = send(bad)
	if msa, e := m.Segment("MSA"), m.Segment("ERR"); msa.Value(1, 1) != "AE" || msa.Value(2, 1) != "C2" ||
		e == nil || e.Value(2, 1) != "OBX" || e.Value(2, 3) != "6" || e.Value(3, 1) != "103" {
		t.Errorf("bad unit: %q", m.Encode())
	}

	big := msh + "C3|P|2.5\rNTE|1||" + string(make([]byte, 4000)) + "\r"
	m = send(big)
	if msa := m.Segment("MSA"); msa.Value(1, 1) != "AR" || msa.Value(2, 1) != "C3" {
		t.Errorf("oversize: %q", m.Encode())
	}
	if n := stored.Load(); n != 1 {
		t.Errorf("stored %d observations, want 1", n)
	}
	if err := srv.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
}
