package hl7_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigilhealth/vigil/hl7"
)

func Example() {
	raw := "MSH|^~\\&|MONITOR|ICU|VIGIL|HOSP|20260301120000+0000||ORU^R01^ORU_R01|MSG1|P|2.5\r" +
		"PID|1||123456^^^HOSP^MR\r" +
		"OBX|1|NM|8867-4^Heart rate^LN||72|/min^^UCUM|||||F|||20260301115950+0000\r"
	m, err := hl7.Parse([]byte(raw))
	if err != nil {
		fmt.Println(err)
		return
	}
	h, _ := m.Header()
	ids, _ := m.PatientIdentifiers()
	obs, _ := m.Observations()
	v, _ := obs[0].Number()
	fmt.Println(h.MessageCode, h.TriggerEvent, h.ControlID, ids[0].ID, ids[0].Authority)
	fmt.Println(obs[0].Code.Code, v, obs[0].Units.Code, obs[0].Time.Time.Format(time.RFC3339))

	ack := hl7.NewACK(m, hl7.Ack{Code: hl7.AA, ControlID: "ACK1", Time: time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC)})
	fmt.Println(strings.ReplaceAll(string(ack.Encode()), "\r", "\n"))
	// Output:
	// ORU R01 MSG1 123456 HOSP
	// 8867-4 72 /min 2026-03-01T11:59:50Z
	// MSH|^~\&|VIGIL|HOSP|MONITOR|ICU|20260301120001+0000||ACK^R01^ACK|ACK1|P|2.5
	// MSA|AA|MSG1
}

func ExampleMessage_Reading() {
	raw := "MSH|^~\\&|MONITOR|ICU|VIGIL|HOSP|||ORU^R01|MSG2|P|2.5\r" +
		"PID|1||123456^^^HOSP^MR\r" +
		"OBR|1|||vitals|||20260301120000\r" +
		"OBX|1|NM|8310-5^Body temperature^LN||101.3|[degF]^^UCUM|||||F\r" +
		"OBX|2|NM|8867-4^Heart rate^LN||72|Hz^^UCUM|||||F\r"
	m, err := hl7.Parse([]byte(raw))
	if err != nil {
		fmt.Println(err)
		return
	}
	obs, _ := m.Observations()
	sender := time.FixedZone("CET", 3600) // OBR-7 has no offset: the sender's zone
	for i := range obs {
		r, at, err := m.Reading(&obs[i], sender)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s %.1f %s at %s\n", r.Code, r.Value, r.Unit, at.Format(time.RFC3339))
	}
	// Output:
	// 8310-5 38.5 Cel at 2026-03-01T11:00:00Z
	// hl7: segment 5 (OBX) field 6 (OBX-6): unit is not accepted for this code
}
