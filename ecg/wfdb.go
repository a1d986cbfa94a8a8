package ecg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/vigilhealth/vigil"
)

// InvalidSample is the value a sample takes where the recording holds no
// valid measurement (WFDB_INVALID_SAMPLE). In format 212 the raw code -2048
// and in format 16 the raw code -32768 both read as InvalidSample.
const InvalidSample = -32768

// Default values from the WFDB header specification (header(5)).
const (
	defaultFs    = 250 // samples per second when the record line omits it
	defaultGain  = 200 // ADC units per physical unit when gain is 0 or absent
	defaultUnits = "mV"
	// maxHeaderSize bounds a header file; real headers are a few hundred bytes.
	maxHeaderSize = 1 << 20
	// maxSignals bounds the number of signals in one record.
	maxSignals = 4096
)

// Record is a WFDB record: its sampling frequency and its signals, all of
// the same length.
type Record struct {
	// Name is the record name from the header's record line.
	Name string
	// Fs is the sampling frequency in samples per second per signal.
	Fs float64
	// Len is the number of samples in each signal.
	Len int
	// Signals holds the record's signals in header order.
	Signals []Signal
	// Comments holds the header's comment lines without the leading '#'.
	Comments []string
}

// Signal is one signal of a record, in raw ADC units.
type Signal struct {
	// Name is the signal description, such as "MLII" or "V1".
	Name string
	// Units are the physical units, "mV" when the header omits them.
	Units string
	// Gain is the number of ADC units per physical unit.
	Gain float64
	// Baseline is the ADC value that corresponds to 0 physical units.
	Baseline int
	// Samples holds the raw ADC values; InvalidSample marks missing ones.
	Samples []int16
	// Format is the WFDB storage format the samples were read from (212, 16).
	Format int
	// ADCResolution is the ADC resolution in bits (11 for MIT-BIH).
	ADCResolution int
	// ADCZero is the ADC value at the centre of the ADC's range.
	ADCZero int
}

// ADCRange returns the smallest and largest values the signal's converter
// can produce, from its resolution and zero (header(5)), for clipping
// detection.
func (s *Signal) ADCRange() (lo, hi int) {
	half := 1 << max(0, s.ADCResolution-1)
	return s.ADCZero - half, s.ADCZero + half - 1
}

// Physical returns sample i of s in physical units, (raw-Baseline)/Gain.
// It returns NaN for an InvalidSample.
func (s *Signal) Physical(i int) float64 {
	v := s.Samples[i]
	if v == InvalidSample {
		return nan()
	}
	return float64(int(v)-s.Baseline) / s.Gain
}

// Header is the parsed content of a WFDB header file, before any signal
// file is read.
type Header struct {
	Name     string
	Fs       float64
	Len      int // 0 when the header does not say
	Signals  []SignalSpec
	Comments []string
}

// SignalSpec is one signal line of a WFDB header.
type SignalSpec struct {
	File          string // signal file name, relative to the header
	Format        int    // storage format: 212 or 16 are supported
	Offset        int    // bytes to skip at the start of the file
	Gain          float64
	Baseline      int
	Units         string
	ADCResolution int
	ADCZero       int
	InitValue     int
	Checksum      int // valid when HasChecksum
	HasChecksum   bool
	BlockSize     int
	Description   string
}

