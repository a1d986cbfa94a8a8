package postgres

import (
	"unicode/utf8"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/refpair"
)

// The idx_ref_token table (migration 0005) pairs a resource's reference
// entries of the parameters refpair.Ref accepts with its token entries of
// the parameters refpair.Token accepts, as the SQLite store's does, so that
// a search by both (a patient's Observations of one code) reads one range
// of it. put.go's statements and the migration's backfill list the same
// parameters.

// pairClip is how many characters of ref_id, code and system the pairs
// keep (put.go and migration 0005 cut them with left()), so that their
// key fits a btree row whatever the values.
const pairClip = 200

// shortPair reports whether the values of rp and tp are all shorter than
// pairClip characters: only then do the pairs answer them exactly (a cut
// stored value is pairClip characters long and so equals no shorter one).
func shortPair(rp, tp *vigil.SearchParam) bool {
	short := func(s string) bool { return utf8.RuneCountInString(s) < pairClip }
	rv, tv := &rp.Values[0], &tp.Values[0]
	return short(rv.RefID) && short(tv.Code) && (tv.AnySystem || short(tv.System))
}

// pairCond is the condition on resource row a that the reference parameter
// rp and the token parameter tp (both pairable) put together, for
// resources of type rt (an SQL expression).
func (b *sqlBuilder) pairCond(a, rt string, rp, tp *vigil.SearchParam) string {
	rv, tv := &rp.Values[0], &tp.Values[0]
	typ := refpair.RefType(rp)
	x := b.newAlias("p")
	c := x + ".ref_id = " + b.arg(rv.RefID) + " AND " + x + ".ref_type = " + b.arg(typ) +
		" AND " + x + ".rtype = " + rt + " AND " + x + ".tok_param = " + b.arg(tp.Name) +
		" AND " + x + ".code = " + b.arg(tv.Code)
	if !tv.AnySystem {
		c += " AND " + x + ".system = " + b.arg(tv.System)
	}
	c += " AND " + x + ".ref_param = " + b.arg(rp.Name)
	return a + ".key IN (SELECT " + x + ".key FROM idx_ref_token " + x + " WHERE " + c + ")"
}
