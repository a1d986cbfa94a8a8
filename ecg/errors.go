package ecg

import (
	"fmt"

	"github.com/vigilhealth/vigil"
)

// invalidf returns an error of kind vigil.ErrInvalid with a public message.
// Messages name files and fields, never sample values of a patient.
func invalidf(format string, args ...any) error {
	return &vigil.Error{Kind: vigil.ErrInvalid, Message: fmt.Sprintf(format, args...)}
}
