package ecg

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
)

// Annotation is one entry of a WFDB annotation file.
type Annotation struct {
	// Sample is the time of the annotation in samples from the record start.
	Sample int
	// Symbol is the MIT mnemonic of the annotation code: "N", "V", "/", "+"
	// (rhythm change), "~" (signal quality change), … Undefined codes read as
	// "[15]", "[42]", ….
	Symbol string
	// Sub, Chan and Num are the annotation's subtype, signal number and
	// annotator number. Sub and Num range over -128..127, Chan over 0..255.
	Sub, Chan, Num int
	// Aux is the auxiliary text, such as "(AFIB" on a rhythm change. Trailing
	// NUL bytes stored in the file are dropped.
	Aux string
}

// MIT annotation format constants (annot(5)).
const (
	annCodeMax = 49 // ACMAX: the largest annotation code
	annSkip    = 59
	annNum     = 60
	annSub     = 61
	annChn     = 62
	annAux     = 63
	maxAux     = 255
)

// annSymbols holds the MIT mnemonic of each annotation code (WFDB ecgmap).
var annSymbols = [annCodeMax + 1]string{
	" ", "N", "L", "R", "a", "V", "F", "J", "A", "S",
	"E", "j", "/", "Q", "~", "[15]", "|", "[17]", "s", "T",
	"*", "D", "\"", "=", "p", "B", "^", "t", "+", "u",
	"?", "!", "[", "]", "e", "n", "@", "x", "f", "(",
	")", "r", "[42]", "[43]", "[44]", "[45]", "[46]", "[47]", "[48]", "[49]",
}

// annCode returns the annotation code of an MIT mnemonic.
func annCode(sym string) (int, bool) {
	for c := 1; c <= annCodeMax; c++ {
		if annSymbols[c] == sym {
			return c, true
		}
	}
	return 0, false
}

// ReadAnnotations reads an annotation file in MIT format (annot(5)): 16-bit
// little-endian words whose top 6 bits hold a code and low 10 bits a time
// increment, with SKIP words for long increments and NUM, SUB, CHN and AUX
// words that set fields of the annotation before them. Num and Chan carry
// over from one annotation to the next as in the WFDB library. A zero word
// or the end of input ends the file. Malformed or truncated input returns an
// error wrapping vigil.ErrInvalid.
func ReadAnnotations(r io.Reader) ([]Annotation, error) {
	br := bufio.NewReader(r)
	var (
		out      []Annotation
		t        int64
		num, chn int
		cur      = -1 // index in out of the annotation modifiers apply to
		buf      [4]byte
		word     = 0
	)
	readWord := func() (uint16, bool, error) {
		n, err := io.ReadFull(br, buf[:2])
		if n == 0 && err == io.EOF {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, invalidf("annotations: truncated at word %d", word)
		}
		word++
		return uint16(buf[0]) | uint16(buf[1])<<8, true, nil
	}
	for {
		w, ok, err := readWord()
		if err != nil {
			return nil, err
		}
		if !ok || w == 0 {
			break
		}
		a, i := int(w>>10), int(w&0x3FF)
		switch {
		case a == annSkip:
			if _, err := io.ReadFull(br, buf[:4]); err != nil {
				return nil, invalidf("annotations: truncated SKIP at word %d", word)
			}
			// PDP-11 long: high 16-bit word first, each word little-endian.
			v := int32(uint32(buf[0])<<16 | uint32(buf[1])<<24 | uint32(buf[2]) | uint32(buf[3])<<8)
			t += int64(v)
			word += 2
		case a == annNum || a == annSub || a == annChn || a == annAux:
			if cur < 0 {
				return nil, invalidf("annotations: modifier word %d before any annotation", word)
			}
			p := &out[cur]
			switch a {
			case annNum:
				num = int(int8(i))
				p.Num = num
			case annSub:
				p.Sub = int(int8(i))
			case annChn:
				chn = int(uint8(i))
				p.Chan = chn
			case annAux:
				if i > maxAux {
					return nil, invalidf("annotations: aux longer than %d bytes at word %d", maxAux, word)
				}
				n := i + i&1
				b := make([]byte, n)
				if _, err := io.ReadFull(br, b); err != nil {
					return nil, invalidf("annotations: truncated AUX at word %d", word)
				}
				word += n / 2
				p.Aux = strings.TrimRight(string(b[:i]), "\x00")
			}
		case a >= 1 && a <= annCodeMax:
			t += int64(i)
			if t < 0 || t > math.MaxInt32 {
				return nil, invalidf("annotations: time out of range at word %d", word)
			}
			out = append(out, Annotation{Sample: int(t), Symbol: annSymbols[a], Num: num, Chan: chn})
			cur = len(out) - 1
		default:
			return nil, invalidf("annotations: undefined code %d at word %d", a, word)
		}
	}
	return out, nil
}

