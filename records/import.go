package records

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/vigilhealth/vigil"
)

// ImportStats counts what an import did.
type ImportStats struct {
	Resources int // resources written
	Bundles   int // transaction/batch Bundles processed
	Bytes     int64
}

// ImportOptions configures Import.
type ImportOptions struct {
	// Base is the server base used in Bundle processing (links only).
	Base string
	// Progress, when set, is called after each committed batch with the
	// running totals.
	Progress func(ImportStats)
	// BatchSize is how many resources go into one store transaction
	// (default 5000: a large transaction writes each page of the indexes
	// it touches once, where small ones rewrite the same pages again and
	// again).
	BatchSize int
	// Workers decode, validate and index in parallel (default GOMAXPROCS).
	Workers int
}

// defaultImportBatch is ImportOptions.BatchSize by default.
const defaultImportBatch = 5000

// Import loads one file: a transaction or batch Bundle (processed as such),
// a collection/searchset Bundle (each entry resource stored), or NDJSON
// (Bulk Data format: one resource per line). Resources with an id keep it
// (update-as-create); those without get one. It stops at the first invalid
// resource, reporting its line or entry; what was committed before stays.
func (s *Service) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportStats, error) {
	defer s.track()() // history's horizon (horizon.go)
	if opts.BatchSize <= 0 {
		opts.BatchSize = defaultImportBatch
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	br := bufio.NewReaderSize(r, 1<<20)
	// A file whose first JSON object spans the whole file is a Bundle;
	// NDJSON has one object per line. Peek at the first line to tell.
	first, err := br.Peek(1)
	for err == nil && (first[0] == ' ' || first[0] == '\n' || first[0] == '\r' || first[0] == '\t' || first[0] == 0xEF || first[0] == 0xBB || first[0] == 0xBF) {
		_, _ = br.ReadByte()
		first, err = br.Peek(1)
	}
	if err == io.EOF {
		return ImportStats{}, nil
	}
	if err != nil {
		return ImportStats{}, fmt.Errorf("read import: %w", err)
	}
	if first[0] != '{' {
		return ImportStats{}, vigil.Errorf(vigil.ErrInvalid, "not a FHIR JSON or NDJSON file")
	}
	// NDJSON has a complete object on its first line; a pretty-printed
	// document does not. A one-line file is a single document.
	line, err := br.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return ImportStats{}, fmt.Errorf("read import: %w", err)
	}
	if _, perr := br.Peek(1); perr == nil && isCompleteObject(line) {
		return s.importNDJSON(ctx, io.MultiReader(bytes.NewReader(line), br), opts)
	}
	all, err := io.ReadAll(io.MultiReader(bytes.NewReader(line), br))
	if err != nil {
		return ImportStats{}, fmt.Errorf("read import: %w", err)
	}
	return s.importDocument(ctx, all, opts)
}

// isCompleteObject reports whether data holds exactly one JSON object.
func isCompleteObject(data []byte) bool {
	var v map[string]any
	return jsonUnmarshalNumber(bytes.TrimSpace(data), &v) == nil
}

func (s *Service) importDocument(ctx context.Context, data []byte, opts ImportOptions) (ImportStats, error) {
	st := ImportStats{Bytes: int64(len(data))}
	obj, err := s.model.Decode(data)
	if err != nil {
		return st, err
	}
	rt, _ := obj["resourceType"].(string)
	if rt == "Bundle" {
		switch kind, _ := obj["type"].(string); kind {
		case "transaction", "batch":
			if _, err := s.Process(ctx, &BundleRequest{Body: data, Base: opts.Base}); err != nil {
				return st, err
			}
			n, _ := obj["entry"].([]any)
			st.Resources += len(n)
			st.Bundles++
			if opts.Progress != nil {
				opts.Progress(st)
			}
			return st, nil
		default:
			var objs []Object
			entries, _ := obj["entry"].([]any)
			for _, e := range entries {
				if m, ok := e.(map[string]any); ok {
					if r, ok := m["resource"].(map[string]any); ok {
						objs = append(objs, r)
					}
				}
			}
			for i := 0; i < len(objs); i += opts.BatchSize {
				j := min(i+opts.BatchSize, len(objs))
				batch := make([]*prepared, 0, j-i)
				for _, o := range objs[i:j] {
					p, err := s.prepareImport(o)
					if err != nil {
						return st, err
					}
					batch = append(batch, p)
				}
				if err := s.commitImport(ctx, batch); err != nil {
					return st, err
				}
				st.Resources += len(batch)
				if opts.Progress != nil {
					opts.Progress(st)
				}
			}
			return st, nil
		}
	}
	p, err := s.prepareImport(obj)
	if err != nil {
		return st, err
	}
	if err := s.commitImport(ctx, []*prepared{p}); err != nil {
		return st, err
	}
	st.Resources = 1
	if opts.Progress != nil {
		opts.Progress(st)
	}
	return st, nil
}

// prepareImport indexes one decoded resource. A resource without an id
// gets a new one, and with it version 1, its meta and its JSON here (on
// the caller's goroutine, one of several workers), exactly as a create
// prepares it: no stored version can have an id just made. A resource
// with an id has its version decided at commit, on the store's writer.
func (s *Service) prepareImport(obj Object) (*prepared, error) {
	typ, _ := obj["resourceType"].(string)
	id, _ := obj["id"].(string)
	if id == "" {
		return s.prepare(obj, typ, s.newID(), 1, "PUT", s.instant())
	}
	if !validID(id) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "invalid id")
	}
	idx, err := s.model.Index(obj)
	if err != nil {
		return nil, err
	}
	return &prepared{res: vigil.Resource{Type: typ, ID: id, Method: "PUT"}, index: idx, obj: obj}, nil
}