// ParseHeader parses a WFDB header (header(5)): a record line, one line per
// signal, and comment lines starting with '#'. Lines may end in LF or CRLF.
// Multi-segment records, sample-per-frame multipliers and signal formats
// other than 212 and 16 are rejected with an error wrapping vigil.ErrInvalid.
func ParseHeader(data []byte) (*Header, error) {
	if len(data) > maxHeaderSize {
		return nil, invalidf("wfdb header: larger than %d bytes", maxHeaderSize)
	}
	var h Header
	nsig := -1
	lineNo := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxHeaderSize)
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			h.Comments = append(h.Comments, strings.TrimSpace(trimmed[1:]))
			continue
		}
		if trimmed == "" {
			continue
		}
		f := strings.Fields(trimmed)
		if nsig < 0 {
			n, err := parseRecordLine(&h, f)
			if err != nil {
				return nil, fmt.Errorf("wfdb header line %d: %w", lineNo, err)
			}
			nsig = n
			continue
		}
		if len(h.Signals) == nsig {
			return nil, invalidf("wfdb header line %d: more signal lines than the %d announced", lineNo, nsig)
		}
		s, err := parseSignalLine(f)
		if err != nil {
			return nil, fmt.Errorf("wfdb header line %d: %w", lineNo, err)
		}
		h.Signals = append(h.Signals, s)
	}
	if err := sc.Err(); err != nil {
		return nil, &vigil.Error{Kind: vigil.ErrInvalid, Message: "wfdb header: unreadable", Err: err}
	}
	if nsig < 0 {
		return nil, invalidf("wfdb header: no record line")
	}
	if len(h.Signals) != nsig {
		return nil, invalidf("wfdb header: %d signal lines, record line announces %d", len(h.Signals), nsig)
	}
	// Signals sharing a file must be on consecutive lines and share a format.
	seen := map[string]bool{}
	for i, s := range h.Signals {
		if i > 0 && h.Signals[i-1].File == s.File {
			if h.Signals[i-1].Format != s.Format || h.Signals[i-1].Offset != s.Offset {
				return nil, invalidf("wfdb header: signals in file %q differ in format or offset", s.File)
			}
			continue
		}
		if seen[s.File] {
			return nil, invalidf("wfdb header: signals of file %q are not on consecutive lines", s.File)
		}
		seen[s.File] = true
	}
	return &h, nil
}

// parseRecordLine parses "name[/nseg] nsig [fs[/cfreq[(base)]] [nsamp [time [date]]]]"
// into h and returns the number of signals.
func parseRecordLine(h *Header, f []string) (int, error) {
	name := f[0]
	if strings.Contains(name, "/") {
		return 0, invalidf("record line: multi-segment records are not supported")
	}
	if !validName(name) {
		return 0, invalidf("record line: bad record name")
	}
	h.Name = name
	if len(f) < 2 {
		return 0, invalidf("record line: number of signals missing")
	}
	nsig, err := strconv.Atoi(f[1])
	if err != nil || nsig < 0 || nsig > maxSignals {
		return 0, invalidf("record line: bad number of signals %q", f[1])
	}
	h.Fs = defaultFs
	if len(f) > 2 {
		fsField := f[2]
		if i := strings.IndexAny(fsField, "/("); i >= 0 {
			fsField = fsField[:i]
		}
		v, err := strconv.ParseFloat(fsField, 64)
		if err != nil || !(v > 0) || v > 1e7 {
			return 0, invalidf("record line: bad sampling frequency %q", f[2])
		}
		h.Fs = v
	}
	if len(f) > 3 {
		n, err := strconv.Atoi(f[3])
		if err != nil || n < 0 {
			return 0, invalidf("record line: bad number of samples %q", f[3])
		}
		h.Len = n
	}
	return nsig, nil
}

