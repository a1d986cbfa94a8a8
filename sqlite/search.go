package sqlite

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/vigilhealth/vigil"
)

// searchCursor continues a search after the row with sort values Values
// and creation key Key. Hash identifies the query it belongs to.
type searchCursor struct {
	Values []sortValue `json:"v,omitempty"`
	Key    int64       `json:"k"`
	Hash   string      `json:"h"`
}

// sortValue is one sort value of a cursor row; all nil means SQL NULL.
type sortValue struct {
	S *string  `json:"s,omitempty"`
	I *int64   `json:"i,omitempty"`
	F *float64 `json:"f,omitempty"`
}

func (v sortValue) arg() any {
	switch {
	case v.S != nil:
		return *v.S
	case v.I != nil:
		return *v.I
	case v.F != nil:
		return *v.F
	}
	return nil
}

func toSortValue(x any) sortValue {
	switch x := x.(type) {
	case string:
		return sortValue{S: &x}
	case []byte:
		s := string(x)
		return sortValue{S: &s}
	case int64:
		return sortValue{I: &x}
	case float64:
		return sortValue{F: &x}
	}
	return sortValue{}
}

// sortExpr returns the SQL expression of one sort key over resource alias
// a: the smallest value of the parameter's entries ascending, the largest
// descending, NULL when the resource has none.
func sortExpr(a string, k vigil.SortKey) (frag, error) {
	switch k.Param {
	case "_id":
		return f(a + ".id"), nil
	case "_lastUpdated":
		return f(a + ".last_updated"), nil
	}
	agg := "MIN"
	if k.Desc {
		agg = "MAX"
	}
	var table, col, extra string
	switch k.Type {
	case vigil.ParamString:
		table, col = "idx_string", "x.text"
	case vigil.ParamToken:
		table, col, extra = "idx_token", "x.code", " AND x.code <> ''"
	case vigil.ParamDate:
		table, col = "idx_date", "x.dstart"
	case vigil.ParamNumber:
		table, col = "idx_number", "x.value"
	case vigil.ParamQuantity:
		table, col = "idx_quantity", "x.value"
	case vigil.ParamURI:
		table, col = "idx_uri", "x.uri"
	case vigil.ParamReference:
		table, col = "idx_ref", "CASE WHEN x.uri <> '' THEN x.uri ELSE x.ref_type || '/' || x.ref_id END"
	default:
		return frag{}, invalid("cannot sort by %s", k.Param)
	}
	// The unary + keeps SQLite's min/max optimisation from walking the
	// param's whole value index instead of probing the resource's rows.
	return f(fmt.Sprintf("(SELECT %s(+%s) FROM %s x WHERE x.key = %s.key AND x.param = ?%s)", agg, col, table, a, extra), k.Param), nil
}

// keyset returns the condition selecting the rows after cursor c in the
// order of sort (NULLs last, ties by key ascending).
func keyset(cols []string, sort []vigil.SortKey, c *searchCursor) frag {
	var alts []frag
	var eqs []frag
	for i, col := range cols {
		v := c.Values[i].arg()
		if v != nil {
			op := ">"
			if sort[i].Desc {
				op = "<"
			}
			after := f("("+col+" IS NULL OR "+col+" "+op+" ?)", v)
			alts = append(alts, join(" AND ", append(append([]frag{}, eqs...), after)...))
			eqs = append(eqs, f(col+" = ?", v))
		} else {
			eqs = append(eqs, f(col+" IS NULL"))
		}
	}
	alts = append(alts, join(" AND ", append(append([]frag{}, eqs...), f("key > ?", c.Key))...))
	for i := range alts {
		alts[i].sql = "(" + alts[i].sql + ")"
	}
	return paren(" OR ", "0", alts...)
}

