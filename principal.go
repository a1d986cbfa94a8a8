package vigil

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Role is what kind of account a principal is. The zero value is not a
// role: every account has one of the constants below.
type Role string

// The roles (issue #3): each decides a different default of the access
// policy (docs/security.md).
const (
	// RoleAdmin manages accounts; it reads clinical data only through
	// break-the-glass.
	RoleAdmin Role = "admin"
	// RoleClinician reaches the patients of the CareTeams it belongs to.
	RoleClinician Role = "clinician"
	// RolePatient reaches its own Patient compartment.
	RolePatient Role = "patient"
	// RoleDevice submits data for the patient its Device is bound to and
	// reads nothing.
	RoleDevice Role = "device"
	// RoleService is an integration whose reach is bounded by SMART-style
	// system scopes.
	RoleService Role = "service"
)

// ParseRole returns the Role named s, or ErrInvalid.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleClinician, RolePatient, RoleDevice, RoleService:
		return r, nil
	}
	return "", Errorf(ErrInvalid, "unknown role %q (admin, clinician, patient, device, service)", s)
}

// Scope is one SMART-style system scope such as "system/Observation.write"
// (https://hl7.org/fhir/smart-app-launch/1.0.0/scopes-and-launch-context/).
type Scope struct {
	Type  string // a resource type or "*"
	Read  bool
	Write bool
}

// ParseScopes parses a space- or comma-separated list of system scopes:
// system/TYPE.read, system/TYPE.write, system/TYPE.* with TYPE a resource
// type or *. It rejects anything else.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		rest, ok := strings.CutPrefix(f, "system/")
		typ, perm, ok2 := strings.Cut(rest, ".")
		if !ok || !ok2 || typ == "" {
			return nil, Errorf(ErrInvalid, "scope %q: want system/TYPE.read|write|*", f)
		}
		sc := Scope{Type: typ}
		switch perm {
		case "read":
			sc.Read = true
		case "write":
			sc.Write = true
		case "*":
			sc.Read, sc.Write = true, true
		default:
			return nil, Errorf(ErrInvalid, "scope %q: want system/TYPE.read|write|*", f)
		}
		out = append(out, sc)
	}
	return out, nil
}

// String formats the scope as system/TYPE.PERM.
func (s Scope) String() string {
	perm := "read"
	switch {
	case s.Read && s.Write:
		perm = "*"
	case s.Write:
		perm = "write"
	}
	return "system/" + s.Type + "." + perm
}

// FormatScopes joins scopes with spaces (the form ParseScopes reads).
func FormatScopes(sc []Scope) string {
	parts := make([]string, len(sc))
	for i, s := range sc {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// Allows reports whether the scopes permit reading (write false) or writing
// (write true) resources of typ.
func Allows(sc []Scope, typ string, write bool) bool {
	for _, s := range sc {
		if s.Type != "*" && s.Type != typ {
			continue
		}
		if (write && s.Write) || (!write && s.Read) {
			return true
		}
	}
	return false
}

// Principal is the authenticated caller of a request: an account with its
// role and the FHIR resources it is linked to. Access decisions look only
// at the Principal, never at request headers.
type Principal struct {
	AccountID string
	Username  string
	Role      Role
	// Patient is the linked Patient id of a patient account.
	Patient string
	// Practitioner is the linked Practitioner id of a clinician account.
	Practitioner string
	// Device is the linked Device id of a device account.
	Device string
	// Scopes bound what a service account (or a scoped token) may do; nil
	// for interactive accounts means "what the role allows".
	Scopes []Scope
	// Method is how the caller authenticated: "password", "password+totp",
	// "token".
	Method string
	// BreakGlass lists the emergency grants active for this request.
	BreakGlass []BreakGlass
	// NeedsSecondFactor is set for an account whose role requires a second
	// factor that it has not enrolled yet: it may only enrol one.
	NeedsSecondFactor bool
}

// BreakGlass is an emergency-access grant: an account may reach one
// patient's record for a limited time, with a stated reason, and admins
// are alerted (HIPAA 164.312(a)(2)(ii) emergency access procedure).
type BreakGlass struct {
	ID        string
	AccountID string
	Patient   string
	Reason    string
	Created   time.Time
	Expires   time.Time
}

// LogValue keeps principals out of logs beyond the opaque account id and
// role.
func (p *Principal) LogValue() slog.Value {
	if p == nil {
		return slog.StringValue("anonymous")
	}
	return slog.GroupValue(slog.String("account", p.AccountID), slog.String("role", string(p.Role)))
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of ctx, or nil when the request is
// not authenticated.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// AccountSource is the meta.source Vigil gives resources submitted by a
// patient or device account: who submitted it, which the access policy
// uses to let patients change only their own submissions.
func AccountSource(accountID string) string { return "urn:vigil:account:" + accountID }