// parseSignalLine parses "file format[xspf][:skew][+offset] [gain[(base)][/units]
// [adcres [adczero [initval [checksum [blocksize [description]]]]]]]".
func parseSignalLine(f []string) (SignalSpec, error) {
	var s SignalSpec
	if !validName(f[0]) || f[0] == "-" {
		return s, invalidf("signal line: unsupported signal file name")
	}
	s.File = f[0]
	if len(f) < 2 {
		return s, invalidf("signal line: format missing")
	}
	fmtField := f[1]
	if i := strings.IndexByte(fmtField, '+'); i >= 0 {
		off, err := strconv.Atoi(fmtField[i+1:])
		if err != nil || off < 0 {
			return s, invalidf("signal line: bad byte offset %q", fmtField)
		}
		s.Offset = off
		fmtField = fmtField[:i]
	}
	if i := strings.IndexByte(fmtField, ':'); i >= 0 {
		if _, err := strconv.Atoi(fmtField[i+1:]); err != nil {
			return s, invalidf("signal line: bad skew %q", f[1])
		}
		fmtField = fmtField[:i] // skew is accepted and ignored
	}
	if i := strings.IndexByte(fmtField, 'x'); i >= 0 {
		if fmtField[i+1:] != "1" {
			return s, invalidf("signal line: several samples per frame are not supported")
		}
		fmtField = fmtField[:i]
	}
	format, err := strconv.Atoi(fmtField)
	if err != nil {
		return s, invalidf("signal line: bad format %q", f[1])
	}
	if format != 212 && format != 16 {
		return s, invalidf("signal line: format %d is not supported (212 and 16 are)", format)
	}
	s.Format = format
	s.Gain = defaultGain
	s.Units = defaultUnits
	hasBaseline := false
	if len(f) > 2 {
		g := f[2]
		if i := strings.IndexByte(g, '/'); i >= 0 {
			s.Units = g[i+1:]
			if s.Units == "" {
				return s, invalidf("signal line: empty units")
			}
			g = g[:i]
		}
		if i := strings.IndexByte(g, '('); i >= 0 {
			if !strings.HasSuffix(g, ")") {
				return s, invalidf("signal line: bad baseline in %q", f[2])
			}
			b, err := strconv.Atoi(g[i+1 : len(g)-1])
			if err != nil {
				return s, invalidf("signal line: bad baseline in %q", f[2])
			}
			s.Baseline, hasBaseline = b, true
			g = g[:i]
		}
		v, err := strconv.ParseFloat(g, 64)
		if err != nil || v < 0 || v > 1e12 {
			return s, invalidf("signal line: bad gain %q", f[2])
		}
		if v > 0 {
			s.Gain = v
		}
	}
	ints := []*int{&s.ADCResolution, &s.ADCZero, &s.InitValue, &s.Checksum, &s.BlockSize}
	names := []string{"ADC resolution", "ADC zero", "initial value", "checksum", "block size"}
	for k, p := range ints {
		if len(f) <= 3+k {
			break
		}
		v, err := strconv.Atoi(f[3+k])
		if err != nil {
			return s, invalidf("signal line: bad %s %q", names[k], f[3+k])
		}
		*p = v
		if k == 3 {
			s.HasChecksum = true
		}
	}
	if s.ADCResolution == 0 {
		s.ADCResolution = map[int]int{212: 12, 16: 16}[format]
	}
	if s.ADCResolution < 0 || s.ADCResolution > 16 {
		return s, invalidf("signal line: bad ADC resolution %d", s.ADCResolution)
	}
	if !hasBaseline {
		s.Baseline = s.ADCZero
	}
	if len(f) > 8 {
		s.Description = strings.Join(f[8:], " ")
	}
	return s, nil
}

