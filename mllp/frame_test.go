package mllp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
)

func frame(s string) string { return "\x0b" + s + "\x1c\r" }

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		want    []string
		wantErr []error // one per message position after want, checked in order
		skipped int64
	}{
		{"one", frame("MSH|a"), 0, []string{"MSH|a"}, nil, 0},
		{"two", frame("A") + frame("B"), 0, []string{"A", "B"}, nil, 0},
		{"empty message", frame(""), 0, []string{""}, nil, 0},
		{"garbage before and between", "xyz" + frame("A") + "\r\n--" + frame("B"), 0, []string{"A", "B"}, nil, 6},
		{"CR after frame is not garbage", frame("A") + "\r" + frame("B"), 0, []string{"A", "B"}, nil, 0},
		{"missing CR after end block", "\x0bA\x1c" + frame("B"), 0, []string{"A", "B"}, nil, 0},
		{"restart inside frame", "\x0bTRUNC" + frame("A"), 0, []string{"A"}, nil, 6},
		{"segments keep their CR", frame("MSH|x\rPID|1\r"), 0, []string{"MSH|x\rPID|1\r"}, nil, 0},
		{"exactly max", frame("12345"), 5, []string{"12345"}, nil, 0},
		{"eof inside frame", "\x0bABC", 0, nil, []error{io.ErrUnexpectedEOF}, 0},
		{"eof after start", "\x0b", 0, nil, []error{io.ErrUnexpectedEOF}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), tt.max)
			for _, w := range tt.want {
				got, err := r.ReadMessage()
				if err != nil || string(got) != w {
					t.Fatalf("ReadMessage() = %q, %v; want %q", got, err, w)
				}
			}
			for _, we := range tt.wantErr {
				if _, err := r.ReadMessage(); !errors.Is(err, we) {
					t.Fatalf("ReadMessage() error %v, want %v", err, we)
				}
			}
			if tt.wantErr == nil && tt.want != nil {
				if got, err := r.ReadMessage(); err != io.EOF {
					t.Fatalf("ReadMessage() at end = %q, %v; want io.EOF", got, err)
				}
				if r.Skipped != tt.skipped {
					t.Errorf("Skipped = %d, want %d", r.Skipped, tt.skipped)
				}
			}
		})
	}
}

func TestReaderTooLarge(t *testing.T) {
	big := strings.Repeat("x", 10000)
	r := NewReader(strings.NewReader(frame("MSH|"+big)+frame("next")), 5000)
	_, err := r.ReadMessage()
	var tl *FrameTooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, vigil.ErrTooLarge) {
		t.Fatalf("ReadMessage() error %v, want *FrameTooLargeError", err)
	}
	if len(tl.Head) != headSize || !bytes.HasPrefix(tl.Head, []byte("MSH|x")) || tl.Limit != 5000 {
		t.Errorf("Head has %d bytes (%q…), Limit %d", len(tl.Head), tl.Head[:8], tl.Limit)
	}
	// The reader resynchronises on the next frame.
	if got, err := r.ReadMessage(); err != nil || string(got) != "next" {
		t.Errorf("after oversize: %q, %v", got, err)
	}
	// A message spanning many buffer fills is read whole.
	r = NewReader(strings.NewReader(frame(big+big+big)), 0)
	if got, err := r.ReadMessage(); err != nil || len(got) != 30000 {
		t.Errorf("large message: %d bytes, %v", len(got), err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(frame("MSH|^~\\&|A\rPID|1")+"junk"+frame("B")), 64)
	f.Add([]byte("\x0b\x0b\x1c\x1c\r\r\x0bA"), 1)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		max = max%4096 + 1
		if max <= 0 {
			max += 4096
		}
		r := NewReader(bytes.NewReader(data), max)
		for i := 0; i < len(data)+1; i++ {
			msg, err := r.ReadMessage()
			if err != nil {
				var tl *FrameTooLargeError
				if errors.As(err, &tl) {
					if len(tl.Head) > max || len(tl.Head) > headSize {
						t.Fatalf("head of %d bytes, max %d", len(tl.Head), max)
					}
					continue
				}
				return
			}
			if len(msg) > max || bytes.IndexByte(msg, StartBlock) >= 0 || bytes.IndexByte(msg, EndBlock) >= 0 {
				t.Fatalf("bad message %q (max %d)", msg, max)
			}
		}
		t.Fatal("reader did not reach the end")
	})
}

// Framing then reading returns the messages (those without frame bytes).
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("MSH|A\rPID|1"), []byte("B"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		clean := func(m []byte) []byte {
			return bytes.Map(func(r rune) rune {
				if r == StartBlock || r == EndBlock {
					return -1
				}
				return r
			}, m)
		}
		a, b = clean(a), clean(b)
		var buf bytes.Buffer
		if err := WriteFrame(&buf, a); err != nil {
			t.Fatal(err)
		}
		buf.WriteString("\r\n")
		_ = WriteFrame(&buf, b)
		r := NewReader(&buf, 0)
		for _, want := range [][]byte{a, b} {
			got, err := r.ReadMessage()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ReadMessage() = %q, %v; want %q", got, err, want)
			}
		}
	})
}

func BenchmarkReader(b *testing.B) {
	msg := []byte(strings.Repeat("OBX|1|NM|8867-4^Heart rate^LN||72|/min^^UCUM|||||F\r", 8))
	var stream []byte
	for i := 0; i < 64; i++ {
		stream = AppendFrame(stream, msg)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	rd := bytes.NewReader(stream)
	r := NewReader(rd, 0)
	for b.Loop() {
		rd.Reset(stream)
		r.br.Reset(rd)
		for {
			if _, err := r.ReadMessage(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
