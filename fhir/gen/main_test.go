package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

const defsDir = "../../../shared/data/fhir-r4/definitions"

// TestGenerateReproducible checks that generating from the definitions
// gives the committed ../r4.json.gz byte for byte, so "go generate" is
// reproducible and the embedded data is what the generator writes.
func TestGenerateReproducible(t *testing.T) {
	if _, err := os.Stat(defsDir); errors.Is(err, os.ErrNotExist) {
		t.Skipf("FHIR definitions %s not present", defsDir)
	}
	got, err := Generate(defsDir, io.Discard)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	want, err := os.ReadFile("../r4.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Generate(%s) gives %d bytes that differ from the committed r4.json.gz (%d bytes); run go generate ./fhir", defsDir, len(got), len(want))
	}
}