// validName reports whether a record or file name is a plain relative name
// that fs.FS accepts.
func validName(n string) bool {
	return n != "" && n != "." && n != ".." && fs.ValidPath(n) && !strings.ContainsAny(n, `\`)
}

// ReadRecord reads the WFDB record name (without extension) from fsys: the
// header name+".hea" and the signal files it names, resolved relative to the
// header's directory. Errors wrap vigil.ErrNotFound when a file is missing
// and vigil.ErrInvalid when a file is malformed, truncated or its checksum
// does not match.
func ReadRecord(fsys fs.FS, name string) (*Record, error) {
	if !fs.ValidPath(name) || name == "." {
		return nil, invalidf("wfdb: bad record path %q", name)
	}
	data, err := fs.ReadFile(fsys, name+".hea")
	if err != nil {
		return nil, openError(name+".hea", err)
	}
	h, err := ParseHeader(data)
	if err != nil {
		return nil, fmt.Errorf("%s.hea: %w", name, err)
	}
	rec := &Record{Name: h.Name, Fs: h.Fs, Comments: h.Comments, Signals: make([]Signal, len(h.Signals))}
	dir := path.Dir(name)
	length := -1
	for i := 0; i < len(h.Signals); {
		j := i + 1
		for j < len(h.Signals) && h.Signals[j].File == h.Signals[i].File {
			j++
		}
		file := path.Join(dir, h.Signals[i].File)
		raw, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, openError(file, err)
		}
		sig, n, err := decodeGroup(raw, h.Signals[i:j], h.Len)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if length >= 0 && n != length {
			return nil, invalidf("wfdb: %s: %d samples, other signals have %d", file, n, length)
		}
		length = n
		copy(rec.Signals[i:j], sig)
		i = j
	}
	if length < 0 {
		length = h.Len
	}
	rec.Len = length
	return rec, nil
}

func openError(file string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &vigil.Error{Kind: vigil.ErrNotFound, Message: "wfdb: " + file + " not found", Err: err}
	}
	return &vigil.Error{Kind: vigil.ErrInvalid, Message: "wfdb: " + file + " unreadable", Err: err}
}

// decodeGroup decodes the interleaved samples of the signals stored in one
// file. nsamp is the header's sample count, 0 for "until end of file".
func decodeGroup(raw []byte, specs []SignalSpec, nsamp int) ([]Signal, int, error) {
	sp := specs[0]
	if sp.Offset > len(raw) {
		return nil, 0, invalidf("byte offset %d beyond end of file (%d bytes)", sp.Offset, len(raw))
	}
	raw = raw[sp.Offset:]
	k := len(specs)
	var avail int // whole frames available in the file
	switch sp.Format {
	case 212:
		avail = (len(raw) / 3 * 2) / k
		if len(raw)%3 == 2 {
			avail = (len(raw)/3*2 + 1) / k
		}
	case 16:
		avail = len(raw) / 2 / k
	}
	n := nsamp
	if n == 0 {
		n = avail
	} else if n > avail {
		return nil, 0, invalidf("truncated: header announces %d samples, file holds %d", nsamp, avail)
	}
	sigs := make([]Signal, k)
	sums := make([]int, k)
	for j := range sigs {
		s := specs[j]
		sigs[j] = Signal{Name: s.Description, Units: s.Units, Gain: s.Gain, Baseline: s.Baseline,
			Format: s.Format, ADCResolution: s.ADCResolution, ADCZero: s.ADCZero, Samples: make([]int16, n)}
	}
	switch sp.Format {
	case 212:
		decode212(raw, sigs, n, sums)
	case 16:
		for t := 0; t < n; t++ {
			for j := range sigs {
				p := 2 * (t*k + j)
				v := int16(uint16(raw[p]) | uint16(raw[p+1])<<8)
				sums[j] += int(v)
				sigs[j].Samples[t] = v
			}
		}
	}
	if nsamp > 0 {
		for j, s := range specs {
			if s.HasChecksum && int16(sums[j]) != int16(s.Checksum) {
				return nil, 0, invalidf("signal %d: checksum mismatch (corrupt file)", j)
			}
		}
	}
	return sigs, n, nil
}

// decode212 unpacks format 212: each pair of consecutive samples of the
// interleaved stream is stored in three bytes, the first sample in the low
// 12 bits of bytes 0-1, the second in byte 2 and the high nibble of byte 1.
// The raw code -2048 becomes InvalidSample; sums receive the raw sums that
// the header checksum covers.
func decode212(raw []byte, sigs []Signal, n int, sums []int) {
	k := len(sigs)
	total := n * k
	j, t := 0, 0
	put := func(v int) {
		sums[j] += v
		if v == -2048 {
			v = InvalidSample
		}
		sigs[j].Samples[t] = int16(v)
		j++
		if j == k {
			j, t = 0, t+1
		}
	}
	if k == 2 {
		// Fast path for the common two-signal file: one frame per 3 bytes.
		a, b := sigs[0].Samples[:n], sigs[1].Samples[:n]
		for t := 0; t < n; t++ {
			p := raw[3*t : 3*t+3 : 3*t+3]
			v0 := int(int16(uint16(p[0])<<4|uint16(p[1]&0x0F)<<12) >> 4)
			v1 := int(int16(uint16(p[2])<<4|uint16(p[1]&0xF0)<<8) >> 4)
			sums[0] += v0
			sums[1] += v1
			if v0 == -2048 {
				v0 = InvalidSample
			}
			if v1 == -2048 {
				v1 = InvalidSample
			}
			a[t], b[t] = int16(v0), int16(v1)
		}
		return
	}
	for i := 0; i < total; i += 2 {
		p := 3 * (i / 2)
		put(int(int16(uint16(raw[p])<<4|uint16(raw[p+1]&0x0F)<<12) >> 4))
		if i+1 < total {
			put(int(int16(uint16(raw[p+2])<<4|uint16(raw[p+1]&0xF0)<<8) >> 4))
		}
	}
}

func nan() float64 { return math.NaN() }
