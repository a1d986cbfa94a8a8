package mllp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/vigilhealth/vigil"
)

// Frame bytes.
const (
	StartBlock = 0x0B // VT
	EndBlock   = 0x1C // FS
	CR         = 0x0D
)

// DefaultMaxSize is the message size limit used when none is given: 1 MiB,
// far above any ORU^R01 of vital signs.
const DefaultMaxSize = 1 << 20

// headSize is how much of an oversize frame FrameTooLargeError keeps: enough
// for the MSH segment, so an AR acknowledgment can still be addressed.
const headSize = 4096

// FrameTooLargeError reports a frame longer than the reader's maximum. The
// frame has been discarded; the reader is positioned after it.
type FrameTooLargeError struct {
	Limit int
	Head  []byte // the first bytes of the message (up to 4 KiB)
}

// Error implements error.
func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("mllp: message exceeds %d bytes", e.Limit)
}

// Unwrap makes errors.Is(err, vigil.ErrTooLarge) true.
func (e *FrameTooLargeError) Unwrap() error { return vigil.ErrTooLarge }

// Reader reads MLLP frames. It is not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	max int
	// Skipped counts bytes discarded outside frames and in truncated frames.
	Skipped int64
}

// NewReader returns a Reader on r accepting messages of at most maxSize
// bytes (DefaultMaxSize when maxSize <= 0).
func NewReader(r io.Reader, maxSize int) *Reader {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	return &Reader{br: bufio.NewReaderSize(r, 16<<10), max: maxSize}
}

// ReadMessage returns the next message without its framing. The returned
// slice is newly allocated and owned by the caller. At the end of the
// stream outside a frame it returns io.EOF; inside a frame
// io.ErrUnexpectedEOF.
func (r *Reader) ReadMessage() ([]byte, error) {
	if err := r.waitStart(); err != nil {
		return nil, err
	}
	return r.readBody()
}

// waitStart discards bytes up to and including the next start block.
func (r *Reader) waitStart() error {
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			return err
		}
		if b == StartBlock {
			return nil
		}
		if b != CR { // a CR here is the tail of the previous frame
			r.Skipped++
		}
	}
}

// readBody reads after a start block up to the end of the frame.
func (r *Reader) readBody() ([]byte, error) {
	var msg []byte
	tooLarge := false
	for {
		chunk, err := r.br.ReadSlice(EndBlock)
		if err != nil && err != bufio.ErrBufferFull {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		// A start block inside the frame: the frame so far was truncated.
		if i := bytes.LastIndexByte(chunk, StartBlock); i >= 0 {
			r.Skipped += int64(len(msg) + i + 1)
			msg, tooLarge = msg[:0], false
			chunk = chunk[i+1:]
		}
		body := chunk
		ended := err == nil
		if ended {
			body = chunk[:len(chunk)-1]
		}
		if !tooLarge {
			if len(msg)+len(body) > r.max {
				tooLarge = true
				keep := min(headSize, r.max) - len(msg)
				if keep > 0 {
					msg = append(msg, body[:min(keep, len(body))]...)
				}
			} else {
				msg = append(msg, body...)
			}
		}
		if !ended {
			continue
		}
		// The CR after the end block is required by the standard; consume it
		// when it is already buffered. Otherwise do not block for it: it
		// will be skipped as bytes outside a frame, and a sender that omits
		// it still gets its ACK.
		if r.br.Buffered() > 0 {
			if b, _ := r.br.ReadByte(); b != CR {
				_ = r.br.UnreadByte()
			}
		}
		if tooLarge {
			return nil, &FrameTooLargeError{Limit: r.max, Head: msg[:min(len(msg), headSize)]}
		}
		if msg == nil {
			msg = []byte{}
		}
		return msg, nil
	}
}

// AppendFrame appends msg framed for MLLP to dst.
func AppendFrame(dst, msg []byte) []byte {
	dst = append(dst, StartBlock)
	dst = append(dst, msg...)
	return append(dst, EndBlock, CR)
}

// WriteFrame writes msg framed for MLLP to w in a single Write call.
func WriteFrame(w io.Writer, msg []byte) error {
	_, err := w.Write(AppendFrame(make([]byte, 0, len(msg)+3), msg))
	return err
}
