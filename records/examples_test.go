package records_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/internal/teststore"
	"github.com/vigilhealth/vigil/records"
)

// example is one official R4 example resource.
type example struct {
	name string
	data []byte
}

// officialExamples reads every resource of the official examples package.
func officialExamples(t *testing.T) []example {
	t.Helper()
	path := filepath.Join(testenv.SharedData(t), "fhir-r4", "hl7.fhir.r4.examples-4.0.1.tgz")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("skipping: official examples not found: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []example
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "package/")
		// package.json and ig-r4.json describe the npm package, not resources.
		if !strings.HasSuffix(name, ".json") || name == "package.json" || name == "ig-r4.json" || strings.Contains(name, "/") {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, example{name, data})
	}
	return out
}

// TestOfficialExamplesRoundTrip creates every official R4 example that is a
// valid resource (with its own id, as update-as-create) and reads it back,
// on both stores: the content must come back unchanged apart from
// meta.versionId and meta.lastUpdated. It reports how many examples the
// validator rejects and why.
func TestOfficialExamplesRoundTrip(t *testing.T) {
	exs := officialExamples(t)
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range teststore.All() {
		t.Run(st.Name, func(t *testing.T) {
			store := st.Open(t)
			t.Cleanup(func() { store.Close() })
			svc := records.New(store, model)
			roundTrip(t, svc, model, exs)
		})
	}
}

func roundTrip(t *testing.T, svc *records.Service, model *fhir.Model, exs []example) {
	ctx := context.Background()
	var mu sync.Mutex
	rejected := map[string][]string{} // first issue → example names
	passed, failed := 0, 0
	work := make(chan example)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ex := range work {
				reason, err := createAndCompare(ctx, svc, model, ex)
				mu.Lock()
				switch {
				case reason != "":
					rejected[reason] = append(rejected[reason], ex.name)
				case err != nil:
					failed++
					t.Errorf("%s: %v", ex.name, err)
				default:
					passed++
				}
				mu.Unlock()
			}
		}()
	}
	for _, ex := range exs {
		work <- ex
	}
	close(work)
	wg.Wait()
	nrej := 0
	reasons := make([]string, 0, len(rejected))
	for r, names := range rejected {
		nrej += len(names)
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool { return len(rejected[reasons[i]]) > len(rejected[reasons[j]]) })
	t.Logf("official examples: %d in the package, %d created and read back unchanged, %d rejected as invalid, %d failed", len(exs), passed, nrej, failed)
	for _, r := range reasons {
		names := rejected[r]
		t.Logf("  rejected %3d × %s (e.g. %s)", len(names), r, strings.Join(names[:min(3, len(names))], ", "))
	}
	if passed == 0 {
		t.Fatal("no official example round-tripped")
	}
}

// createAndCompare stores one example and reads it back. A non-empty
// reason means the validator rejected it (with that first issue).
func createAndCompare(ctx context.Context, svc *records.Service, model *fhir.Model, ex example) (reason string, err error) {
	obj, err := model.Decode(ex.data)
	if err != nil {
		var ve *vigil.Error
		if errors.As(err, &ve) && len(ve.Issues) > 0 {
			is := ve.Issues[0]
			return is.Code + ": " + is.Message, nil
		}
		return vigil.PublicMessage(err), nil
	}
	typ, _ := obj["resourceType"].(string)
	id, _ := obj["id"].(string)
	var res *records.Result
	if id == "" {
		res, err = svc.CreateObject(ctx, typ, obj, "")
	} else {
		res, err = svc.UpdateObject(ctx, typ, id, obj, "")
	}
	if err != nil {
		return "", err
	}
	got, err := svc.Read(ctx, typ, res.Resource.ID)
	if err != nil {
		return "", err
	}
	want := decodeNumber(ex.data)
	have := decodeNumber(got.JSON)
	stripServerMeta(want)
	stripServerMeta(have)
	if id == "" {
		delete(have, "id")
	}
	if !reflect.DeepEqual(want, have) {
		return "", errors.New("content read back differs from what was created")
	}
	return "", nil
}

func decodeNumber(data []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	_ = dec.Decode(&m)
	return m
}

// stripServerMeta removes what the server sets (meta.versionId,
// meta.lastUpdated) and an emptied meta.
func stripServerMeta(m map[string]any) {
	meta, _ := m["meta"].(map[string]any)
	if meta == nil {
		return
	}
	delete(meta, "versionId")
	delete(meta, "lastUpdated")
	if len(meta) == 0 {
		delete(m, "meta")
	}
}
