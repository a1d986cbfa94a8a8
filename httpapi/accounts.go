package httpapi

import (
	"context"
	"net/http"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
)

// accountManagement is what a refusal of the endpoints below is audited
// as.
const accountManagement = "account management"

func (s *Server) accountRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/accounts", s.listAccounts)
	mux.HandleFunc("POST /api/v1/accounts", s.createAccount)
	mux.HandleFunc("POST /api/v1/accounts/{id}/lock", s.accountAction((*auth.Service).LockAccount))
	mux.HandleFunc("POST /api/v1/accounts/{id}/unlock", s.accountAction((*auth.Service).UnlockAccount))
	mux.HandleFunc("POST /api/v1/accounts/{id}/reset-2fa", s.accountAction((*auth.Service).ResetSecondFactor))
	mux.HandleFunc("POST /api/v1/accounts/{id}/revoke", s.revokeAccess)
}

// admin returns the authentication service and the caller when the caller
// is an admin (refusals audited by auth), or answers and returns false.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) (*auth.Service, *vigil.Principal, bool) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return nil, nil, false
	}
	if err := a.RequireAdmin(r.Context(), p, accountManagement, clientIP(r)); err != nil {
		s.fail(w, r, err)
		return nil, nil, false
	}
	return a, p, true
}

// listAccounts answers GET /api/v1/accounts: every account, by username,
// without any secret (auth.AccountInfo).
func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	list, err := a.ListAccounts(r.Context(), p, clientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// createAccount answers POST /api/v1/accounts with the rules of `vigil
// user add`: 201 and the account, 400 for bad input, 409 for a username
// that is taken.
func (s *Server) createAccount(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.admin(w, r)
	if !ok {
		return
	}
	var body struct {
		Username     string `json:"username"`
		Role         string `json:"role"`
		Password     string `json:"password"`
		Patient      string `json:"patient"`
		Practitioner string `json:"practitioner"`
		Device       string `json:"device"`
		Scope        string `json:"scope"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	role, err := vigil.ParseRole(body.Role)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	scopes, err := vigil.ParseScopes(body.Scope)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	info, err := a.CreateAccountAs(r.Context(), p, auth.AccountSpec{Username: body.Username, Role: role, Password: body.Password,
		Patient: body.Patient, Practitioner: body.Practitioner, Device: body.Device, Scopes: scopes}, clientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

// accountOp is an admin's action on one account (a method of
// auth.Service).
type accountOp func(a *auth.Service, ctx context.Context, by *vigil.Principal, id, source string) (auth.AccountInfo, error)

// accountAction serves POST /api/v1/accounts/{id}/VERB with op: 200 and
// the account after the change, 404 for an unknown account.
func (s *Server) accountAction(op accountOp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, p, ok := s.admin(w, r)
		if !ok {
			return
		}
		info, err := op(a, r.Context(), p, r.PathValue("id"), clientIP(r))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, info)
	}
}

// revokeAccess answers POST /api/v1/accounts/{id}/revoke: every session
// and token of the account ends; {"tokens_revoked": n}.
func (s *Server) revokeAccess(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.admin(w, r)
	if !ok {
		return
	}
	n, err := a.RevokeAccess(r.Context(), p, r.PathValue("id"), clientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"tokens_revoked": n})
}
