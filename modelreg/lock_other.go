//go:build !unix

package modelreg

import (
	"context"
	"fmt"
	"os"
	"time"
)

// lock takes the registry's writer lock by creating path exclusively. On
// these systems a crashed writer leaves the file behind; remove it by hand.
func lock(ctx context.Context, path string) (func(), error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !os.IsExist(err) {
			return nil, fmt.Errorf("lock registry: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
