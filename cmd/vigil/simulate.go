package main

import (
	"context"
	"errors"
)

// runSimulate streams simulated vital signs to a Vigil server.
func runSimulate(ctx context.Context, env *Env, args []string) error {
	return errors.New("simulate: not built yet")
}
