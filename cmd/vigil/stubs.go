package main

import (
	"context"
	"errors"
)

var errNotYet = errors.New("not implemented yet")

func runServe(ctx context.Context, env *Env, args []string) error  { return errNotYet }
func runDemo(ctx context.Context, env *Env, args []string) error   { return errNotYet }
func runImport(ctx context.Context, env *Env, args []string) error { return errNotYet }
