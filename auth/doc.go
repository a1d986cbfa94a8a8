// Package auth authenticates Vigil's callers and turns them into a
// vigil.Principal: passwords hashed with argon2id (RFC 9106), time-based
// one-time passwords as the second factor (RFC 6238) with recovery codes,
// login sessions, bearer tokens stored only as SHA-256 hashes, and
// throttling and lockout against guessing (NIST SP 800-63B section 5.2.2).
// It implements the person-authentication and automatic-logoff safeguards
// of the HIPAA Security Rule (45 CFR 164.312(d) and (a)(2)(iii)).
//
// What a principal may then do is decided elsewhere (package access).
package auth
