package main

import "context"

// runECG is implemented by the ECG work; placeholder.
func runECG(ctx context.Context, env *Env, args []string) error { return errNotYet }
