package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/vigilhealth/vigil"
)

// The write of one version is a single statement: the resource row (insert
// for version 1, update guarded by the previous version otherwise), the
// version row, and the index entries of every table, passed as arrays and
// expanded with unnest. One round trip per Put; an update replaces the
// index entries of the previous version (the DELETEs see the statement's
// snapshot, so they do not remove the rows inserted beside them). The
// idx_ref_token rows (migration 0005, pairs.go) are derived in the same
// statement: inserted from the reference and token arrays, and the pairs
// of the previous version's index rows that the new arrays do not hold
// deleted. (The data-modifying parts run in no set order on one snapshot:
// a delete of a pair the insert finds still there and skips would lose
// it, so a pair kept by an update or reindex is never deleted.) Pair
// texts are cut to pairClip characters (pairs.go).

const putCreateHead = `WITH r AS (
	INSERT INTO resources (type, id, version, last_updated, deleted)
	VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (type, id) DO NOTHING
	RETURNING key
),`

const putUpdateHead = `WITH r AS (
	UPDATE resources SET version = $3, last_updated = $4, deleted = $5
	WHERE type = $1 AND id = $2 AND version = $3 - 1
	RETURNING key
),` + clearIndex

// reindexHead selects the current, live version $3 of $1/$2 for Reindex;
// $4 to $7 (the version row's values in a Put) are unused but typed.
const reindexHead = `WITH r AS (
	SELECT key FROM resources
	WHERE type = $1 AND id = $2 AND version = $3 AND NOT deleted
	AND $4::timestamptz IS NOT NULL AND $5::boolean IS NOT NULL AND $6::text IS NOT NULL AND $7::bytea IS NOT NULL
	FOR UPDATE
),` + clearIndex

// clearIndex deletes the index entries of the resource r selects.
const clearIndex = `
d1 AS (DELETE FROM idx_string WHERE key = (SELECT key FROM r)),
d2 AS (DELETE FROM idx_token WHERE key = (SELECT key FROM r)),
d3 AS (DELETE FROM idx_ref WHERE key = (SELECT key FROM r)),
d4 AS (DELETE FROM idx_date WHERE key = (SELECT key FROM r)),
d5 AS (DELETE FROM idx_number WHERE key = (SELECT key FROM r)),
d6 AS (DELETE FROM idx_quantity WHERE key = (SELECT key FROM r)),
d7 AS (DELETE FROM idx_uri WHERE key = (SELECT key FROM r)),
d8 AS (DELETE FROM idx_ref_token p USING idx_ref rf, idx_token tk
	WHERE rf.key = (SELECT key FROM r) AND tk.key = rf.key
	AND rf.param IN ('subject', 'patient') AND rf.ref_id <> '' AND tk.param = 'code' AND tk.code <> ''
	AND p.ref_id = left(rf.ref_id, 200) AND p.ref_type = rf.ref_type AND p.rtype = rf.rtype AND p.tok_param = tk.param
	AND p.code = left(tk.code, 200) AND p.system = left(tk.system, 200) AND p.key = rf.key AND p.ref_param = rf.param
	AND NOT EXISTS (SELECT 1 FROM unnest($19::text[], $22::text[], $23::text[]) n (param, ref_type, ref_id),
		unnest($13::text[], $16::text[], $17::text[]) m (param, system, code)
		WHERE n.param = p.ref_param AND n.ref_type = p.ref_type AND left(n.ref_id, 200) = p.ref_id
		AND m.param = p.tok_param AND left(m.system, 200) = p.system AND left(m.code, 200) = p.code)),`

const putTail = `
v AS (
	INSERT INTO versions (key, type, id, version, last_updated, deleted, method, json)
	SELECT key, $1, $2, $3, $4, $5, $6, $7 FROM r
),` + putIndex

