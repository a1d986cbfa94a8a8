package postgres

import (
	"context"
	"fmt"

	"github.com/vigilhealth/vigil"
)

// maxIncludeRounds bounds _include:iterate / _revinclude:iterate: the
// first round follows the page's matches, later rounds what was included.
const maxIncludeRounds = 4

// includes resolves _include and _revinclude for a page of matches: current,
// non-deleted resources, without duplicates and without the matches
// themselves, in the order found, at most vigil.MaxIncluded (cut reports
// that there were more).
func includes(ctx context.Context, db querier, q *vigil.SearchQuery, matches []hit) (out []vigil.Resource, cut bool, err error) {
	seen := make(map[int64]bool, len(matches))
	for _, h := range matches {
		seen[h.key] = true
	}
	frontier := matches
	for round := 0; round < maxIncludeRounds && len(frontier) > 0 && !cut; round++ {
		var next []hit
		add := func(hs []hit) {
			for _, h := range hs {
				if seen[h.key] {
					continue
				}
				if len(out) == vigil.MaxIncluded {
					cut = true
					return
				}
				seen[h.key] = true
				next = append(next, h)
				out = append(out, h.res)
			}
		}
		// Each query needs at most one more row than the room left,
		// besides rows already seen.
		limit := func() int { return vigil.MaxIncluded - len(out) + len(seen) + 1 }
		for _, inc := range q.Include {
			if round > 0 && !inc.Iterate {
				continue
			}
			hs, err := include(ctx, db, inc, keysOf(frontier, inc.SourceType), limit())
			if err != nil {
				return nil, false, err
			}
			add(hs)
		}
		for _, inc := range q.RevInclude {
			if round > 0 && !inc.Iterate {
				continue
			}
			hs, err := revInclude(ctx, db, inc, keysOf(frontier, inc.TargetType), limit())
			if err != nil {
				return nil, false, err
			}
			add(hs)
		}
		frontier = next
	}
	return out, cut, nil
}

// keysOf returns the keys of the hits of type typ ("" for all).
func keysOf(hs []hit, typ string) []int64 {
	var keys []int64
	for _, h := range hs {
		if typ == "" || h.res.Type == typ {
			keys = append(keys, h.key)
		}
	}
	return keys
}

// include returns the resources that the resources with keys refer to
// through inc.Param.
func include(ctx context.Context, db querier, inc vigil.Include, keys []int64, limit int) ([]hit, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	var b sqlBuilder
	b.WriteString(`SELECT DISTINCT ON (t.key) t.key, t.type, t.id, t.version, t.last_updated, v.method, v.json
FROM idx_ref i JOIN resources t ON t.type = i.ref_type AND t.id = i.ref_id
JOIN versions v ON v.key = t.key AND v.version = t.version
WHERE NOT t.deleted AND i.key = ANY(` + b.arg(keys) + `) AND i.rtype = ` + b.arg(inc.SourceType))
	if inc.Param != "*" {
		b.WriteString(" AND i.param = " + b.arg(inc.Param))
	}
	if inc.TargetType != "" {
		b.WriteString(" AND i.ref_type = " + b.arg(inc.TargetType))
	}
	b.WriteString(" ORDER BY t.key LIMIT " + b.arg(limit))
	return queryHits(ctx, db, &b)
}

// revInclude returns the resources of inc.SourceType that refer to one of
// the resources with keys through inc.Param.
func revInclude(ctx context.Context, db querier, inc vigil.Include, keys []int64, limit int) ([]hit, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	var b sqlBuilder
	src := b.arg(inc.SourceType)
	b.WriteString(`SELECT DISTINCT ON (s.key) s.key, s.type, s.id, s.version, s.last_updated, v.method, v.json
FROM resources m JOIN idx_ref i ON i.ref_id = m.id AND i.ref_type = m.type
JOIN resources s ON s.key = i.key
JOIN versions v ON v.key = s.key AND v.version = s.version
WHERE m.key = ANY(` + b.arg(keys) + `) AND i.rtype = ` + src + ` AND s.type = ` + src + ` AND NOT s.deleted`)
	if inc.Param != "*" {
		b.WriteString(" AND i.param = " + b.arg(inc.Param))
	}
	b.WriteString(" ORDER BY s.key LIMIT " + b.arg(limit))
	return queryHits(ctx, db, &b)
}

func queryHits(ctx context.Context, db querier, b *sqlBuilder) ([]hit, error) {
	rows, err := db.Query(ctx, b.String(), adHoc(b.args)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: include: %w", err)
	}
	defer rows.Close()
	var hs []hit
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.key, &h.res.Type, &h.res.ID, &h.res.Version, &h.res.LastUpdated, &h.res.Method, &h.res.JSON); err != nil {
			return nil, fmt.Errorf("postgres: include: %w", err)
		}
		h.res.LastUpdated = h.res.LastUpdated.UTC()
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: include: %w", err)
	}
	return hs, nil
}
