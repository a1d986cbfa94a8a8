package records

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/vigilhealth/vigil"
)

// PatchOp is one operation of a JSON Patch document (RFC 6902 §4).
type PatchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  *string         `json:"from,omitempty"` // required for move and copy
	Value json.RawMessage `json:"value,omitempty"`
}

// ParsePatch decodes a JSON Patch document.
func ParsePatch(data []byte) ([]PatchOp, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ops []PatchOp
	if err := dec.Decode(&ops); err != nil {
		return nil, vigil.Errorf(vigil.ErrInvalid, "malformed JSON Patch document")
	}
	if dec.More() {
		return nil, vigil.Errorf(vigil.ErrInvalid, "malformed JSON Patch document: trailing data")
	}
	for i, op := range ops {
		switch op.Op {
		case "add", "replace", "test":
			if op.Value == nil {
				return nil, vigil.Errorf(vigil.ErrInvalid, "patch operation %d (%s) has no value", i, op.Op)
			}
		case "move", "copy":
			if op.From == nil {
				return nil, vigil.Errorf(vigil.ErrInvalid, "patch operation %d (%s) has no from", i, op.Op)
			}
			if _, err := splitPointer(*op.From); err != nil {
				return nil, vigil.Errorf(vigil.ErrInvalid, "patch operation %d: bad from pointer", i)
			}
		case "remove":
		default:
			return nil, vigil.Errorf(vigil.ErrInvalid, "patch operation %d: unknown op %q", i, op.Op)
		}
		if _, err := splitPointer(op.Path); err != nil {
			return nil, vigil.Errorf(vigil.ErrInvalid, "patch operation %d: bad path pointer", i)
		}
	}
	return ops, nil
}

// splitPointer splits a JSON Pointer (RFC 6901) into unescaped tokens.
func splitPointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, vigil.Errorf(vigil.ErrInvalid, "JSON pointer must start with /")
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		if strings.Contains(s, "~") {
			for j := 0; j < len(s); j++ {
				if s[j] == '~' && (j+1 >= len(s) || (s[j+1] != '0' && s[j+1] != '1')) {
					return nil, vigil.Errorf(vigil.ErrInvalid, "bad ~ escape in JSON pointer")
				}
			}
			s = strings.ReplaceAll(s, "~1", "/")
			s = strings.ReplaceAll(s, "~0", "~")
		}
		parts[i] = s
	}
	return parts, nil
}

func patchErr(i int, format string, args ...any) error {
	e := vigil.Errorf(vigil.ErrUnprocessable, format, args...)
	e.Message = "patch operation " + strconv.Itoa(i) + ": " + e.Message
	return e
}

// ApplyPatch applies ops to doc and returns the result. doc is modified in
// place where possible; on error the caller must discard it. A failing
// "test" operation fails the whole patch (RFC 6902 §5).
func ApplyPatch(doc any, ops []PatchOp) (any, error) {
	for i, op := range ops {
		path, _ := splitPointer(op.Path)
		var err error
		switch op.Op {
		case "add":
			var v any
			if v, err = decodeValue(op.Value); err == nil {
				doc, err = addAt(doc, path, v)
			}
		case "remove":
			doc, _, err = removeAt(doc, path)
		case "replace":
			var v any
			if v, err = decodeValue(op.Value); err == nil {
				if doc, _, err = removeAt(doc, path); err == nil {
					doc, err = addAt(doc, path, v)
				}
			}
		case "move":
			from, _ := splitPointer(*op.From)
			if isPrefix(from, path) && len(from) < len(path) {
				return nil, patchErr(i, "cannot move a value into itself")
			}
			var v any
			if doc, v, err = removeAt(doc, from); err == nil {
				doc, err = addAt(doc, path, v)
			}
		case "copy":
			from, _ := splitPointer(*op.From)
			var v any
			if v, err = getAt(doc, from); err == nil {
				doc, err = addAt(doc, path, deepCopy(v))
			}
		case "test":
			var want, got any
			if want, err = decodeValue(op.Value); err == nil {
				if got, err = getAt(doc, path); err == nil && !jsonEqual(got, want) {
					return nil, patchErr(i, "test failed at %s", op.Path)
				}
			}
		}
		if err != nil {
			return nil, patchErr(i, "%s at %s: %v", op.Op, op.Path, vigil.PublicMessage(err))
		}
	}
	return doc, nil
}

func decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, vigil.Errorf(vigil.ErrInvalid, "malformed value")
	}
	return v, nil
}

func isPrefix(a, b []string) bool {
	if len(a) > len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func arrayIndex(tok string, n int, allowEnd bool) (int, error) {
	if tok == "-" && allowEnd {
		return n, nil
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, vigil.Errorf(vigil.ErrUnprocessable, "bad array index")
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 {
		return 0, vigil.Errorf(vigil.ErrUnprocessable, "bad array index")
	}
	max := n - 1
	if allowEnd {
		max = n
	}
	if i > max {
		return 0, vigil.Errorf(vigil.ErrUnprocessable, "array index out of range")
	}
	return i, nil
}

func getAt(doc any, path []string) (any, error) {
	cur := doc
	for _, tok := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, vigil.Errorf(vigil.ErrUnprocessable, "path not found")
			}
			cur = v
		case []any:
			i, err := arrayIndex(tok, len(c), false)
			if err != nil {
				return nil, err
			}
			cur = c[i]
		default:
			return nil, vigil.Errorf(vigil.ErrUnprocessable, "path not found")
		}
	}
	return cur, nil
}

// addAt implements "add": the parent must exist; arrays get an insertion.
func addAt(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := getAt(doc, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		p[last] = v
		return doc, nil
	case []any:
		i, err := arrayIndex(last, len(p), true)
		if err != nil {
			return nil, err
		}
		p = append(p, nil)
		copy(p[i+1:], p[i:])
		p[i] = v
		return setAt(doc, path[:len(path)-1], p)
	default:
		return nil, vigil.Errorf(vigil.ErrUnprocessable, "parent is not a container")
	}
}

// removeAt removes and returns the value at path.
func removeAt(doc any, path []string) (any, any, error) {
	if len(path) == 0 {
		return nil, doc, nil
	}
	parent, err := getAt(doc, path[:len(path)-1])
	if err != nil {
		return nil, nil, err
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		v, ok := p[last]
		if !ok {
			return nil, nil, vigil.Errorf(vigil.ErrUnprocessable, "path not found")
		}
		delete(p, last)
		return doc, v, nil
	case []any:
		i, err := arrayIndex(last, len(p), false)
		if err != nil {
			return nil, nil, err
		}
		v := p[i]
		np := append(p[:i:i], p[i+1:]...)
		doc, err = setAt(doc, path[:len(path)-1], np)
		return doc, v, err
	default:
		return nil, nil, vigil.Errorf(vigil.ErrUnprocessable, "parent is not a container")
	}
}

// setAt replaces the value at an existing path (used for slices, whose
// header changes on insert/remove).
func setAt(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := getAt(doc, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		p[last] = v
	case []any:
		i, err := arrayIndex(last, len(p), false)
		if err != nil {
			return nil, err
		}
		p[i] = v
	}
	return doc, nil
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = deepCopy(e)
		}
		return a
	default:
		return v
	}
}

// jsonEqual compares decoded JSON values; numbers compare by value.
func jsonEqual(a, b any) bool {
	if na, ok := a.(json.Number); ok {
		nb, ok := b.(json.Number)
		if !ok {
			return false
		}
		fa, err1 := na.Float64()
		fb, err2 := nb.Float64()
		return err1 == nil && err2 == nil && fa == fb
	}
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