// putIndex inserts the index entries ($8 on) of the resource r returns.
const putIndex = `
i1 AS (
	INSERT INTO idx_string (key, rtype, param, grp, part, text, exact)
	SELECT r.key, $1, u.* FROM r, unnest($8::text[], $9::int[], $10::int[], $11::text[], $12::text[]) u
),
i2 AS (
	INSERT INTO idx_token (key, rtype, param, grp, part, system, code, text)
	SELECT r.key, $1, u.* FROM r, unnest($13::text[], $14::int[], $15::int[], $16::text[], $17::text[], $18::text[]) u
),
i3 AS (
	INSERT INTO idx_ref (key, rtype, param, grp, part, ref_type, ref_id, ref_version, uri)
	SELECT r.key, $1, u.* FROM r, unnest($19::text[], $20::int[], $21::int[], $22::text[], $23::text[], $24::text[], $25::text[]) u
),
i4 AS (
	INSERT INTO idx_date (key, rtype, param, grp, part, start_t, end_t)
	SELECT r.key, $1, u.* FROM r, unnest($26::text[], $27::int[], $28::int[], $29::timestamptz[], $30::timestamptz[]) u
),
i5 AS (
	INSERT INTO idx_number (key, rtype, param, grp, part, value, low, high)
	SELECT r.key, $1, u.* FROM r, unnest($31::text[], $32::int[], $33::int[], $34::float8[], $35::float8[], $36::float8[]) u
),
i6 AS (
	INSERT INTO idx_quantity (key, rtype, param, grp, part, value, low, high, system, code, canon_code, canon_value, canon_low, canon_high)
	SELECT r.key, $1, u.* FROM r, unnest($37::text[], $38::int[], $39::int[], $40::float8[], $41::float8[], $42::float8[],
		$43::text[], $44::text[], $45::text[], $46::float8[], $47::float8[], $48::float8[]) u
),
i7 AS (
	INSERT INTO idx_uri (key, rtype, param, grp, part, uri)
	SELECT r.key, $1, u.* FROM r, unnest($49::text[], $50::int[], $51::int[], $52::text[]) u
),
i8 AS (
	INSERT INTO idx_ref_token (ref_id, ref_type, rtype, tok_param, code, system, key, ref_param)
	SELECT DISTINCT left(rf.ref_id, 200), rf.ref_type, $1, tk.param, left(tk.code, 200), left(tk.system, 200), r.key, rf.param
	FROM r, unnest($19::text[], $22::text[], $23::text[]) rf (param, ref_type, ref_id),
		unnest($13::text[], $16::text[], $17::text[]) tk (param, system, code)
	WHERE rf.param IN ('subject', 'patient') AND rf.ref_id <> '' AND tk.param = 'code' AND tk.code <> ''
	ON CONFLICT DO NOTHING
)
SELECT key FROM r`

const (
	putCreateSQL = putCreateHead + putTail
	putUpdateSQL = putUpdateHead + putTail
	reindexSQL   = reindexHead + putIndex
)

// columns collects the index entries of one Put column by column.
type columns struct {
	str                                      common
	strText, strExact                        []string
	tok                                      common
	tokSystem, tokCode, tokText              []string
	ref                                      common
	refType, refID, refVersion, refURI       []string
	date                                     common
	dateStart, dateEnd                       []pgtype.Timestamptz
	num                                      common
	numValue, numLow, numHigh                []float64
	qty                                      common
	qtyValue, qtyLow, qtyHigh                []float64
	qtySystem, qtyCode, qtyCanon             []string
	qtyCanonValue, qtyCanonLow, qtyCanonHigh []float64
	uri                                      common
	uriURI                                   []string
}

// common holds the columns every index table has.
type common struct {
	param []string
	grp   []int32
	part  []int32
}

func (c *common) add(e *vigil.IndexEntry) {
	c.param = append(c.param, e.Param)
	c.grp = append(c.grp, int32(e.Group))
	c.part = append(c.part, int32(e.Part))
}

func (c *columns) add(e *vigil.IndexEntry) error {
	switch e.Type {
	case vigil.ParamString:
		c.str.add(e)
		c.strText = append(c.strText, clip(e.Text))
		c.strExact = append(c.strExact, e.Exact)
	case vigil.ParamToken:
		c.tok.add(e)
		c.tokSystem = append(c.tokSystem, clip(e.System))
		c.tokCode = append(c.tokCode, clip(e.Code))
		c.tokText = append(c.tokText, e.Text)
	case vigil.ParamReference:
		c.ref.add(e)
		c.refType = append(c.refType, clip(e.RefType))
		c.refID = append(c.refID, clip(e.RefID))
		c.refVersion = append(c.refVersion, e.RefVersion)
		c.refURI = append(c.refURI, clip(e.URI))
	case vigil.ParamDate:
		c.date.add(e)
		c.dateStart = append(c.dateStart, lowerBound(e.Start))
		c.dateEnd = append(c.dateEnd, upperBound(e.End))
	case vigil.ParamNumber:
		c.num.add(e)
		c.numValue = append(c.numValue, e.Value)
		c.numLow = append(c.numLow, e.Low)
		c.numHigh = append(c.numHigh, e.High)
	case vigil.ParamQuantity:
		c.qty.add(e)
		c.qtyValue = append(c.qtyValue, e.Value)
		c.qtyLow = append(c.qtyLow, e.Low)
		c.qtyHigh = append(c.qtyHigh, e.High)
		c.qtySystem = append(c.qtySystem, clip(e.System))
		c.qtyCode = append(c.qtyCode, clip(e.Code))
		c.qtyCanon = append(c.qtyCanon, clip(e.CanonCode))
		c.qtyCanonValue = append(c.qtyCanonValue, e.CanonValue)
		c.qtyCanonLow = append(c.qtyCanonLow, e.CanonLow)
		c.qtyCanonHigh = append(c.qtyCanonHigh, e.CanonHigh)
	case vigil.ParamURI:
		c.uri.add(e)
		c.uriURI = append(c.uriURI, clip(e.URI))
	default:
		return vigil.Errorf(vigil.ErrInvalid, "index entry %q has unsupported type %q", e.Param, e.Type)
	}
	return nil
}

// maxIndexText is the longest text kept in an indexed column, in bytes.
// A btree entry must fit in a third of a page (about 2,700 bytes), so
// longer values are cut (at a rune boundary), and search values with them.
// Two values that differ only after this many bytes then match each other.
const maxIndexText = 1000

