package postgres

import (
	"github.com/vigilhealth/vigil"
)

// The idx_ref_token table (migration 0005) pairs a resource's reference
// entries of the parameters pairRef accepts with its token entries of the
// parameters pairToken accepts, as the SQLite store's does, so that a
// search by both (a patient's Observations of one code) reads one range of
// it. put.go's statements and the migration's backfill list the same
// parameters.

// pairRef reports whether reference parameter param is paired.
func pairRef(param string) bool { return param == "subject" || param == "patient" }

// pairToken reports whether token parameter param is paired.
func pairToken(param string) bool { return param == "code" }

// pairable reports whether p can be answered from idx_ref_token as its
// reference (ref) or token side: one value, no chain, and a value the
// table holds (a reference by type and id, a token with a code).
func pairable(p *vigil.SearchParam, ref bool) bool {
	if p.Chain != nil || p.Has != nil || len(p.Values) != 1 {
		return false
	}
	v := &p.Values[0]
	if ref {
		return p.Type == vigil.ParamReference && pairRef(p.Name) && (p.Modifier == "" || isTypeName(p.Modifier)) &&
			v.URI == "" && v.RefID != "" && (v.RefType != "" || isTypeName(p.Modifier))
	}
	return p.Type == vigil.ParamToken && pairToken(p.Name) && p.Modifier == "" && v.Code != ""
}

// findPair returns the positions of a reference and a token parameter of
// params that idx_ref_token answers together, or ok false.
func findPair(params []vigil.SearchParam) (ri, ti int, ok bool) {
	ri, ti = -1, -1
	for i := range params {
		switch {
		case ri < 0 && pairable(&params[i], true):
			ri = i
		case ti < 0 && pairable(&params[i], false):
			ti = i
		}
	}
	return ri, ti, ri >= 0 && ti >= 0
}

// pairCond is the condition on resource row a that the reference parameter
// rp and the token parameter tp (both pairable) put together, for
// resources of type rt (an SQL expression).
func (b *sqlBuilder) pairCond(a, rt string, rp, tp *vigil.SearchParam) string {
	rv, tv := &rp.Values[0], &tp.Values[0]
	typ := rv.RefType
	if typ == "" {
		typ = rp.Modifier
	}
	x := b.newAlias("p")
	c := x + ".ref_id = " + b.arg(clip(rv.RefID)) + " AND " + x + ".ref_type = " + b.arg(typ) +
		" AND " + x + ".rtype = " + rt + " AND " + x + ".tok_param = " + b.arg(tp.Name) +
		" AND " + x + ".code = " + b.arg(clip(tv.Code))
	if !tv.AnySystem {
		c += " AND " + x + ".system = " + b.arg(clip(tv.System))
	}
	c += " AND " + x + ".ref_param = " + b.arg(rp.Name)
	return a + ".key IN (SELECT " + x + ".key FROM idx_ref_token " + x + " WHERE " + c + ")"
}
