package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLSSessionCookie logs a patient in over HTTPS and checks the session
// cookie's flags, HSTS, cookie-authenticated reads, cross-origin write
// refusal and logout.
func TestTLSSessionCookie(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	env, _, _ := testEnv()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := NewApp(ctx, Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), TLSCert: cert, TLSKey: key, Logger: quietLogger(env)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Records.Update(ctx, "Patient", "p1", []byte(`{"resourceType":"Patient","id":"p1"}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Auth.CreateAccount(ctx, auth.AccountSpec{Username: "pat", Role: vigil.RolePatient, Password: "correct horse battery", Patient: "p1"}); err != nil {
		t.Fatal(err)
	}
	if err := app.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx) }()
	defer func() { cancel(); <-done; app.Close() }()
	if !strings.HasPrefix(app.URL(), "https://") {
		t.Fatalf("URL %s", app.URL())
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Post(app.URL()+"/auth/login", "application/json", strings.NewReader(`{"username":"pat","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h == "" {
		t.Error("no HSTS header over TLS")
	}
	var c *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "vigil_session" {
			c = ck
		}
	}
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict", c)
	}
	get := func(path string) int {
		resp, err := client.Get(app.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("/fhir/Patient/p1"); s != 200 {
		t.Errorf("own Patient with the session cookie: %d", s)
	}
	// A cross-origin browser write with the cookie is refused.
	req, _ := http.NewRequest("POST", app.URL()+"/fhir/Observation", strings.NewReader(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin write: %d, want 403", resp.StatusCode)
	}
	req.Header.Set("Origin", app.URL())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Body, _ = req.GetBody()
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("same-origin write by the patient: %d, want 201", resp.StatusCode)
	}
	resp, err = client.Post(app.URL()+"/auth/logout", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := get("/fhir/Patient/p1"); s != 401 {
		t.Errorf("after logout: %d, want 401", s)
	}
}
