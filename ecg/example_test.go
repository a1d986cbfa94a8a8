package ecg_test

import (
	"bytes"
	"fmt"
	"math"
	"testing/fstest"

	"github.com/vigilhealth/vigil/ecg"
)

func ExampleReadRecord() {
	// A two-signal record in format 16: header and signal file.
	fsys := fstest.MapFS{
		"rec.hea": {Data: []byte("rec 2 250 3\r\nrec.dat 16 200(0)/mV 16 0 10 30 0 I\r\nrec.dat 16 200(0)/mV 16 0 -5 -15 0 II\r\n")},
		"rec.dat": {Data: []byte{10, 0, 251, 255, 20, 0, 251, 255, 0, 0, 251, 255}},
	}
	rec, err := ecg.ReadRecord(fsys, "rec")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := rec.Signals[0]
	fmt.Println(rec.Fs, rec.Len, s.Name, s.Samples, s.Physical(1), s.Units)
	// Output: 250 3 I [10 20 0] 0.1 mV
}

func ExampleWriteAnnotations() {
	var buf bytes.Buffer
	err := ecg.WriteAnnotations(&buf, []ecg.Annotation{
		{Sample: 0, Symbol: "+", Aux: "(AFIB"},
		{Sample: 370, Symbol: "N"},
		{Sample: 5000, Symbol: "V"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ann, err := ecg.ReadAnnotations(&buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range ann {
		class, beat := ecg.AAMIClass(a.Symbol)
		fmt.Printf("%d %s %q beat=%v class=%c\n", a.Sample, a.Symbol, a.Aux, beat, max(class, '-'))
	}
	// Output:
	// 0 + "(AFIB" beat=false class=-
	// 370 N "" beat=true class=N
	// 5000 V "" beat=true class=V
}

func ExampleDetector() {
	// Twenty seconds of a synthetic 75 bpm ECG at 250 Hz, fed in chunks.
	const fs = 250.0
	x := make([]int16, 20*fs)
	for i := range x {
		k := i % 200 // 0.8 s
		if k < 20 {  // a 1 mV, 80 ms triangular QRS at 200 adu/mV
			x[i] = int16(200 * (1 - math.Abs(float64(k-10))/10))
		}
	}
	d, err := ecg.NewDetector(ecg.DetectorConfig{Fs: fs, Gain: 200})
	if err != nil {
		fmt.Println(err)
		return
	}
	var beats []ecg.Beat
	for i := 0; i < len(x); i += 100 {
		beats = d.Process(x[i:i+100], beats)
	}
	beats = d.Flush(beats)
	rr := ecg.Intervals([]int64{beats[0].Sample, beats[1].Sample}, nil, fs)
	fmt.Printf("%d beats after the 2 s learning period, %.0f bpm\n", len(beats), ecg.InstantHR(rr[0]))
	// Output: 21 beats after the 2 s learning period, 75 bpm
}

func ExampleComputeHRV() {
	beats := []int64{0, 400, 810, 1200, 1650, 2050} // samples at 500 Hz
	h := ecg.ComputeHRV(ecg.Intervals(beats, nil, 500))
	fmt.Printf("mean NN %.0f ms, SDNN %.1f ms, RMSSD %.1f ms, pNN50 %.0f%%\n",
		1000*h.MeanNN, 1000*h.SDNN, 1000*h.RMSSD, 100*h.PNN50)
	// Output: mean NN 820 ms, SDNN 46.9 ms, RMSSD 81.2 ms, pNN50 50%
}
