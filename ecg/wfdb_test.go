package ecg

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/testenv"
)

// encode212 packs samples (interleaved stream) in format 212.
func encode212(v []int) []byte {
	var out []byte
	for i := 0; i < len(v); i += 2 {
		a := v[i] & 0xFFF
		b := 0
		if i+1 < len(v) {
			b = v[i+1] & 0xFFF
		}
		out = append(out, byte(a), byte(a>>8)|byte(b>>8)<<4)
		if i+1 < len(v) {
			out = append(out, byte(b))
		}
	}
	return out
}

func checksum(v []int) int {
	s := 0
	for _, x := range v {
		s += x
	}
	return int(int16(s))
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Header
		bad  bool
	}{
		{name: "mitdb CRLF", in: "101 2 360 650000\r\n101.dat 212 200 11 1024 955 29832 0 MLII\r\n101.dat 212 200 11 1024 992 19589 0 V1\r\n# 75 F\r\n",
			want: &Header{Name: "101", Fs: 360, Len: 650000, Comments: []string{"75 F"}, Signals: []SignalSpec{
				{File: "101.dat", Format: 212, Gain: 200, Baseline: 1024, Units: "mV", ADCResolution: 11, ADCZero: 1024, InitValue: 955, Checksum: 29832, HasChecksum: true, Description: "MLII"},
				{File: "101.dat", Format: 212, Gain: 200, Baseline: 1024, Units: "mV", ADCResolution: 11, ADCZero: 1024, InitValue: 992, Checksum: 19589, HasChecksum: true, Description: "V1"}}}},
		{name: "gain 0 means default, baseline and units", in: "x 2 250/250(0)\nx.dat 16+24 0(-5)/uV 16 0 0 0 0 lead I\nx.dat 16+24\n",
			want: &Header{Name: "x", Fs: 250, Signals: []SignalSpec{
				{File: "x.dat", Format: 16, Offset: 24, Gain: 200, Baseline: -5, Units: "uV", ADCResolution: 16, HasChecksum: true, Description: "lead I"},
				{File: "x.dat", Format: 16, Offset: 24, Gain: 200, Units: "mV", ADCResolution: 16}}}},
		{name: "defaults", in: "r 0\n", want: &Header{Name: "r", Fs: 250}},
		{name: "no record line", in: "# only a comment\n", bad: true},
		{name: "missing signal line", in: "r 2 360\nr.dat 212\n", bad: true},
		{name: "extra signal line", in: "r 1 360\nr.dat 212\nr.dat 212\n", bad: true},
		{name: "multi-segment", in: "r/3 2 360\n", bad: true},
		{name: "unsupported format", in: "r 1 360\nr.dat 80\n", bad: true},
		{name: "bad fs", in: "r 1 -3\nr.dat 212\n", bad: true},
		{name: "bad gain", in: "r 1 360\nr.dat 212 abc\n", bad: true},
		{name: "bad baseline", in: "r 1 360\nr.dat 212 200(x)\n", bad: true},
		{name: "path escape", in: "r 1 360\n../r.dat 212\n", bad: true},
		{name: "mixed formats in one file", in: "r 2 360\nr.dat 212\nr.dat 16\n", bad: true},
		{name: "file group not consecutive", in: "r 3 360\na.dat 16\nb.dat 16\na.dat 16\n", bad: true},
		{name: "frame multiplier", in: "r 1 360\nr.dat 212x4\n", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHeader([]byte(tc.in))
			if tc.bad {
				if !errors.Is(err, vigil.ErrInvalid) {
					t.Fatalf("ParseHeader(%q) error = %v, want ErrInvalid", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHeader(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseHeader(%q) =\n%+v\nwant\n%+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestReadRecordSynthetic(t *testing.T) {
	// Three signals in format 212 (odd sample count per frame) plus one
	// in format 16 in a second file.
	const n = 5
	var s212 []int
	var want [4][]int16
	for i := 0; i < n; i++ {
		for j := 0; j < 3; j++ {
			v := (i*37+j*500)%4000 - 2000
			if i == 2 && j == 1 {
				v = -2048 // invalid sample code
			}
			s212 = append(s212, v)
			if v == -2048 {
				want[j] = append(want[j], InvalidSample)
			} else {
				want[j] = append(want[j], int16(v))
			}
		}
	}
	var d16 []byte
	var s16 []int
	for i := 0; i < n; i++ {
		v := -30000 + i*12345
		s16 = append(s16, v)
		want[3] = append(want[3], int16(v))
		d16 = append(d16, byte(v), byte(v>>8))
	}
	col := func(j int) []int {
		var c []int
		for i := j; i < len(s212); i += 3 {
			c = append(c, s212[i])
		}
		return c
	}
	hea := fmt.Sprintf("rec 4 500 %d\r\n", n)
	for j := 0; j < 3; j++ {
		hea += fmt.Sprintf("rec.dat 212 100(10)/mV 12 0 0 %d 0 s%d\r\n", checksum(col(j)), j)
	}
	hea += fmt.Sprintf("rec16.dat 16 1000/uV 16 0 0 %d 0 p\r\n", checksum(s16))
	fsys := fstest.MapFS{
		"d/rec.hea":   {Data: []byte(hea)},
		"d/rec.dat":   {Data: encode212(s212)},
		"d/rec16.dat": {Data: d16},
	}
	rec, err := ReadRecord(fsys, "d/rec")
	if err != nil {
		t.Fatalf("ReadRecord: %v", err)
	}
	if rec.Fs != 500 || rec.Len != n || len(rec.Signals) != 4 {
		t.Fatalf("ReadRecord = fs %v len %d signals %d", rec.Fs, rec.Len, len(rec.Signals))
	}
	for j := range 4 {
		if !reflect.DeepEqual(rec.Signals[j].Samples, want[j]) {
			t.Errorf("signal %d = %v, want %v", j, rec.Signals[j].Samples, want[j])
		}
	}
	if got := rec.Signals[0].Physical(1); got != float64(s212[3]-10)/100 {
		t.Errorf("Physical(1) = %v", got)
	}

	// Corruptions.
	bad := []struct {
		name string
		fsys fstest.MapFS
		kind error
	}{
		{"truncated data", fstest.MapFS{"d/rec.hea": fsys["d/rec.hea"], "d/rec.dat": {Data: encode212(s212)[:10]}, "d/rec16.dat": fsys["d/rec16.dat"]}, vigil.ErrInvalid},
		{"checksum", fstest.MapFS{"d/rec.hea": fsys["d/rec.hea"], "d/rec.dat": {Data: append([]byte{1}, encode212(s212)[1:]...)}, "d/rec16.dat": fsys["d/rec16.dat"]}, vigil.ErrInvalid},
		{"missing dat", fstest.MapFS{"d/rec.hea": fsys["d/rec.hea"], "d/rec.dat": fsys["d/rec.dat"]}, vigil.ErrNotFound},
		{"missing header", fstest.MapFS{}, vigil.ErrNotFound},
		{"bad header", fstest.MapFS{"d/rec.hea": {Data: []byte("rec x\n")}}, vigil.ErrInvalid},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadRecord(tc.fsys, "d/rec")
			if !errors.Is(err, tc.kind) {
				t.Errorf("ReadRecord = %v, want %v", err, tc.kind)
			}
		})
	}
}

func TestReadRecordWithoutLength(t *testing.T) {
	fsys := fstest.MapFS{
		"a.hea": {Data: []byte("a 1 128\na.dat 212\n")},
		"a.dat": {Data: encode212([]int{1, -2, 3, 4, 5})},
	}
	rec, err := ReadRecord(fsys, "a")
	if err != nil {
		t.Fatalf("ReadRecord: %v", err)
	}
	if want := []int16{1, -2, 3, 4, 5}; !reflect.DeepEqual(rec.Signals[0].Samples, want) || rec.Len != 5 {
		t.Errorf("samples = %v (len %d), want %v", rec.Signals[0].Samples, rec.Len, want)
	}
}

func mitdb(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(testenv.SharedData(t), "mitdb-ds1")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("skipping: %s not found", dir)
	}
	return dir
}

func TestReadMITBIH(t *testing.T) {
	dir := mitdb(t)
	fsys := os.DirFS(dir)
	rec, err := ReadRecord(fsys, "101") // checksums are verified by ReadRecord
	if err != nil {
		t.Fatalf("ReadRecord(101): %v", err)
	}
	if rec.Fs != 360 || rec.Len != 650000 || len(rec.Signals) != 2 || rec.Signals[0].Name != "MLII" {
		t.Fatalf("ReadRecord(101) = fs %v len %d nsig %d", rec.Fs, rec.Len, len(rec.Signals))
	}
	// The header's initial values are the first samples.
	if rec.Signals[0].Samples[0] != 955 || rec.Signals[1].Samples[0] != 992 {
		t.Errorf("first samples = %d, %d, want 955, 992", rec.Signals[0].Samples[0], rec.Signals[1].Samples[0])
	}
	f, err := fsys.Open("101.atr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ann, err := ReadAnnotations(f)
	if err != nil {
		t.Fatalf("ReadAnnotations(101.atr): %v", err)
	}
	beats := 0
	for _, a := range ann {
		if IsBeat(a.Symbol) {
			beats++
		}
	}
	// PhysioNet's MIT-BIH directory lists 1865 beats for record 101
	// (1860 N, 3 A, 2 Q).
	if beats != 1865 {
		t.Errorf("101.atr: %d beats, want 1865", beats)
	}
	if ann[0].Symbol != "+" || ann[0].Aux != "(N" {
		t.Errorf("101.atr first annotation = %+v, want rhythm (N", ann[0])
	}
	var buf bytes.Buffer
	if err := WriteAnnotations(&buf, ann); err != nil {
		t.Fatalf("WriteAnnotations: %v", err)
	}
	back, err := ReadAnnotations(&buf)
	if err != nil {
		t.Fatalf("ReadAnnotations(written): %v", err)
	}
	if !reflect.DeepEqual(back, ann) {
		t.Errorf("annotation round trip differs")
	}
}

func TestReadAllDS1(t *testing.T) {
	dir := mitdb(t)
	fsys := os.DirFS(dir)
	names, _ := fs.Glob(fsys, "*.hea")
	if len(names) != 22 {
		t.Errorf("%d DS1 headers, want 22", len(names))
	}
	for _, h := range names {
		name := h[:len(h)-4]
		if _, err := ReadRecord(fsys, name); err != nil {
			t.Errorf("ReadRecord(%s): %v", name, err)
		}
	}
}

func BenchmarkReadRecord(b *testing.B) {
	fsys := os.DirFS(mitdb(b))
	b.ReportAllocs()
	b.SetBytes(650000 * 3)
	for b.Loop() {
		if _, err := ReadRecord(fsys, "101"); err != nil {
			b.Fatal(err)
		}
	}
}
