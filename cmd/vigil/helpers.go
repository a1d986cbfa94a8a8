package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/vigilhealth/vigil/records"
)

func mkTemp(prefix string) (string, error) {
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", fmt.Errorf("create temporary directory: %w", err)
	}
	return d, nil
}

func removeAll(dir string) { _ = os.RemoveAll(dir) }

func quietLogger(env *Env) *slog.Logger {
	return slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// preloadObservations imports n generated Observations through the bulk
// import path (NDJSON), in chunks.
func preloadObservations(ctx context.Context, app *App, n, patients int) error {
	r := rand.New(rand.NewPCG(1, 2))
	const chunk = 50000
	for done := 0; done < n; done += chunk {
		var buf bytes.Buffer
		for i := 0; i < min(chunk, n-done); i++ {
			buf.Write(observationJSON(r, patients))
			buf.WriteByte('\n')
		}
		start := time.Now()
		if _, err := app.Records.Import(ctx, &buf, records.ImportOptions{BatchSize: 1000}); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "  %d/%d (%.0f/s)\n", done+min(chunk, n-done), n, float64(min(chunk, n-done))/time.Since(start).Seconds())
	}
	return nil
}