func search(ctx context.Context, q querier, sq *vigil.SearchQuery) (*vigil.SearchResult, error) {
	hash, err := queryHash(struct {
		Type        string
		Types       []string
		Params      []vigil.SearchParam
		Compartment *vigil.Compartment
		Restrict    *vigil.Compartment
		Visible     *vigil.Compartment
		Sort        []vigil.SortKey
	}{sq.Type, sq.Types, sq.Params, sq.Compartment, sq.Restrict, sq.Visible, sq.Sort})
	if err != nil {
		return nil, err
	}
	var cur *searchCursor
	if sq.Cursor != "" {
		cur = new(searchCursor)
		if err := decodeCursor(sq.Cursor, cur); err != nil || cur.Hash != hash || len(cur.Values) != len(sq.Sort) {
			return nil, invalid("the paging cursor does not belong to this search")
		}
	}
	b := builder{restrict: cmp.Or(sq.Visible, sq.Restrict)}
	conds := []frag{f("r.deleted = 0")}
	if sq.Type != "" {
		conds = append(conds, f("r.type = ?", sq.Type))
	} else if len(sq.Types) > 0 {
		in := f("r.type IN (" + placeholders(len(sq.Types)) + ")")
		for _, t := range sq.Types {
			in.args = append(in.args, t)
		}
		conds = append(conds, in)
	}
	fl, err := b.filters("r", sq.Type, sq.Params, sq.Compartment)
	if err != nil {
		return nil, err
	}
	conds = append(conds, fl)
	if sq.Restrict != nil {
		rc, err := b.compartment("r", sq.Type, sq.Restrict)
		if err != nil {
			return nil, err
		}
		conds = append(conds, rc)
	}
	where := join(" AND ", conds...)
	res := &vigil.SearchResult{Total: -1}
	if sq.Total || sq.SummaryCount {
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM resources r WHERE "+where.sql, where.args...).Scan(&res.Total); err != nil {
			return nil, fmt.Errorf("sqlite: count: %w", err)
		}
	}
	if sq.SummaryCount {
		return res, nil
	}
	n := pageSize(sq.Count)
	page, err := b.page(sq, where, cur, n)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, page.sql, page.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	var keys []int64
	var last *searchCursor
	for rows.Next() {
		if len(keys) == n {
			res.Next, err = encodeCursor(last)
			if err != nil {
				rows.Close()
				return nil, err
			}
			break
		}
		vals := make([]any, len(sq.Sort))
		var key int64
		extra := []any{&key}
		for i := range vals {
			extra = append(extra, &vals[i])
		}
		r, err := scanResource(rows, extra...)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: search: %w", err)
		}
		res.Matches = append(res.Matches, *r)
		keys = append(keys, key)
		last = &searchCursor{Key: key, Hash: hash}
		for _, v := range vals {
			last.Values = append(last.Values, toSortValue(v))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	if len(sq.Include) > 0 || len(sq.RevInclude) > 0 {
		if res.Included, res.IncludedCut, err = includes(ctx, q, sq, keys); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// page builds the query of one page: the resource columns, then the
// creation key and sort values, in order. The inner query picks the page's
// keys (n+1, to know whether there is a next page) from the indexes; the
// outer one joins the JSON of just those rows.
func (b *builder) page(sq *vigil.SearchQuery, where frag, cur *searchCursor, n int) (frag, error) {
	outer := "SELECT " + resourceCols + ", p.key"
	if len(sq.Sort) == 0 {
		q := where
		if cur != nil {
			q = join(" AND ", q, f("r.key > ?", cur.Key))
		}
		q.sql = outer + " FROM (SELECT r.key AS key FROM resources r WHERE " + q.sql + " ORDER BY r.key " + limit(n+1) + ") p" +
			" JOIN resources r ON r.key = p.key JOIN versions v ON v.seq = r.seq ORDER BY p.key"
		return q, nil
	}
	var cols []string
	var sel []frag
	var order []string
	for i, k := range sq.Sort {
		e, err := sortExpr("r", k)
		if err != nil {
			return frag{}, err
		}
		col := "s" + strconv.Itoa(i)
		cols = append(cols, col)
		e.sql += " AS " + col
		sel = append(sel, e)
		dir := ""
		if k.Desc {
			dir = " DESC"
		}
		order = append(order, col+" IS NULL", col+dir)
	}
	order = append(order, "key")
	inner := join(", ", append([]frag{f("r.key AS key")}, sel...)...)
	q := frag{sql: "SELECT key, " + strings.Join(cols, ", ") + " FROM (SELECT " + inner.sql + " FROM resources r WHERE " + where.sql + ")"}
	q.args = append(append(q.args, inner.args...), where.args...)
	if cur != nil {
		ks := keyset(cols, sq.Sort, cur)
		q.sql += " WHERE " + ks.sql
		q.args = append(q.args, ks.args...)
	}
	q.sql += " ORDER BY " + strings.Join(order, ", ") + " " + limit(n+1)
	var pcols []string
	for _, c := range cols {
		pcols = append(pcols, "p."+c)
	}
	for i := range order {
		order[i] = "p." + order[i]
	}
	q.sql = outer + ", " + strings.Join(pcols, ", ") + " FROM (" + q.sql + ") p JOIN resources r ON r.key = p.key JOIN versions v ON v.seq = r.seq ORDER BY " + strings.Join(order, ", ")
	return q, nil
}

// limit returns a LIMIT clause with n written out. n is a page size the
// store computed (at most maxCount+1), never client text. A bound LIMIT
// parameter would make SQLite (built with STAT4) re-prepare the statement
// on every run, which costs as much as the search itself.
func limit(n int) string { return "LIMIT " + strconv.Itoa(n) }

// keysJSON renders keys as a JSON array for json_each.
func keysJSON(keys []int64) string {
	b, _ := json.Marshal(keys) // []int64 always marshals
	return string(b)
}

// maxIterate bounds the rounds of _include:iterate / _revinclude:iterate.
const maxIterate = 3

// includes follows sq.Include and sq.RevInclude from the page's matches
// (https://hl7.org/fhir/R4/search.html#include): round 0 applies every
// directive to the matches, further rounds apply the :iterate ones to what
// the previous round brought in. It stops at vigil.MaxIncluded resources,
// reporting whether there were more.
func includes(ctx context.Context, q querier, sq *vigil.SearchQuery, keys []int64) (out []vigil.Resource, cut bool, err error) {
	seen := make(map[int64]bool, len(keys))
	for _, k := range keys {
		seen[k] = true
	}
	from := keys
	for round := 0; round <= maxIterate && len(from) > 0 && !cut; round++ {
		var next []int64
		// run reads resources by key order, each once (the key IN
		// subquery), at most enough to find one more than the room left
		// besides those already seen.
		run := func(query string, args ...any) error {
			query += " ORDER BY r.key LIMIT ?"
			args = append(args, vigil.MaxIncluded-len(out)+len(seen)+1)
			rows, err := q.QueryContext(ctx, query, args...)
			if err != nil {
				return fmt.Errorf("sqlite: include: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var key int64
				r, err := scanResource(rows, &key)
				if err != nil {
					return fmt.Errorf("sqlite: include: %w", err)
				}
				if seen[key] {
					continue
				}
				if len(out) == vigil.MaxIncluded {
					cut = true
					break
				}
				seen[key] = true
				out = append(out, *r)
				next = append(next, key)
			}
			return rows.Err()
		}
		src := keysJSON(from)
		for _, in := range sq.Include {
			if round > 0 && !in.Iterate {
				continue
			}
			sub := "SELECT t.key FROM idx_ref i JOIN resources s ON s.key = i.key" +
				" JOIN resources t ON t.type = i.ref_type AND t.id = i.ref_id" +
				" WHERE i.key IN (SELECT value FROM json_each(?)) AND s.type = ?"
			args := []any{src, in.SourceType}
			if in.Param != "*" {
				sub += " AND i.param = ?"
				args = append(args, in.Param)
			}
			if in.TargetType != "" {
				sub += " AND t.type = ?"
				args = append(args, in.TargetType)
			}
			query := "SELECT " + resourceCols + ", r.key FROM resources r JOIN versions v ON v.seq = r.seq" +
				" WHERE r.deleted = 0 AND r.key IN (" + sub + ")"
			if err := run(query, args...); err != nil {
				return nil, false, err
			}
		}
		for _, in := range sq.RevInclude {
			if round > 0 && !in.Iterate {
				continue
			}
			sub := "SELECT i.key FROM resources m JOIN idx_ref i ON i.ref_id = m.id AND i.ref_type = m.type" +
				" WHERE m.key IN (SELECT value FROM json_each(?))"
			args := []any{in.SourceType, src}
			if in.Param != "*" {
				sub += " AND i.param = ?"
				args = append(args, in.Param)
			}
			if in.TargetType != "" {
				sub += " AND m.type = ?"
				args = append(args, in.TargetType)
			}
			query := "SELECT " + resourceCols + ", r.key FROM resources r JOIN versions v ON v.seq = r.seq" +
				" WHERE r.deleted = 0 AND r.type = ? AND r.key IN (" + sub + ")"
			if err := run(query, args...); err != nil {
				return nil, false, err
			}
		}
		from = next
	}
	return out, cut, nil
}