// commitImport writes a batch of prepared resources in one transaction,
// each as the next version of its id (version 1 for ids the import made).
func (s *Service) commitImport(ctx context.Context, batch []*prepared) error {
	var written []*vigil.Resource
	err := s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		written = written[:0]
		now := s.instant()
		// New ids go to a store that can take many Puts in one round trip
		// (PostgreSQL) together; anything that reads first waits for them.
		bp, _ := tx.(vigil.BatchPutter)
		var pend []*vigil.Resource
		var pidx [][]vigil.IndexEntry
		flush := func() error {
			if len(pend) == 0 {
				return nil
			}
			err := bp.PutBatch(ctx, pend, pidx)
			pend, pidx = pend[:0], pidx[:0]
			return err
		}
		for _, p := range batch {
			if p.obj == nil { // a new id, prepared in full
				r := p.res
				written = append(written, &r)
				if bp != nil {
					pend, pidx = append(pend, &r), append(pidx, p.index)
					continue
				}
				if err := tx.Put(ctx, &r, p.index); err != nil {
					return err
				}
				continue
			}
			if err := flush(); err != nil {
				return err
			}
			cur, err := tx.Read(ctx, p.res.Type, p.res.ID)
			var next int64 = 1
			if err == nil || errors.Is(err, vigil.ErrGone) {
				next = cur.Version + 1
			} else if !errors.Is(err, vigil.ErrNotFound) {
				return err
			}
			setMeta(p.obj, next, now)
			data, err := Marshal(p.obj)
			if err != nil {
				return err
			}
			r := vigil.Resource{Type: p.res.Type, ID: p.res.ID, Version: next, LastUpdated: now, Method: "PUT", JSON: data}
			if err := tx.Put(ctx, &r, p.index); err != nil {
				return err
			}
			written = append(written, &r)
		}
		return flush()
	})
	if err != nil {
		return err
	}
	s.notify(ctx, written...)
	return nil
}

// importNDJSON decodes, validates and indexes lines on several workers
// while a committer writes the batches before, one transaction each, in
// file order: the store's single writer, the bottleneck, never waits for
// parsing.
func (s *Service) importNDJSON(ctx context.Context, r io.Reader, opts ImportOptions) (ImportStats, error) {
	// Parsing stops at the first bad line; the batches before it are
	// still committed (under the caller's ctx, not this one).
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		line int
		data []byte
		p    *prepared
		err  error
		done chan struct{}
	}
	jobs := make(chan *job, opts.Workers*64)
	// Room for a whole batch, so that the workers prepare the next one
	// while the committer writes the last.
	ordered := make(chan *job, opts.BatchSize+opts.Workers*64)
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(func() {
			for j := range jobs {
				obj, err := s.model.Decode(j.data)
				if err == nil {
					j.p, err = s.prepareImport(obj)
				}
				j.err = err
				close(j.done)
			}
		})
	}
	var readErr error
	go func() {
		defer close(ordered)
		defer close(jobs)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		n := 0
		for sc.Scan() {
			n++
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 {
				continue
			}
			j := &job{line: n, data: append([]byte(nil), b...), done: make(chan struct{})}
			select {
			case jobs <- j:
			case <-pctx.Done():
				return
			}
			select {
			case ordered <- j:
			case <-pctx.Done():
				return
			}
		}
		readErr = sc.Err()
	}()

	// The committer: one batch at a time, in order; after a failure it
	// only drains.
	type cut struct {
		batch []*prepared
		bytes int64 // of the file, up to the batch's last line
	}
	cuts := make(chan cut, 1)
	var written int // resources committed; the committer's until it is done
	committed := make(chan error, 1)
	go func() {
		var err error
		for c := range cuts {
			if err != nil {
				continue
			}
			if err = s.commitImport(ctx, c.batch); err != nil {
				cancel()
				continue
			}
			written += len(c.batch)
			if opts.Progress != nil {
				opts.Progress(ImportStats{Resources: written, Bytes: c.bytes})
			}
		}
		committed <- err
	}()

	var nbytes int64
	batch := make([]*prepared, 0, opts.BatchSize)
	var firstErr error
	for j := range ordered {
		<-j.done
		nbytes += int64(len(j.data) + 1)
		if firstErr != nil {
			continue
		}
		if j.err != nil {
			firstErr = lineError(j.line, j.err)
			cancel()
			continue
		}
		batch = append(batch, j.p)
		if len(batch) == opts.BatchSize {
			cuts <- cut{batch, nbytes}
			batch = make([]*prepared, 0, opts.BatchSize)
		}
	}
	wg.Wait()
	if firstErr == nil && readErr == nil && len(batch) > 0 {
		cuts <- cut{batch, nbytes}
	}
	close(cuts)
	cerr := <-committed
	st := ImportStats{Resources: written, Bytes: nbytes}
	switch {
	case cerr != nil:
		return st, cerr
	case firstErr != nil:
		return st, firstErr
	case readErr != nil:
		return st, fmt.Errorf("read NDJSON: %w", readErr)
	}
	return st, nil
}

func lineError(line int, err error) error {
	var ve *vigil.Error
	if errors.As(err, &ve) {
		ne := *ve
		ne.Message = fmt.Sprintf("line %d: %s", line, ve.Message)
		ne.Err = err
		return &ne
	}
	return fmt.Errorf("line %d: %w", line, err)
}
