package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// KeyFileName and WitnessFileName are the names of the signing key and the
// witness file in a SQLite data directory.
const (
	KeyFileName     = "audit.key"
	WitnessFileName = "audit.checkpoint"
)

// WitnessPath returns the witness file that goes with a key file: the key
// file's path with ".key" replaced by ".checkpoint" (or ".checkpoint"
// appended).
func WitnessPath(keyFile string) string {
	return strings.TrimSuffix(keyFile, ".key") + ".checkpoint"
}

// LoadOrCreateKey reads the Ed25519 signing key in path (PEM, PKCS #8), or
// creates one with permissions 0600 when the file does not exist. It
// refuses a key file that group or others may read or write: whoever can
// read it can forge checkpoints.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	k, err := LoadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("audit: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("audit: encode key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) { // created meanwhile by another process
			return LoadKey(path)
		}
		return nil, fmt.Errorf("audit: create key file: %w", err)
	}
	werr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("audit: write key file: %w", err)
	}
	return priv, nil
}

// LoadKey reads an Ed25519 private key (PEM "PRIVATE KEY", PKCS #8) from
// path. The file must not be accessible to group or others.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("audit: key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit key file %s has permissions %v; want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: key file: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit key file %s: want a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit key file %s: %v", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit key file %s: not an Ed25519 key", path)
	}
	return priv, nil
}

// LoadVerifyKey reads the key a verifier uses from path: either the
// private key file (then record MACs are checked too) or a public key (PEM
// "PUBLIC KEY", as written by MarshalPublicKey), which checks the chain and
// the checkpoint signatures only.
func LoadVerifyKey(path string) (VerifyKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return VerifyKey{}, fmt.Errorf("audit: key file: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk != nil && blk.Type == "PUBLIC KEY" {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return VerifyKey{}, vigil.Errorf(vigil.ErrInvalid, "audit public key %s: %v", path, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return VerifyKey{}, vigil.Errorf(vigil.ErrInvalid, "audit public key %s: not an Ed25519 key", path)
		}
		return VerifyKey{Public: pub}, nil
	}
	priv, err := LoadKey(path)
	if err != nil {
		return VerifyKey{}, err
	}
	return VerifyKey{Public: priv.Public().(ed25519.PublicKey), Private: priv}, nil
}

// MarshalPublicKey returns pub as PEM "PUBLIC KEY" (PKIX), the form
// LoadVerifyKey reads: give it to auditors who should verify checkpoints
// without being able to sign.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("audit: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// witness is the JSON form of the latest checkpoint kept in the witness
// file, outside the database.
type witness struct {
	Seq       int64  `json:"seq"`
	Hash      string `json:"hash"` // hex
	Time      string `json:"time"` // RFC 3339, microseconds
	KeyID     string `json:"key"`
	Signature string `json:"sig"` // base64
}

// writeWitness replaces the witness file with c, durably: a temporary file
// is written and synced, renamed over the old one, and the directory
// synced.
func writeWitness(path string, c *vigil.AuditCheckpoint) error {
	b, err := json.Marshal(witness{
		Seq: c.Seq, Hash: hex.EncodeToString(c.Hash), Time: c.Time.UTC().Format(time.RFC3339Nano),
		KeyID: c.KeyID, Signature: base64.StdEncoding.EncodeToString(c.Signature),
	})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit: write witness: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("audit: write witness: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("audit: write witness: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// readWitness reads the witness file; it returns nil, nil when there is
// none.
func readWitness(path string) (*vigil.AuditCheckpoint, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: read witness: %w", err)
	}
	var w witness
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit witness %s is not valid JSON", path)
	}
	h, herr := hex.DecodeString(w.Hash)
	sig, serr := base64.StdEncoding.DecodeString(w.Signature)
	t, terr := time.Parse(time.RFC3339Nano, w.Time)
	if herr != nil || serr != nil || terr != nil || len(h) != HashSize || w.Seq <= 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit witness %s is malformed", path)
	}
	return &vigil.AuditCheckpoint{Seq: w.Seq, Hash: h, Time: t.UTC(), KeyID: w.KeyID, Signature: sig}, nil
}
