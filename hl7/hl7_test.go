package hl7

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

func readORU(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/oru_r01.hl7")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, s string) *Message {
	t.Helper()
	m, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return m
}

func TestParseORU(t *testing.T) {
	m := mustParse(t, string(readORU(t)))
	if len(m.Segments) != 7 {
		t.Fatalf("got %d segments, want 7", len(m.Segments))
	}
	h, err := m.Header()
	if err != nil {
		t.Fatal(err)
	}
	want := Header{SendingApp: "MONITOR", SendingFacility: "ICU-3", ReceivingApp: "VIGIL", ReceivingFacility: "HOSP",
		MessageCode: "ORU", TriggerEvent: "R01", Structure: "ORU_R01", ControlID: "MSG00042", ProcessingID: "P", Version: "2.5"}
	wantTime := time.Date(2026, 3, 1, 11, 0, 5, 0, time.UTC)
	if !h.Time.Time.Equal(wantTime) || !h.Time.HasOffset || h.Time.Precision != PrecisionSecond {
		t.Errorf("MSH-7 = %+v, want %v with offset", h.Time, wantTime)
	}
	h.Time = Time{}
	if h != want {
		t.Errorf("Header() = %+v\nwant %+v", h, want)
	}
	ids, err := m.PatientIdentifiers()
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []Identifier{{ID: "123456", Authority: "HOSP", AuthorityUID: "1.2.3.4", Type: "MR"}, {ID: "987", Authority: "NHS", Type: "NH"}}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("PatientIdentifiers() = %+v, want %+v", ids, wantIDs)
	}
	orders, err := m.Orders()
	if err != nil || len(orders) != 1 || orders[0].Service != (Coded{"vitals", "Vital signs", "L"}) || orders[0].PlacerOrder != "ORD1" {
		t.Errorf("Orders() = %+v, %v", orders, err)
	}
	obs, err := m.Observations()
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 4 {
		t.Fatalf("got %d observations, want 4", len(obs))
	}
	hr := obs[0]
	if hr.Code != (Coded{"8867-4", "Heart rate", "LN"}) || hr.Units.Code != "/min" || hr.Units.System != "UCUM" ||
		hr.Status != "F" || hr.Equipment != "MON-7" || hr.Order != 2 || !hr.Time.Time.Equal(time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("OBX 1 = %+v", hr)
	}
	for i, want := range []float64{72, 37.2, 96} {
		v, err := obs[i].Number()
		if err != nil || v != want {
			t.Errorf("OBX %d Number() = %v, %v, want %v", i+1, v, err, want)
		}
	}
	if _, err := obs[3].Number(); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("ST Number() error = %v, want ErrInvalid", err)
	}
	if got := obs[3].Value.Value(1); got != "artefact | lead off\r\n" {
		t.Errorf("escaped ST = %q", got)
	}
}

func TestCustomDelimiters(t *testing.T) {
	// Field #, component $, repetition *, escape /, subcomponent %.
	s := "MSH#$*/%#APP#FAC#VIG#H#20260301##ORU$R01#1#P#2.5\r" +
		"PID#1##42$$$AUTH%1.2$MR*43$$$B$PI\r" +
		"OBX#1#ST#x$y$LN##a/F/b/S/c/T/d/R/e/E/f######F\n"
	m := mustParse(t, s)
	if m.Delims != (Delimiters{'#', '$', '*', '/', '%', 0}) {
		t.Errorf("Delims = %q", m.Delims)
	}
	ids, err := m.PatientIdentifiers()
	if err != nil || len(ids) != 2 || ids[0] != (Identifier{"42", "AUTH", "1.2", "MR"}) || ids[1].ID != "43" {
		t.Errorf("PatientIdentifiers() = %+v, %v", ids, err)
	}
	obs, err := m.Observations()
	if err != nil {
		t.Fatal(err)
	}
	if got := obs[0].Value.Value(1); got != "a#b$c%d*e/f" {
		t.Errorf("unescaped = %q, want %q", got, "a#b$c%d*e/f")
	}
	// Encode keeps the sender's delimiters and escapes again.
	if enc := string(m.Encode()); !strings.Contains(enc, "a/F/b/S/c/T/d/R/e/E/f") || !strings.HasPrefix(enc, "MSH#$*/%#APP") {
		t.Errorf("Encode() = %q", enc)
	}
}

func TestEscapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{`plain`, "plain"},
		{`\F\\S\\T\\R\\E\`, `|^&~\`},
		{`\X41424344\`, "ABCD"},
		{`\x41\`, `\x41\`},           // lower-case x: unknown, kept
		{`\X4\`, `\X4\`},             // odd hex digits: kept
		{`\XZZ\`, `\XZZ\`},           // not hex: kept
		{`\H\bold\N\`, `\H\bold\N\`}, // formatting: kept
		{`line\.br\next`, `line\.br\next`},
		{`trailing\`, `trailing\`},
		{`a\Fb`, `a\Fb`}, // unterminated
		{`\P\`, `\P\`},   // no truncation character declared
		{`\\`, `\\`},     // empty sequence
	}
	for _, tt := range tests {
		m := mustParse(t, "MSH|^~\\&|||||||ORU^R01|1|P|2.5\rNTE|1||"+tt.in)
		got := m.Segments[1].Value(3, 1)
		if got != tt.want {
			t.Errorf("unescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// Round trip at value level.
		m2 := mustParse(t, string(m.Encode()))
		if got2 := m2.Segments[1].Value(3, 1); got2 != got {
			t.Errorf("round trip of %q: %q → %q", tt.in, got, got2)
		}
	}
	// Truncation character (v2.7): \P\ decodes to it.
	m := mustParse(t, "MSH|^~\\&#|||||||ORU^R01|1|P|2.7\rNTE|1||a\\P\\b")
	if got := m.Segments[1].Value(3, 1); got != "a#b" {
		t.Errorf("truncation escape = %q, want a#b", got)
	}
}

func TestSegmentTerminators(t *testing.T) {
	base := []string{"MSH|^~\\&|A|B|C|D|||ORU^R01|1|P|2.5", "PID|1||X", "OBX|1|NM|8867-4^^LN||60|/min|||||F"}
	for name, sep := range map[string]string{"CR": "\r", "LF": "\n", "CRLF": "\r\n", "CR CR": "\r\r"} {
		m := mustParse(t, strings.Join(base, sep)+sep)
		if len(m.Segments) != 3 || m.Segments[2].Value(5, 1) != "60" {
			t.Errorf("%s: %d segments", name, len(m.Segments))
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		seg      int
		field    int
		code     int
	}{
		{"empty", "", 1, 0, CodeSegmentSequence},
		{"not MSH", "PID|1\r", 1, 0, CodeSegmentSequence},
		{"short MSH", "MSH|^~", 1, 2, CodeDataType},
		{"three encoding chars", "MSH|^~\\|A", 1, 2, CodeDataType},
		{"duplicate delimiter", "MSH|^^\\&|A", 1, 2, CodeDataType},
		{"letter delimiter", "MSH|^~\\A|A", 1, 2, CodeDataType},
		{"bad segment name", "MSH|^~\\&|A\rpid|1", 2, 0, CodeSegmentSequence},
		{"segment name too long", "MSH|^~\\&|A\rPIDX|1", 2, 0, CodeSegmentSequence},
		{"two MSH", "MSH|^~\\&|A\rMSH|^~\\&|B", 2, 0, CodeSegmentSequence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in))
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, %v; want *Error wrapping ErrInvalid", tt.in, m, err)
			}
			if e.Segment != tt.seg || e.Field != tt.field || e.Code != tt.code {
				t.Errorf("Parse(%q) error %q at segment %d field %d code %d, want %d %d %d",
					tt.in, e, e.Segment, e.Field, e.Code, tt.seg, tt.field, tt.code)
			}
		})
	}
}

func TestAccessErrors(t *testing.T) {
	const msh = "MSH|^~\\&|A|B|C|D|||ORU^R01|1|P|2.5\r"
	tests := []struct {
		name, in string
		call     func(*Message) error
		want     string
	}{
		{"missing control id", "MSH|^~\\&|A|B|C|D|||ORU^R01||P|2.5",
			func(m *Message) error { _, err := m.Header(); return err }, "hl7: segment 1 (MSH) field 10 (MSH-10): required field is empty"},
		{"bad MSH-7", "MSH|^~\\&|A|B|C|D|2026136|||ORU^R01|1|P|2.5",
			func(m *Message) error { _, err := m.Header(); return err }, ""},
		{"no PID", msh, func(m *Message) error { _, err := m.PatientIdentifiers(); return err }, "hl7: no PID segment"},
		{"empty PID-3", msh + "PID|1||",
			func(m *Message) error { _, err := m.PatientIdentifiers(); return err }, "hl7: segment 2 (PID) field 3 (PID-3): required field is empty"},
		{"OBX without code", msh + "OBX|1|NM|||5|/min|||||F",
			func(m *Message) error { _, err := m.Observations(); return err }, "hl7: segment 2 (OBX) field 3 (OBX-3): required field is empty"},
		{"OBX without status", msh + "OBX|1|NM|8867-4^^LN||5|/min",
			func(m *Message) error { _, err := m.Observations(); return err }, "hl7: segment 2 (OBX) field 11 (OBX-11): required field is empty"},
		{"OBX bad status", msh + "OBX|1|NM|8867-4^^LN||5|/min|||||Q",
			func(m *Message) error { _, err := m.Observations(); return err }, "hl7: segment 2 (OBX) field 11 (OBX-11): unknown result status"},
		{"OBX bad time", msh + "PID|1||1\rOBX|1|NM|8867-4^^LN||5|/min|||||F|||20261301",
			func(m *Message) error { _, err := m.Observations(); return err }, "hl7: segment 3 (OBX) field 14 (OBX-14): invalid timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.in)
			err := tt.call(m)
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("error = %v, want ErrInvalid", err)
			}
			if tt.want != "" && err.Error() != tt.want {
				t.Errorf("error = %q, want %q", err, tt.want)
			}
		})
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		typ, value string
		want       float64
		ok         bool
	}{
		{"NM", "72", 72, true},
		{"NM", "-0.5", -0.5, true},
		{"NM", "+3.", 3, true},
		{"NM", ".25", 0.25, true},
		{"NM", " 98.6 ", 98.6, true},
		{"NM", "", 0, false},
		{"NM", "1e3", 0, false},
		{"NM", "NaN", 0, false},
		{"NM", "Inf", 0, false},
		{"NM", "0x10", 0, false},
		{"NM", "1.2.3", 0, false},
		{"NM", "--1", 0, false},
		{"NM", "7~8", 0, false},
		{"NM", "7^8", 0, false},
		{"SN", "^96", 96, true},
		{"SN", "=^96", 96, true},
		{"SN", "<^10", 0, false},
		{"SN", ">=^10", 0, false},
		{"SN", "^10^-^20", 0, false},
		{"SN", "^1^:^2", 0, false},
		{"ST", "72", 0, false},
		{"CWE", "72", 0, false},
	}
	for _, tt := range tests {
		m := mustParse(t, "MSH|^~\\&|||||||ORU^R01|1|P|2.5\rOBX|1|"+tt.typ+"|8867-4^^LN||"+tt.value+"|/min|||||F")
		obs, err := m.Observations()
		if err != nil {
			t.Fatal(err)
		}
		v, err := obs[0].Number()
		if (err == nil) != tt.ok || v != tt.want {
			t.Errorf("Number(%s %q) = %v, %v; want %v ok=%v", tt.typ, tt.value, v, err, tt.want, tt.ok)
		}
	}
}

func TestParseTime(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in        string
		want      time.Time
		prec      Precision
		hasOffset bool
	}{
		{"2026", utc(2026, 1, 1, 0, 0, 0, 0), PrecisionYear, false},
		{"202603", utc(2026, 3, 1, 0, 0, 0, 0), PrecisionMonth, false},
		{"20260301", utc(2026, 3, 1, 0, 0, 0, 0), PrecisionDay, false},
		{"2026030112", utc(2026, 3, 1, 12, 0, 0, 0), PrecisionHour, false},
		{"202603011230", utc(2026, 3, 1, 12, 30, 0, 0), PrecisionMinute, false},
		{"20260301123045", utc(2026, 3, 1, 12, 30, 45, 0), PrecisionSecond, false},
		{"20260301123045.1", utc(2026, 3, 1, 12, 30, 45, 100000000), PrecisionFraction, false},
		{"20260301123045.1234", utc(2026, 3, 1, 12, 30, 45, 123400000), PrecisionFraction, false},
		{"20260301123045+0200", utc(2026, 3, 1, 10, 30, 45, 0), PrecisionSecond, true},
		{"20260301123045.5-0530", utc(2026, 3, 1, 18, 0, 45, 500000000), PrecisionFraction, true},
		{"202603011230-0000", utc(2026, 3, 1, 12, 30, 0, 0), PrecisionMinute, true},
		{"20240229", utc(2024, 2, 29, 0, 0, 0, 0), PrecisionDay, false},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if err != nil || !got.Time.Equal(tt.want) || got.Precision != tt.prec || got.HasOffset != tt.hasOffset {
			t.Errorf("ParseTime(%q) = %+v, %v; want %v %v %v", tt.in, got, err, tt.want, tt.prec, tt.hasOffset)
		}
	}
	for _, in := range []string{"", "202", "20261", "20260230", "20261301", "2026030124", "20260301126000",
		"20260301123061", "20260301123045.", "20260301123045.12345", "202603011230.5", "20260301+01", "20260301+1500",
		"2026-03-01", "20260301T1230", "20260301+0160"} {
		if got, err := ParseTime(in); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("ParseTime(%q) = %+v, %v; want ErrInvalid", in, got, err)
		}
	}
	// Without offset the sender's zone decides.
	lt, _ := ParseTime("20260301120000")
	loc := time.FixedZone("X", 3600)
	if got := lt.In(loc); !got.Equal(utc(2026, 3, 1, 11, 0, 0, 0)) {
		t.Errorf("In(+01:00) = %v", got)
	}
	if s := FormatTime(utc(2026, 3, 1, 12, 0, 0, 0)); s != "20260301120000+0000" {
		t.Errorf("FormatTime = %q", s)
	}
	if s := FormatTime(utc(2026, 3, 1, 12, 0, 0, 123456789)); s != "20260301120000.1234+0000" {
		t.Errorf("FormatTime = %q", s)
	}
}

func TestACK(t *testing.T) {
	orig := mustParse(t, "MSH#$*/%#MON#ICU#VIGIL#HOSP#20260301##ORU$R01$ORU_R01#C42#T#2.5.1\rPID#1##1")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ack := NewACK(orig, Ack{Code: AA, ControlID: "V1", Time: at})
	want := "MSH#$*/%#VIGIL#HOSP#MON#ICU#20260301120000+0000##ACK$R01$ACK#V1#T#2.5.1\rMSA#AA#C42\r"
	if got := string(ack.Encode()); got != want {
		t.Errorf("ACK =\n%q\nwant\n%q", got, want)
	}

	// AE with an ERR located in the second OBX.
	bad := mustParse(t, "MSH|^~\\&|MON|ICU|VIGIL|HOSP|||ORU^R01|C43|P|2.5\rOBX|1|NM|8867-4^^LN||60|/min|||||F\rOBX|2|NM|8867-4^^LN||60|/min|||||Q")
	_, err := bad.Observations()
	e := AckErrorFor(err, bad)
	if e.Code != CodeTableValue || e.Segment != "OBX" || e.Sequence != 2 || e.Field != 11 {
		t.Errorf("AckErrorFor = %+v", e)
	}
	ack = NewACK(bad, Ack{Code: AE, ControlID: "V2", Time: at, Error: e})
	want = "MSH|^~\\&|VIGIL|HOSP|MON|ICU|20260301120000+0000||ACK^R01^ACK|V2|P|2.5\rMSA|AE|C43\r" +
		"ERR||OBX^2^11|103^Table value not found^HL70357|E||||hl7: segment 3 (OBX) field 11 (OBX-11): unknown result status\r"
	if got := string(ack.Encode()); got != want {
		t.Errorf("ACK =\n%q\nwant\n%q", got, want)
	}
	// The ACK parses and reads back.
	back := mustParse(t, string(ack.Encode()))
	h, err := back.Header()
	if err != nil || h.MessageCode != "ACK" || back.Segment("MSA").Value(2, 1) != "C43" {
		t.Errorf("ACK reparse: %+v %v", h, err)
	}

	// Garbage: AR without an original.
	_, err = Parse([]byte("garbage"))
	ack = NewACK(nil, Ack{Code: AR, ControlID: "V3", Time: at, Error: AckErrorFor(err, nil)})
	want = "MSH|^~\\&|||||20260301120000+0000||ACK^^ACK|V3|P|2.5\rMSA|AR|\r" +
		"ERR|||100^Segment sequence error^HL70357|E||||hl7: segment 1: message does not start with an MSH segment\r"
	if got := string(ack.Encode()); got != want {
		t.Errorf("ACK =\n%q\nwant\n%q", got, want)
	}
	// Header-only parse of a message whose body is broken still addresses the ACK.
	raw := []byte("MSH|^~\\&|MON|ICU|VIGIL|HOSP|||ORU^R01|C44|P|2.5\rbad segment")
	if _, err := Parse(raw); err == nil {
		t.Fatal("Parse accepted a bad segment")
	}
	hdr, err := ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	ack = NewACK(hdr, Ack{Code: AE, ControlID: "V4", Time: at})
	if got := ack.Segment("MSA").Value(2, 1); got != "C44" {
		t.Errorf("MSA-2 = %q, want C44", got)
	}
}

func TestBuild(t *testing.T) {
	m := NewMessage(DefaultDelimiters(), Text("SIM"), Text("HOME"), Text("VIGIL"), Text("HOSP"),
		Text("20260301120000+0000"), Text(""), Components("ORU", "R01", "ORU_R01"), Text("1"), Text("P"), Text("2.5"))
	m.Add("PID", Text("1"), Text(""), Field{Repetition{Component{"P1"}, Component{""}, Component{""}, Component{"HOSP", "1.2"}, Component{"MR"}}})
	obx := m.Add("OBX", Text("1"), Text("ST"), Components("x", "y", "LN"))
	obx.Set(5, Text("a|b^c\r"))
	obx.Set(11, Text("F"))
	enc := m.Encode()
	want := "MSH|^~\\&|SIM|HOME|VIGIL|HOSP|20260301120000+0000||ORU^R01^ORU_R01|1|P|2.5\rPID|1||P1^^^HOSP&1.2^MR\r" +
		"OBX|1|ST|x^y^LN||a\\F\\b\\S\\c\\X0D\\||||||F\r"
	if string(enc) != want {
		t.Errorf("Encode =\n%q\nwant\n%q", enc, want)
	}
	back := mustParse(t, string(enc))
	if !reflect.DeepEqual(back, m) {
		t.Errorf("Parse(Encode(m)) differs:\n%#v\n%#v", back, m)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(readORU(f))
	f.Add([]byte("MSH#$*/%#APP#FAC#VIG#H#20260301##ORU$R01#1#P#2.5\rPID#1##42$$$AUTH%1.2$MR*43\r"))
	f.Add([]byte("MSH|^~\\&#|||||||ORU^R01|1|P|2.7\rNTE|1||a\\P\\b\\X0D\\\\H\\x\\"))
	f.Add([]byte("MSH|^~\\&\nPID\nOBX|"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// Typed accessors must not panic.
		_, _ = m.Header()
		_, _ = m.PatientIdentifiers()
		_, _ = m.Orders()
		if obs, err := m.Observations(); err == nil {
			for i := range obs {
				_, _ = obs[i].Number()
			}
		}
		enc := m.Encode()
		m2, err := Parse(enc)
		if err != nil {
			t.Fatalf("Parse(Encode(m)) failed: %v\n%q", err, enc)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("Parse(Encode(m)) != m\n%q\n%#v\n%#v", enc, m, m2)
		}
		if enc2 := m2.Encode(); !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode not stable:\n%q\n%q", enc, enc2)
		}
		_ = NewACK(m, Ack{Code: AA, ControlID: "x"}).Encode()
	})
}

func BenchmarkParse(b *testing.B) {
	data := readORU(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseObservations(b *testing.B) {
	data := readORU(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		obs, err := m.Observations()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := obs[0].Number(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	data := readORU(b)
	m, err := Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		buf = m.AppendEncode(buf[:0])
	}
}