// clip cuts s to maxIndexText bytes.
func clip(s string) string {
	if len(s) <= maxIndexText {
		return s
	}
	n := maxIndexText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// lowerBound maps a range start to a timestamptz; zero means −infinity.
func lowerBound(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// upperBound maps a range end to a timestamptz; zero means +infinity.
func upperBound(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

func put(ctx context.Context, q querier, r *vigil.Resource, index []vigil.IndexEntry) error {
	sql, args, err := putStatement(r, index)
	if err != nil {
		return err
	}
	var key int64
	return putResult(r, q.QueryRow(ctx, sql, args...).Scan(&key))
}

// putStatement checks r and returns the statement that writes it.
func putStatement(r *vigil.Resource, index []vigil.IndexEntry) (string, []any, error) {
	if r.Type == "" || r.ID == "" {
		return "", nil, vigil.Errorf(vigil.ErrInvalid, "a resource needs a type and an id")
	}
	if r.Version < 1 {
		return "", nil, vigil.Errorf(vigil.ErrConflict, "version %d of %s/%s is not the next version", r.Version, r.Type, r.ID)
	}
	var c columns
	json := r.JSON
	if r.Deleted {
		json, index = nil, nil
	}
	for i := range index {
		if err := c.add(&index[i]); err != nil {
			return "", nil, err
		}
	}
	sql := putUpdateSQL
	if r.Version == 1 {
		sql = putCreateSQL
	}
	return sql, c.args(r, json), nil
}

// putResult maps the outcome of r's statement (the Scan of its key).
func putResult(r *vigil.Resource, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return vigil.Errorf(vigil.ErrConflict, "version %d of %s/%s is not the next version", r.Version, r.Type, r.ID)
	}
	if err != nil {
		return fmt.Errorf("postgres: put %s: %w", r.Type, err)
	}
	return nil
}

// putBatch writes rs in one round trip; see vigil.BatchPutter.
func putBatch(ctx context.Context, q querier, rs []*vigil.Resource, index [][]vigil.IndexEntry) error {
	b := &pgx.Batch{}
	for i, r := range rs {
		sql, args, err := putStatement(r, index[i])
		if err != nil {
			return err
		}
		b.Queue(sql, args...)
	}
	br := q.SendBatch(ctx, b)
	for _, r := range rs {
		var key int64
		if err := putResult(r, br.QueryRow().Scan(&key)); err != nil {
			br.Close()
			return err
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("postgres: put batch: %w", err)
	}
	return nil
}

// reindex replaces the index entries of the current version of typ/id.
func reindex(ctx context.Context, q querier, typ, id string, version int64, index []vigil.IndexEntry) error {
	var c columns
	for i := range index {
		if err := c.add(&index[i]); err != nil {
			return err
		}
	}
	r := &vigil.Resource{Type: typ, ID: id, Version: version, LastUpdated: time.Unix(0, 0)}
	var key int64
	err := q.QueryRow(ctx, reindexSQL, c.args(r, []byte("{}"))...).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		var n int
		if err := q.QueryRow(ctx, "SELECT count(*) FROM resources WHERE type = $1 AND id = $2", typ, id).Scan(&n); err == nil && n == 0 {
			return vigil.Errorf(vigil.ErrNotFound, "%s/%s not found", typ, id)
		}
		return vigil.Errorf(vigil.ErrConflict, "%s/%s: version %d is not the current one", typ, id, version)
	}
	if err != nil {
		return fmt.Errorf("postgres: reindex %s: %w", typ, err)
	}
	return nil
}

// args returns the parameters of putCreateSQL, putUpdateSQL and reindexSQL.
func (c *columns) args(r *vigil.Resource, json []byte) []any {
	return []any{
		r.Type, r.ID, r.Version, r.LastUpdated, r.Deleted, r.Method, json,
		nz(c.str.param), nz(c.str.grp), nz(c.str.part), nz(c.strText), nz(c.strExact),
		nz(c.tok.param), nz(c.tok.grp), nz(c.tok.part), nz(c.tokSystem), nz(c.tokCode), nz(c.tokText),
		nz(c.ref.param), nz(c.ref.grp), nz(c.ref.part), nz(c.refType), nz(c.refID), nz(c.refVersion), nz(c.refURI),
		nz(c.date.param), nz(c.date.grp), nz(c.date.part), nz(c.dateStart), nz(c.dateEnd),
		nz(c.num.param), nz(c.num.grp), nz(c.num.part), nz(c.numValue), nz(c.numLow), nz(c.numHigh),
		nz(c.qty.param), nz(c.qty.grp), nz(c.qty.part), nz(c.qtyValue), nz(c.qtyLow), nz(c.qtyHigh),
		nz(c.qtySystem), nz(c.qtyCode), nz(c.qtyCanon), nz(c.qtyCanonValue), nz(c.qtyCanonLow), nz(c.qtyCanonHigh),
		nz(c.uri.param), nz(c.uri.grp), nz(c.uri.part), nz(c.uriURI),
	}
}

// nz turns a nil slice into an empty one, so that it is sent as an empty
// array rather than NULL.
func nz[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
