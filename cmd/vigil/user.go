package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
)

// runUser manages accounts: vigil user add|list.
func runUser(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.Stdout, "Usage: vigil user add|list [flags]   (vigil user add -h)")
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "add":
		return userAdd(ctx, env, args[1:])
	case "list":
		return userList(ctx, env, args[1:])
	}
	return fmt.Errorf("unknown user command %q (add, list)", args[0])
}

// openForAdmin opens the stores for an operator command.
func openForAdmin(ctx context.Context, env *Env, cfg Config) (*App, error) {
	cfg.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return NewApp(ctx, cfg)
}

func userAdd(ctx context.Context, env *Env, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "user add", "user add [--data DIR | --db URL] --username NAME --role ROLE [--patient ID | --practitioner ID | --device ID | --scope SCOPES] [--password-stdin]\n\n"+
		"Creates an account. Roles: admin, clinician (--practitioner), patient (--patient), device (--device;\n"+
		"bound to the patient of that Device), service (--scope system/*.read …). The password is read\n"+
		"from standard input (one line) with --password-stdin; admins, clinicians and patients need one.")
	storeFlags(fs, &cfg, "./vigil-data", "data directory for the embedded SQLite store")
	username := fs.String("username", "", "login name")
	role := fs.String("role", "", "admin, clinician, patient, device or service")
	patient := fs.String("patient", "", "linked Patient id (patient accounts)")
	practitioner := fs.String("practitioner", "", "linked Practitioner id (clinician accounts)")
	device := fs.String("device", "", "linked Device id (device accounts)")
	scope := fs.String("scope", "", "SMART system scopes (service accounts), e.g. \"system/*.read system/Observation.write\"")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	r, err := vigil.ParseRole(*role)
	if err != nil {
		return err
	}
	scopes, err := vigil.ParseScopes(*scope)
	if err != nil {
		return err
	}
	var pw string
	if *pwStdin {
		line, err := bufio.NewReader(env.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	app, err := openForAdmin(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	if err := checkLinks(ctx, app, r, *patient, *practitioner, *device); err != nil {
		return err
	}
	a, err := app.Auth.CreateAccount(ctx, auth.AccountSpec{Username: *username, Role: r, Password: pw, Patient: *patient,
		Practitioner: *practitioner, Device: *device, Scopes: scopes})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "created %s account %s (id %s)\n", a.Role, a.Username, a.ID)
	if r == vigil.RoleAdmin || r == vigil.RoleClinician {
		fmt.Fprintln(env.Stdout, "this role must enrol a second factor (TOTP) at first login: POST /auth/totp/enrol")
	}
	return nil
}

// checkLinks checks that the FHIR resources an account links to exist.
func checkLinks(ctx context.Context, app *App, r vigil.Role, patient, practitioner, device string) error {
	check := func(typ, id string) error {
		if _, err := app.Store.Read(ctx, typ, id); err != nil {
			return fmt.Errorf("%s/%s: %w", typ, id, err)
		}
		return nil
	}
	switch {
	case patient != "" && r != vigil.RolePatient, practitioner != "" && r != vigil.RoleClinician, device != "" && r != vigil.RoleDevice:
		return vigil.Errorf(vigil.ErrInvalid, "--patient goes with patient, --practitioner with clinician, --device with device accounts")
	case patient != "":
		return check("Patient", patient)
	case practitioner != "":
		return check("Practitioner", practitioner)
	case device != "":
		if err := check("Device", device); err != nil {
			return err
		}
		res, err := app.Store.Read(ctx, "Device", device)
		if err != nil {
			return err
		}
		if !strings.Contains(string(res.JSON), `"patient"`) {
			return vigil.Errorf(vigil.ErrInvalid, "Device/%s names no patient: bind it first (Device.patient)", device)
		}
	}
	return nil
}

func userList(ctx context.Context, env *Env, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "user list", "user list [--data DIR | --db URL]")
	storeFlags(fs, &cfg, "./vigil-data", "data directory for the embedded SQLite store")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	app, err := openForAdmin(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	as, err := app.Accounts.ListAccounts(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%-16s  %-24s  %-9s  %-5s  %s\n", "ID", "USERNAME", "ROLE", "2FA", "LINK")
	for _, a := range as {
		link := ""
		switch {
		case a.Patient != "":
			link = "Patient/" + a.Patient
		case a.Practitioner != "":
			link = "Practitioner/" + a.Practitioner
		case a.Device != "":
			link = "Device/" + a.Device
		case a.Scopes != nil:
			link = vigil.FormatScopes(a.Scopes)
		}
		fmt.Fprintf(env.Stdout, "%-16s  %-24s  %-9s  %-5v  %s\n", a.ID, a.Username, a.Role, a.TOTPEnabled, link)
	}
	return nil
}

// runToken manages bearer tokens: vigil token issue|revoke.
func runToken(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.Stdout, "Usage: vigil token issue|revoke [flags]   (vigil token issue -h)")
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "issue":
		return tokenIssue(ctx, env, args[1:])
	case "revoke":
		return tokenRevoke(ctx, env, args[1:])
	}
	return fmt.Errorf("unknown token command %q (issue, revoke)", args[0])
}

func tokenIssue(ctx context.Context, env *Env, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "token issue", "token issue [--data DIR | --db URL] --username NAME [--expires 24h] [--scope SCOPES]\n\n"+
		"Prints a new bearer token for the account (shown once; only its hash is stored).")
	storeFlags(fs, &cfg, "./vigil-data", "data directory for the embedded SQLite store")
	username := fs.String("username", "", "account")
	expires := fs.Duration("expires", 24*time.Hour, "lifetime")
	scope := fs.String("scope", "", "narrow the token to these SMART system scopes")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	var scopes []vigil.Scope
	if *scope != "" {
		sc, err := vigil.ParseScopes(*scope)
		if err != nil {
			return err
		}
		scopes = sc
	}
	app, err := openForAdmin(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	a, err := app.Accounts.AccountByUsername(ctx, *username)
	if err != nil {
		return fmt.Errorf("account %q: %w", *username, err)
	}
	tok, t, err := app.Auth.IssueToken(ctx, a.ID, *expires, scopes)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, tok)
	fmt.Fprintf(env.Stderr, "token %s for %s expires %s\n", t.ID, a.Username, t.Expires.Format(time.RFC3339))
	return nil
}

func tokenRevoke(ctx context.Context, env *Env, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "token revoke", "token revoke [--data DIR | --db URL] --id TOKEN-ID")
	storeFlags(fs, &cfg, "./vigil-data", "data directory for the embedded SQLite store")
	id := fs.String("id", "", "token id (printed when issued)")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	app, err := openForAdmin(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	if err := app.Accounts.RevokeToken(ctx, *id); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "revoked token %s\n", *id)
	return nil
}
