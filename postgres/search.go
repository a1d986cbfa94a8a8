package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/vigilhealth/vigil"
)

// sortKind is the SQL type of a sort column, which fixes how its value is
// scanned and carried in a cursor.
type sortKind uint8

const (
	sortText sortKind = iota + 1
	sortFloat
	sortTime
)

// sortCol is one ORDER BY key.
type sortCol struct {
	expr string
	kind sortKind
	desc bool
}

// searchCursor is the decoded form of SearchResult.Next: the last row's
// sort values and key, and the hash of the query.
type searchCursor struct {
	Hash string            `json:"h"`
	Key  int64             `json:"k"`
	Vals []json.RawMessage `json:"v,omitempty"`
}

// hit is a resource found by a search with its creation key.
type hit struct {
	key int64
	res vigil.Resource
}

// queryHash ties a cursor to the query: everything but the paging fields.
func queryHash(q *vigil.SearchQuery) string {
	return hashOf(struct {
		Type        string
		Types       []string
		Params      []vigil.SearchParam
		Compartment *vigil.Compartment
		Restrict    *vigil.Compartment
		Visible     *vigil.Compartment
		Sort        []vigil.SortKey
		Include     []vigil.Include
		RevInclude  []vigil.Include
	}{q.Type, q.Types, q.Params, q.Compartment, q.Restrict, q.Visible, q.Sort, q.Include, q.RevInclude})
}

// page is a search compiled to SQL.
type page struct {
	countSQL  string // the total, with countArgs
	countArgs []any
	sql       string // one page of matches, with args
	args      []any
	cols      []sortCol
	hash      string
	count     int
}

// compile turns q into SQL: one parameterised statement for the page and
// one for the total.
func compile(q *vigil.SearchQuery) (*page, error) {
	b := sqlBuilder{restrict: cmp.Or(q.Visible, q.Restrict)}
	where, err := b.where(q)
	if err != nil {
		return nil, err
	}
	pg := &page{countSQL: "SELECT count(*) FROM resources r WHERE " + where, countArgs: b.args[:len(b.args):len(b.args)]}
	pg.cols, err = b.sortCols(q.Sort)
	if err != nil {
		return nil, err
	}
	pg.hash = queryHash(q)
	keyset := "TRUE"
	if q.Cursor != "" {
		var c searchCursor
		if err := decodeCursor(q.Cursor, &c); err != nil || c.Hash != pg.hash || len(c.Vals) != len(pg.cols) {
			return nil, vigil.Errorf(vigil.ErrInvalid, "invalid or stale search cursor")
		}
		keyset, err = b.keyset(pg.cols, c)
		if err != nil {
			return nil, vigil.Errorf(vigil.ErrInvalid, "invalid or stale search cursor")
		}
	}
	pg.count = pageSize(q.Count)
	var sel, order, out strings.Builder
	for k, c := range pg.cols {
		fmt.Fprintf(&sel, ", %s AS s%d", c.expr, k)
		dir := "ASC"
		if c.desc {
			dir = "DESC"
		}
		fmt.Fprintf(&order, "q.s%d %s NULLS LAST, ", k, dir)
		fmt.Fprintf(&out, ", q.s%d", k)
	}
	order.WriteString("q.key")
	// The inner query needs only the key (and sort values), so PostgreSQL
	// can filter on the indexes alone; the row and its JSON are fetched
	// for the page only.
	pg.sql = "SELECT r.key, r.type, r.id, r.version, r.last_updated, v.method, v.json" + out.String() +
		" FROM (SELECT q.* FROM (SELECT r.key" + sel.String() +
		" FROM resources r WHERE " + where + ") q WHERE " + keyset +
		" ORDER BY " + order.String() + " LIMIT " + b.arg(pg.count+1) + ") q" +
		" JOIN resources r ON r.key = q.key JOIN versions v ON v.key = r.key AND v.version = r.version ORDER BY " + order.String()
	pg.args = b.args
	return pg, nil
}

