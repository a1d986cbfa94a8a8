package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/refpair"
)

// The idx_ref_token table (migration 0003) pairs a resource's reference
// entries of the parameters refpair.Ref accepts with its token entries of the
// parameters refpair.Token accepts, so that a search by both (a patient's
// Observations of one code) reads only the matching rows instead of
// probing the token table for every resource of the patient. The backfill
// in the migration lists the same parameters.

// pairRow is one idx_ref_token row of resource key.
type pairRow struct {
	key                                              int64
	refID, refType, refParam, tokParam, code, system string
}

// pairRows appends to out the idx_ref_token rows of a resource with index
// entries index: the cross product of its paired reference entries that
// name an id and its paired token entries that have a code (entries
// without them never match a search the pairs serve).
func pairRows(out []pairRow, key int64, index []vigil.IndexEntry) []pairRow {
	for i := range index {
		r := &index[i]
		if r.Type != vigil.ParamReference || r.RefID == "" || !refpair.Ref(r.Param) {
			continue
		}
		for j := range index {
			t := &index[j]
			if t.Type != vigil.ParamToken || t.Code == "" || !refpair.Token(t.Param) {
				continue
			}
			out = append(out, pairRow{key: key, refID: r.RefID, refType: r.RefType, refParam: r.Param,
				tokParam: t.Param, code: t.Code, system: t.System})
		}
	}
	return out
}

// deletePairs is the statement that removes the idx_ref_token rows of a
// resource (?1) before its index rows are cleared: it derives them from
// those rows, seeking each by its full primary key.
const deletePairs = `DELETE FROM idx_ref_token WHERE (ref_id, ref_type, ref_param, tok_param, code, system, key) IN (
SELECT r.ref_id, r.ref_type, r.param, t.param, t.code, t.system, r.key
FROM idx_ref r JOIN idx_token t ON t.key = r.key
WHERE r.key = ?1 AND r.param IN ('subject', 'patient') AND r.ref_id <> '' AND t.param = 'code' AND t.code <> '')`

// insertPairs inserts rows with multi-row INSERTs of at most maxRows
// rows (OR IGNORE for the reason flush gives; two identical codings give
// the same row twice, which the table holds once).
func (t *tx) insertPairs(ctx context.Context, rows []pairRow) error {
	const width = 7
	for len(rows) > 0 {
		n := maxRows
		for n > len(rows) {
			n /= 2
		}
		row := "(" + placeholders(width) + ")"
		q := "INSERT OR IGNORE INTO idx_ref_token (ref_id, ref_type, ref_param, tok_param, code, system, key) VALUES " +
			strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		args := make([]any, 0, n*width)
		for i := range rows[:n] {
			p := &rows[i]
			args = append(args, p.refID, p.refType, p.refParam, p.tokParam, p.code, p.system, p.key)
		}
		if err := t.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("sqlite: insert index pairs: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}

// clearPairs removes the idx_ref_token rows of resource key.
func (t *tx) clearPairs(ctx context.Context, key int64) error {
	if err := t.exec(ctx, deletePairs, key); err != nil {
		return fmt.Errorf("sqlite: clear index pairs: %w", err)
	}
	return nil
}

// exec runs q on the writer connection, prepared once and cached.
func (t *tx) exec(ctx context.Context, q string, args ...any) error {
	st, err := t.db.wcache.get(ctx, q)
	if err == nil && st != nil {
		_, err = st.ExecContext(ctx, args...)
	} else if err == nil {
		_, err = t.db.conn.ExecContext(ctx, q, args...)
	}
	return err
}

// pairCond is the condition on idx_ref_token row x that the reference
// parameter rp and the token parameter tp (both pairable) put together.
func pairCond(x string, rp, tp *vigil.SearchParam) frag {
	rv, tv := &rp.Values[0], &tp.Values[0]
	typ := refpair.RefType(rp)
	c := f(fmt.Sprintf("%[1]s.ref_id = ? AND %[1]s.ref_type = ? AND %[1]s.tok_param = ? AND %[1]s.code = ?", x),
		rv.RefID, typ, tp.Name, tv.Code)
	if !tv.AnySystem {
		c = join(" AND ", c, f(x+".system = ?", tv.System))
	}
	return join(" AND ", c, f(x+".ref_param = ?", rp.Name))
}