// WriteAnnotations writes a in MIT annotation format, ending with the
// end-of-file word. Annotations must be in time order and carry known
// mnemonics; fields out of range return an error wrapping vigil.ErrInvalid
// before anything is written.
func WriteAnnotations(w io.Writer, a []Annotation) error {
	codes := make([]int, len(a))
	prev := 0
	for k, x := range a {
		c, ok := annCode(x.Symbol)
		if !ok {
			return invalidf("annotations: unknown symbol %q at %d", x.Symbol, k)
		}
		codes[k] = c
		switch {
		case x.Sample < prev || x.Sample > math.MaxInt32:
			return invalidf("annotations: annotation %d out of time order", k)
		case x.Sub < -128 || x.Sub > 127, x.Num < -128 || x.Num > 127, x.Chan < 0 || x.Chan > 255:
			return invalidf("annotations: annotation %d: sub, num or chan out of range", k)
		case len(x.Aux) > maxAux:
			return invalidf("annotations: annotation %d: aux longer than %d bytes", k, maxAux)
		}
		prev = x.Sample
	}
	bw := bufio.NewWriter(w)
	put := func(v uint16) { bw.WriteByte(byte(v)); bw.WriteByte(byte(v >> 8)) }
	t, num, chn := 0, 0, 0
	for k, x := range a {
		d := x.Sample - t
		if d > 0x3FF {
			put(annSkip << 10)
			put(uint16(uint32(d) >> 16))
			put(uint16(d))
			d = 0
		}
		put(uint16(codes[k]<<10 | d))
		if x.Sub != 0 {
			put(uint16(annSub<<10 | x.Sub&0x3FF))
		}
		if x.Chan != chn {
			put(uint16(annChn<<10 | x.Chan))
			chn = x.Chan
		}
		if x.Num != num {
			put(uint16(annNum<<10 | x.Num&0x3FF))
			num = x.Num
		}
		if x.Aux != "" {
			put(uint16(annAux<<10 | len(x.Aux)))
			bw.WriteString(x.Aux)
			if len(x.Aux)%2 == 1 {
				bw.WriteByte(0)
			}
		}
		t = x.Sample
	}
	put(0)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("annotations: write: %w", err)
	}
	return nil
}

// AAMIClass maps an MIT-BIH beat symbol to its ANSI/AAMI EC57 class:
// N = {N, L, R, e, j}, S = {A, a, J, S}, V = {V, E}, F = {F},
// Q = {/, f, Q}. The EC57 table also places n (supraventricular escape) in
// S, r (R-on-T) in V, B (bundle branch block, unspecified) in N and ? in Q;
// these do not occur in the MIT-BIH Arrhythmia Database. isBeat is false for
// non-beat annotations (rhythm, noise, comments…), with class 0.
func AAMIClass(symbol string) (class byte, isBeat bool) {
	switch symbol {
	case "N", "L", "R", "e", "j", "B":
		return 'N', true
	case "A", "a", "J", "S", "n":
		return 'S', true
	case "V", "E", "r":
		return 'V', true
	case "F":
		return 'F', true
	case "/", "f", "Q", "?":
		return 'Q', true
	}
	return 0, false
}

// IsBeat reports whether symbol is a beat annotation.
func IsBeat(symbol string) bool {
	_, ok := AAMIClass(symbol)
	return ok
}
