package main

import (
	"context"
	"errors"
)

// runAudit runs the audit-trail tools (vigil audit verify).
func runAudit(ctx context.Context, env *Env, args []string) error {
	return errors.New("audit: not built yet")
}
