package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/sqlite"
)

// runAudit runs the audit-trail tools: vigil audit verify | pubkey.
func runAudit(ctx context.Context, env *Env, args []string) error {
	const synopsis = "audit verify|pubkey [flags]\n\n" +
		"  verify  walk the whole audit trail (hash chain, record MACs, signed checkpoints,\n" +
		"          witness file) and report the first broken record; exit status 1 if any\n" +
		"  pubkey  print the public key that verifies checkpoints (for auditors)"
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		w := env.Stderr
		if len(args) > 0 {
			w = env.Stdout
		}
		fmt.Fprintf(w, "Usage: vigil %s\n", synopsis)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, env, args[1:])
	case "pubkey":
		return runAuditPubkey(env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "Usage: vigil %s\n", synopsis)
	return errUsage
}

// auditFlags are the flags that locate a trail and its key.
type auditFlags struct {
	data, db, key, witness string
}

func (f *auditFlags) keyPath(env *Env) (string, error) {
	switch {
	case f.key != "":
		return f.key, nil
	case env.Getenv("VIGIL_AUDIT_KEY") != "":
		return env.Getenv("VIGIL_AUDIT_KEY"), nil
	case f.db != "":
		return "", errors.New("--key FILE (or VIGIL_AUDIT_KEY) is required with --db: the key lives outside the database")
	case f.data != "":
		return filepath.Join(f.data, audit.KeyFileName), nil
	}
	return "", errors.New("--data DIR or --db URL is required")
}

func runAuditVerify(ctx context.Context, env *Env, args []string) error {
	var f auditFlags
	fl := newFlagSet(env, "audit verify", "audit verify --data DIR | --db postgres://… [--key FILE] [--witness FILE]\n\n"+
		"Checks every record of the audit trail against the previous one (SHA-256 chain), its MAC\n"+
		"(with the private key file), the signed checkpoints and the witness file, and names the\n"+
		"first broken record. --key may be the private key file (default: audit.key in --data;\n"+
		"VIGIL_AUDIT_KEY) or a public key from \"vigil audit pubkey\" (no MAC checks then).")
	fl.StringVar(&f.data, "data", "", "SQLite data directory")
	fl.StringVar(&f.db, "db", "", "PostgreSQL URL (postgres://…)")
	fl.StringVar(&f.key, "key", "", "signing key file or public key file")
	fl.StringVar(&f.key, "audit-key", "", "same as --key")
	fl.StringVar(&f.witness, "witness", "", "witness file (default: beside the key, or audit.checkpoint in --data)")
	if done, err := parseFlags(fl, env, args); done {
		return err
	}
	if fl.NArg() > 0 || (f.data == "") == (f.db == "") {
		fl.Usage()
		return errUsage
	}
	keyPath, err := f.keyPath(env)
	if err != nil {
		return err
	}
	store, closeStore, err := openAuditForVerify(ctx, f)
	if err != nil {
		return err
	}
	defer closeStore()
	vk, err := audit.LoadVerifyKey(keyPath)
	if err != nil {
		return err
	}
	witness := f.witness
	if witness == "" {
		witness = audit.WitnessPath(keyPath)
		if vk.Private == nil && f.data != "" {
			witness = filepath.Join(f.data, audit.WitnessFileName)
		}
	}
	witnessNote := ""
	if _, err := os.Stat(witness); errors.Is(err, fs.ErrNotExist) {
		witnessNote = fmt.Sprintf("no witness file at %s: a removed tail (with its checkpoints) would go unnoticed", witness)
		witness = ""
	}

	rep, err := audit.Verify(ctx, store, vk, audit.VerifyOptions{WitnessFile: witness, Progress: func(n int64) {
		fmt.Fprintf(env.Stderr, "  %d records checked\n", n)
	}})
	if err != nil {
		return err
	}
	rate := float64(rep.Records) / max(rep.Elapsed.Seconds(), 1e-9)
	mac := "MACs checked"
	if !rep.MACs {
		mac = "MACs not checked (public key only)"
	}
	head := "empty"
	if rep.Head.Seq > 0 {
		head = fmt.Sprintf("head %d (hash %s…)", rep.Head.Seq, hex.EncodeToString(rep.Head.Hash[:8]))
	}
	if rep.Problem != nil {
		fmt.Fprintf(env.Stdout, "audit trail BROKEN at record %d: %s: %s\n", rep.Problem.Seq, rep.Problem.Kind, rep.Problem.Detail)
		fmt.Fprintf(env.Stdout, "checked %d records and %d checkpoints before it; %s; %s\n", rep.Records, rep.Checkpoints, head, mac)
		return fmt.Errorf("audit trail does not verify: first broken record %d (%s)", rep.Problem.Seq, rep.Problem.Kind)
	}
	fmt.Fprintf(env.Stdout, "audit trail OK: %d records, %d checkpoints (key %s), %s, %d after the last checkpoint; %s\n",
		rep.Records, rep.Checkpoints, audit.KeyID(vk.Public), head, rep.Unsigned, mac)
	if rep.Witness != nil {
		fmt.Fprintf(env.Stdout, "witness: checkpoint at record %d, %s\n", rep.Witness.Seq, rep.Witness.Time.Format("2006-01-02T15:04:05Z07:00"))
	} else if witnessNote != "" {
		fmt.Fprintf(env.Stdout, "warning: %s\n", witnessNote)
	}
	fmt.Fprintf(env.Stdout, "verified in %.2fs (%.0f records/s)\n", rep.Elapsed.Seconds(), rate)
	return nil
}

// openAuditForVerify opens the trail's store without creating one: a data
// directory without audit.db is an error, not an empty trail.
func openAuditForVerify(ctx context.Context, f auditFlags) (vigil.AuditStore, func(), error) {
	if f.db != "" {
		if !strings.HasPrefix(f.db, "postgres://") && !strings.HasPrefix(f.db, "postgresql://") {
			return nil, nil, errors.New("--db must be a postgres:// URL")
		}
		db, err := postgres.Open(ctx, f.db)
		if err != nil {
			return nil, nil, fmt.Errorf("open postgres: %w", err)
		}
		return db, func() { db.Close() }, nil
	}
	if _, err := os.Stat(filepath.Join(f.data, sqlite.FileName)); err != nil {
		return nil, nil, fmt.Errorf("no audit trail in %s: %w", f.data, err)
	}
	db, err := sqlite.OpenAudit(ctx, f.data)
	if err != nil {
		return nil, nil, fmt.Errorf("open audit store: %w", err)
	}
	return db, func() { db.Close() }, nil
}

func runAuditPubkey(env *Env, args []string) error {
	var f auditFlags
	fl := newFlagSet(env, "audit pubkey", "audit pubkey --data DIR | --key FILE\n\nPrints the PEM public key that verifies the trail's checkpoints; give it to auditors\n(vigil audit verify --key FILE.pub), who can then check checkpoints but not sign them.")
	fl.StringVar(&f.data, "data", "", "SQLite data directory (key: audit.key in it)")
	fl.StringVar(&f.key, "key", "", "signing key file")
	fl.StringVar(&f.key, "audit-key", "", "same as --key")
	if done, err := parseFlags(fl, env, args); done {
		return err
	}
	keyPath, err := f.keyPath(env)
	if err != nil {
		return err
	}
	vk, err := audit.LoadVerifyKey(keyPath)
	if err != nil {
		return err
	}
	b, err := audit.MarshalPublicKey(ed25519.PublicKey(vk.Public))
	if err != nil {
		return err
	}
	_, err = env.Stdout.Write(b)
	return err
}
