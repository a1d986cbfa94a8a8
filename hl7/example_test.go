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
