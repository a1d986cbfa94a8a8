package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// TokenPrefix starts every bearer token, so that leaked tokens are easy to
// recognise (and to scan for in code and logs).
const TokenPrefix = "vgl_"

// newSecret returns a random 256-bit secret, URL-safe base64.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newID returns a random 64-bit id in hex (token, grant and account ids).
func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// HashSecret returns the stored form of a token, session or recovery code:
// hex SHA-256. Secrets are 256-bit random, so a fast hash is enough (no
// dictionary to guess from).
func HashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// wellFormedToken checks the shape of a bearer token before any lookup:
// the prefix and 43 base64url characters.
func wellFormedToken(t string) bool {
	rest, ok := strings.CutPrefix(t, TokenPrefix)
	if !ok || len(rest) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// wellFormedSession checks the shape of a session cookie value.
func wellFormedSession(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}
