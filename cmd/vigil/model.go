package main

import (
	"context"
	"errors"
)

// runModel runs the model tools (vigil model train|eval|…).
func runModel(ctx context.Context, env *Env, args []string) error {
	return errors.New("model: not built yet")
}
