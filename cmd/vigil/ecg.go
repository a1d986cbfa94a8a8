package main

import (
	"context"
	"errors"
)

// runECG runs the ECG tools (vigil ecg annotate|eval).
func runECG(ctx context.Context, env *Env, args []string) error {
	return errors.New("ecg: not built yet")
}
