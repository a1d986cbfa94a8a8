package main

import "context"

// runModel is implemented by the model work; placeholder.
func runModel(ctx context.Context, env *Env, args []string) error { return errNotYet }
