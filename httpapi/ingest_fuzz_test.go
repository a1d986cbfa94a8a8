package httpapi

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeReadings checks the ingest body decoder: it never panics, it
// answers one item per reading, and its one-pass path for well-formed
// arrays gives exactly what decoding the items one by one gives.
func FuzzDecodeReadings(f *testing.F) {
	for _, s := range []string{
		`[{"device":"d1","code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"}]`,
		`[{"device":"d1","code":"85354-9","time":"2026-11-25T10:00:00Z","components":[{"code":"8480-6","value":120,"unit":"mm[Hg]"}]}]`,
		`[{"device":"d1","code":"131330","start":"2026-11-25T10:00:00Z","rate_hz":250,"gain":0.005,"unit":"mV","samples":[1,2,3]}]`,
		`{"code":"8867-4","value":72}`,
		`[{"code":"8867-4","bogus":1},{"code":"8867-4"}]`,
		`[{"value":"x"},null,1]`,
		`[] []`,
		`[`,
	} {
		f.Add(s, true)
	}
	f.Add("{\"code\":\"8867-4\"}\n{\"code\":1}\n", false)
	f.Fuzz(func(t *testing.T, body string, asJSON bool) {
		ct := "application/json"
		if !asJSON {
			ct = "application/x-ndjson"
		}
		items, bad, err := decodeReadings(ct, []byte(body))
		if err != nil {
			return
		}
		if len(items) != len(bad) {
			t.Fatalf("%d items but %d answers", len(items), len(bad))
		}
		fast, ok := decodeArray([]byte(body))
		if !asJSON || !ok {
			return
		}
		var raws []json.RawMessage
		if err := json.Unmarshal([]byte(body), &raws); err != nil {
			t.Fatalf("the one-pass decoder took a body that is not an array: %v", err)
		}
		if len(raws) != len(fast) {
			t.Fatalf("one-pass %d items, the array holds %d", len(fast), len(raws))
		}
		for i, raw := range raws {
			one, why := decodeItem(raw)
			if why != "" {
				t.Fatalf("item %d alone: %s, but the one-pass decoder took it", i, why)
			}
			if !reflect.DeepEqual(one, fast[i]) {
				t.Fatalf("item %d: one-pass %+v, alone %+v", i, fast[i], one)
			}
		}
	})
}