// search runs q as one SQL statement for the page, one for the total when
// asked, and one per include directive and round.
func search(ctx context.Context, db querier, q *vigil.SearchQuery) (*vigil.SearchResult, error) {
	pg, err := compile(q)
	if err != nil {
		return nil, err
	}
	res := &vigil.SearchResult{Total: -1}
	if q.Total || q.SummaryCount {
		if err := db.QueryRow(ctx, pg.countSQL, adHoc(pg.countArgs)...).Scan(&res.Total); err != nil {
			return nil, fmt.Errorf("postgres: count: %w", err)
		}
	}
	if q.SummaryCount {
		return res, nil
	}
	cols, count, hash := pg.cols, pg.count, pg.hash
	rows, err := db.Query(ctx, pg.sql, adHoc(pg.args)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: search: %w", err)
	}
	defer rows.Close()
	var hits []hit
	var last searchCursor
	vals := make([]any, len(cols))
	for k, c := range cols {
		switch c.kind {
		case sortText:
			vals[k] = new(pgtype.Text)
		case sortFloat:
			vals[k] = new(pgtype.Float8)
		case sortTime:
			vals[k] = new(pgtype.Timestamptz)
		}
	}
	for rows.Next() {
		var h hit
		dest := append([]any{&h.key, &h.res.Type, &h.res.ID, &h.res.Version, &h.res.LastUpdated, &h.res.Method, &h.res.JSON}, vals...)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("postgres: search: %w", err)
		}
		if len(hits) == count {
			res.Next = encodeCursor(last)
			break
		}
		h.res.LastUpdated = h.res.LastUpdated.UTC()
		hits = append(hits, h)
		last = searchCursor{Hash: hash, Key: h.key, Vals: cursorVals(vals)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: search: %w", err)
	}
	rows.Close()
	res.Matches = make([]vigil.Resource, len(hits))
	for k := range hits {
		res.Matches[k] = hits[k].res
	}
	if len(q.Include) > 0 || len(q.RevInclude) > 0 {
		res.Included, res.IncludedCut, err = includes(ctx, db, q, hits)
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// sortCols returns the ORDER BY expressions of the sort keys. A parameter
// sorts by the smallest of its values ascending, the largest descending.
func (b *sqlBuilder) sortCols(keys []vigil.SortKey) ([]sortCol, error) {
	cols := make([]sortCol, 0, len(keys))
	for _, k := range keys {
		c := sortCol{desc: k.Desc}
		agg := "min"
		if k.Desc {
			agg = "max"
		}
		var col string
		switch k.Param {
		case "_id":
			c.expr, c.kind = "r.id", sortText
		case "_lastUpdated":
			c.expr, c.kind = "r.last_updated", sortTime
		default:
			switch k.Type {
			case vigil.ParamString:
				col, c.kind = "x.text", sortText
			case vigil.ParamToken:
				col, c.kind = "x.code", sortText
			case vigil.ParamReference:
				col, c.kind = "CASE WHEN x.uri <> '' THEN x.uri ELSE x.ref_type || '/' || x.ref_id END", sortText
			case vigil.ParamURI:
				col, c.kind = "x.uri", sortText
			case vigil.ParamDate:
				col, c.kind = "x.start_t", sortTime
			case vigil.ParamNumber, vigil.ParamQuantity:
				col, c.kind = "x.value", sortFloat
			default:
				return nil, vigil.Errorf(vigil.ErrUnsupported, "sorting by %s parameters is not supported", k.Type)
			}
			c.expr = "(SELECT " + agg + "(" + col + ") FROM " + tableOf(k.Type) + " x WHERE x.key = r.key AND x.param = " + b.arg(k.Param) + ")"
		}
		cols = append(cols, c)
	}
	return cols, nil
}

// cursorVals encodes the scanned sort values of a row for a cursor.
func cursorVals(vals []any) []json.RawMessage {
	out := make([]json.RawMessage, len(vals))
	for k, v := range vals {
		var x any
		switch v := v.(type) {
		case *pgtype.Text:
			if v.Valid {
				x = v.String
			}
		case *pgtype.Float8:
			if v.Valid {
				x = v.Float64
			}
		case *pgtype.Timestamptz:
			if v.Valid {
				switch v.InfinityModifier {
				case pgtype.Infinity:
					x = "infinity"
				case pgtype.NegativeInfinity:
					x = "-infinity"
				default:
					x = v.Time.UTC().Format(time.RFC3339Nano)
				}
			}
		}
		out[k], _ = json.Marshal(x) // strings, finite floats or null
	}
	return out
}

// keyset returns the condition "the row comes after the cursor" for the
// sort columns (each NULLS LAST) followed by the key.
func (b *sqlBuilder) keyset(cols []sortCol, c searchCursor) (string, error) {
	cond := "q.key > " + b.arg(c.Key)
	for k := len(cols) - 1; k >= 0; k-- {
		col := "q.s" + strconv.Itoa(k)
		if string(c.Vals[k]) == "null" {
			cond = "(" + col + " IS NULL AND " + cond + ")"
			continue
		}
		v, err := decodeSortVal(cols[k].kind, c.Vals[k])
		if err != nil {
			return "", err
		}
		op := ">"
		if cols[k].desc {
			op = "<"
		}
		va := b.arg(v)
		cond = "(" + col + " " + op + " " + va + " OR " + col + " IS NULL OR (" + col + " = " + va + " AND " + cond + "))"
	}
	return cond, nil
}

func decodeSortVal(kind sortKind, raw json.RawMessage) (any, error) {
	switch kind {
	case sortText:
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case sortFloat:
		var f float64
		err := json.Unmarshal(raw, &f)
		return f, err
	case sortTime:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		switch s {
		case "infinity":
			return pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}, nil
		case "-infinity":
			return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return pgtype.Timestamptz{Time: t, Valid: true}, err
	}
	return nil, fmt.Errorf("unknown sort kind %d", kind)
}
