package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/vigilhealth/vigil"
)

// Argon2id parameters: the OWASP Password Storage Cheat Sheet's first
// recommendation (m = 19 MiB, t = 2, p = 1), about 25 ms on one core here.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// MinPasswordLength is the shortest password accepted. NIST SP 800-63B
// asks for at least 8; Vigil guards health data and asks for 12.
const MinPasswordLength = 12

// maxPasswordLength bounds the work an attacker can make argon2 do.
const maxPasswordLength = 256

// CheckPasswordPolicy returns ErrInvalid when pw is too short, too long
// or not valid UTF-8 (NIST SP 800-63B 5.1.1.2: length, not composition).
func CheckPasswordPolicy(pw string) error {
	if !utf8.ValidString(pw) {
		return vigil.Errorf(vigil.ErrInvalid, "the password is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLength || len(pw) > maxPasswordLength {
		return vigil.Errorf(vigil.ErrInvalid, "the password must have %d to %d characters", MinPasswordLength, maxPasswordLength)
	}
	return nil
}

// HashPassword returns a PHC-format argon2id hash of pw:
// $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH (base64, no padding).
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the PHC hash. It compares in
// constant time and returns false for malformed hashes.
func VerifyPassword(hash, pw string) bool {
	if len(pw) > maxPasswordLength {
		return false
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
