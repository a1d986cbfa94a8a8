package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
)

// OpenAuditInResourceFile opens an audit store whose tables live in the
// resource store's vigil.db in dir (which must exist), instead of in
// audit.db: the alternative layout, kept for the benchmark that compares
// the two.
func OpenAuditInResourceFile(ctx context.Context, dir string) (*AuditDB, error) {
	path := filepath.Join(dir, FileName)
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, auditSchema); err != nil {
		return nil, err
	}
	return openAuditFile(ctx, path, config{sync: SyncFull, readers: 2, busy: 10000})
}
