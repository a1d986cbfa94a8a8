package audit

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// HashSize is the size of a chain hash (SHA-256).
const HashSize = sha256.Size

// genesis is the "previous hash" of record 1: 32 zero bytes.
var genesis [HashSize]byte

// chainHash returns the hash of the record whose encoding is data, chained
// to the previous record's hash prev (genesis for record 1):
// SHA-256(prev || data). data holds the record's sequence number, so a
// record moved to another position no longer matches.
func chainHash(prev []byte, data []byte) [HashSize]byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(data)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// checkpointMessage is what a checkpoint signs: a domain-separation label,
// then the sequence number, the chain hash at it and the time in
// microseconds, both big-endian.
func checkpointMessage(seq int64, hash []byte, t time.Time) []byte {
	const label = "vigil audit checkpoint v1\x00"
	b := make([]byte, 0, len(label)+8+HashSize+8)
	b = append(b, label...)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = append(b, hash...)
	b = binary.BigEndian.AppendUint64(b, uint64(t.UnixMicro()))
	return b
}

// keys are a trail's signing key and the MAC key derived from it.
type keys struct {
	priv ed25519.PrivateKey // nil when only the public key is known
	pub  ed25519.PublicKey
	id   string
	mac  []byte // nil when only the public key is known
}

func newKeys(priv ed25519.PrivateKey) *keys {
	k := publicKeys(priv.Public().(ed25519.PublicKey))
	k.priv = priv
	// The MAC key is derived from the signing key's seed, so one key file
	// holds both; a different label keeps the two uses apart.
	h := sha256.New()
	h.Write([]byte("vigil audit record mac key v1\x00"))
	h.Write(priv.Seed())
	k.mac = h.Sum(nil)
	return k
}

func publicKeys(pub ed25519.PublicKey) *keys {
	return &keys{pub: pub, id: KeyID(pub)}
}

// KeyID names a public key in checkpoints: the first 8 bytes of its
// SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// recordMAC authenticates one record on its own: HMAC-SHA-256 over its
// encoding (which includes its sequence number) with the MAC key. Unlike
// the chain hash, nobody without the key file can compute it, so a record
// changed, inserted or re-chained by someone with only database access is
// named exactly, not just placed between two checkpoints.
func (k *keys) recordMAC(data []byte) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write(data)
	return m.Sum(nil)
}

func (k *keys) sign(seq int64, hash []byte, t time.Time) []byte {
	return ed25519.Sign(k.priv, checkpointMessage(seq, hash, t))
}

func (k *keys) verify(seq int64, hash []byte, t time.Time, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.pub, checkpointMessage(seq, hash, t), sig)
}
