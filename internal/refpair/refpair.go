// Package refpair is the contract both resource stores keep for their
// idx_ref_token tables (sqlite/pairs.go, postgres/pairs.go): which
// reference and token parameters are paired, and which searches the pairs
// answer. The stores' migrations list the same parameters.
package refpair

import "github.com/vigilhealth/vigil"

// Ref reports whether reference parameter param is paired.
func Ref(param string) bool { return param == "subject" || param == "patient" }

// Token reports whether token parameter param is paired.
func Token(param string) bool { return param == "code" }

// typeName reports whether a modifier names a resource type (":Patient").
func typeName(mod string) bool { return mod != "" && mod[0] >= 'A' && mod[0] <= 'Z' }

// Pairable reports whether p can be answered from the pairs as their
// reference (ref) or token side: one value, no chain or _has, and a value
// the pairs hold (a reference by type and id, a token with a code).
func Pairable(p *vigil.SearchParam, ref bool) bool {
	if p.Chain != nil || p.Has != nil || len(p.Values) != 1 {
		return false
	}
	v := &p.Values[0]
	if ref {
		return p.Type == vigil.ParamReference && Ref(p.Name) && (p.Modifier == "" || typeName(p.Modifier)) &&
			v.URI == "" && v.RefID != "" && (v.RefType != "" || typeName(p.Modifier))
	}
	return p.Type == vigil.ParamToken && Token(p.Name) && p.Modifier == "" && v.Code != ""
}

// Find returns the positions of a reference and a token parameter of
// params that the pairs answer together, or ok false.
func Find(params []vigil.SearchParam) (ri, ti int, ok bool) {
	ri, ti = -1, -1
	for i := range params {
		switch {
		case ri < 0 && Pairable(&params[i], true):
			ri = i
		case ti < 0 && Pairable(&params[i], false):
			ti = i
		}
	}
	return ri, ti, ri >= 0 && ti >= 0
}

// RefType is the resource type a pairable reference value names: its own
// type, or the parameter's type modifier.
func RefType(p *vigil.SearchParam) string {
	if t := p.Values[0].RefType; t != "" {
		return t
	}
	return p.Modifier
}
