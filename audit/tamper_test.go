package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"os"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
)

// The tampering tests write a trail of 100 records with a checkpoint every
// 20, change the database directly with SQL as someone with write access
// would (dropping the append-only triggers first), and expect Verify to
// name the first broken record.
const (
	tamperN     = 100
	tamperEvery = 20
)

// rechain recomputes the stored hash of every record from seq on, as an
// attacker who knows the algorithm (but not the key) would after changing
// record seq.
func rechain(t testing.TB, f *fixture, from int64) {
	t.Helper()
	var prev []byte
	if from == 1 {
		prev = make([]byte, sha256.Size)
	} else {
		prev = f.queryBytes(t, "SELECT hash FROM audit_log WHERE seq = ?", from-1)
	}
	for seq := from; seq <= tamperN; seq++ {
		data := f.queryBytes(t, "SELECT data FROM audit_log WHERE seq = ?", seq)
		h := sha256.New()
		h.Write(prev)
		h.Write(data)
		prev = h.Sum(nil)
		f.exec(t, "UPDATE audit_log SET hash = ? WHERE seq = ?", prev, seq)
	}
}

// reencode rewrites record seq's data with change applied.
func reencode(t testing.TB, f *fixture, seq int64, change func(r *vigil.AuditRecord)) []byte {
	t.Helper()
	r, err := audit.Decode(f.queryBytes(t, "SELECT data FROM audit_log WHERE seq = ?", seq))
	if err != nil {
		t.Fatalf("Decode(record %d): %v", seq, err)
	}
	change(&r)
	data, err := audit.Encode(&r)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return data
}

func TestTamper(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(t testing.TB, f *fixture)
		public  bool // verify with the public key only (no MACs)
		witness bool // pass the witness file (default true)
		want    *audit.Problem
	}{
		{name: "untouched", tamper: func(testing.TB, *fixture) {}},
		{name: "untouched, public key", public: true, tamper: func(testing.TB, *fixture) {}},
		{name: "edit a record", want: &audit.Problem{Seq: 37, Kind: audit.Changed}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "UPDATE audit_log SET data = ? WHERE seq = 37", reencode(t, f, 37, func(r *vigil.AuditRecord) { r.ActorName = "someone-else" }))
		}},
		{name: "edit a record, public key", public: true, want: &audit.Problem{Seq: 37, Kind: audit.Changed}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "UPDATE audit_log SET data = ? WHERE seq = 37", reencode(t, f, 37, func(r *vigil.AuditRecord) { r.ActorName = "someone-else" }))
		}},
		{name: "edit and re-chain", want: &audit.Problem{Seq: 37, Kind: audit.Changed}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "UPDATE audit_log SET data = ? WHERE seq = 37", reencode(t, f, 37, func(r *vigil.AuditRecord) { r.Outcome = vigil.AuditDenied }))
			rechain(t, f, 37)
		}},
		{name: "edit and re-chain, public key", public: true, want: &audit.Problem{Seq: 21, Kind: audit.Rewritten}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "UPDATE audit_log SET data = ? WHERE seq = 37", reencode(t, f, 37, func(r *vigil.AuditRecord) { r.Outcome = vigil.AuditDenied }))
			rechain(t, f, 37)
		}},
		{name: "edit the index", want: &audit.Problem{Seq: 12, Kind: audit.Index}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "UPDATE audit_log SET agent = 'nobody' WHERE seq = 12")
		}},
		{name: "file a record under another patient", want: &audit.Problem{Seq: 46, Kind: audit.Index}, tamper: func(t testing.TB, f *fixture) {
			if f.patientTable == "" {
				f.exec(t, "UPDATE audit_log SET patients = '{someone-else}' WHERE seq = 46")
				return
			}
			f.exec(t, "INSERT INTO audit_patient_index (patient, seq) VALUES ('someone-else', 46)")
		}},
		{name: "delete a record", want: &audit.Problem{Seq: 50, Kind: audit.Missing}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "DELETE FROM audit_log WHERE seq = 50")
		}},
		{name: "delete a record and renumber", want: &audit.Problem{Seq: 50, Kind: audit.Missing}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "DELETE FROM audit_log WHERE seq = 50")
			f.exec(t, "UPDATE audit_log SET seq = -(seq - 1) WHERE seq > 50")
			f.exec(t, "UPDATE audit_log SET seq = -seq WHERE seq < 0")
		}},
		{name: "insert a record", want: &audit.Problem{Seq: 64, Kind: audit.Inserted}, tamper: func(t testing.TB, f *fixture) {
			insertAt(t, f, 64)
		}},
		{name: "insert a record, public key", public: true, want: &audit.Problem{Seq: 64, Kind: audit.Inserted}, tamper: func(t testing.TB, f *fixture) {
			insertAt(t, f, 64)
		}},
		{name: "reorder two records", want: &audit.Problem{Seq: 70, Kind: audit.Reordered}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "UPDATE audit_log SET seq = -1 WHERE seq = 70")
			f.exec(t, "UPDATE audit_log SET seq = 70 WHERE seq = 71")
			f.exec(t, "UPDATE audit_log SET seq = 71 WHERE seq = -1")
		}},
		{name: "truncate the tail", want: &audit.Problem{Seq: 91, Kind: audit.Truncated}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "DELETE FROM audit_log WHERE seq > 90")
		}},
		{name: "truncate the tail and its checkpoints", want: &audit.Problem{Seq: 81, Kind: audit.Truncated}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "DELETE FROM audit_log WHERE seq > 80")
			f.exec(t, "DELETE FROM audit_checkpoint WHERE seq > 80")
		}},
		{name: "truncate the tail and its checkpoints, no witness", witness: false, tamper: func(t testing.TB, f *fixture) {
			// Undetectable without the witness: documented in README.md.
			f.exec(t, "DELETE FROM audit_log WHERE seq > 80")
			f.exec(t, "DELETE FROM audit_checkpoint WHERE seq > 80")
		}},
		{name: "forge a checkpoint signature", want: &audit.Problem{Seq: 40, Kind: audit.BadSignature}, tamper: func(t testing.TB, f *fixture) {
			sig := f.queryBytes(t, "SELECT sig FROM audit_checkpoint WHERE seq = 40")
			sig[0] ^= 1
			f.exec(t, "UPDATE audit_checkpoint SET sig = ? WHERE seq = 40", sig)
		}},
		{name: "re-sign a rewritten chain with another key", public: true, want: &audit.Problem{Seq: 20, Kind: audit.BadSignature}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "UPDATE audit_log SET data = ? WHERE seq = 5", reencode(t, f, 5, func(r *vigil.AuditRecord) { r.Detail = "x" }))
			rechain(t, f, 5)
			_, other, _ := ed25519.GenerateKey(nil)
			for seq := int64(tamperEvery); seq <= tamperN; seq += tamperEvery {
				h := f.queryBytes(t, "SELECT hash FROM audit_log WHERE seq = ?", seq)
				f.exec(t, "UPDATE audit_checkpoint SET hash = ?, sig = ? WHERE seq = ?", h, ed25519.Sign(other, h), seq)
			}
		}},
		{name: "remove the last checkpoint", want: &audit.Problem{Seq: 100, Kind: audit.CheckpointRemoved}, tamper: func(t testing.TB, f *fixture) {
			f.exec(t, "DELETE FROM audit_checkpoint WHERE seq = 100")
		}},
		{name: "append a forged record", want: &audit.Problem{Seq: 101, Kind: audit.Changed}, tamper: func(t testing.TB, f *fixture) {
			appendForged(t, f)
		}},
	}
	for _, b := range backends() {
		for i, tc := range cases {
			// Alternate between one range and several checked at once
			// (records 1-34, 35-67, 68-100).
			parallel := 1 + 2*(i%2)
			if b.name != "sqlite" && tc.public {
				continue // the same checks as with the private key; the store does not differ
			}
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				f := b.open(t)
				key, witness := fill(t, f, tamperN, tamperEvery)
				f.unlock(t)
				tc.tamper(t, f)
				vk := audit.VerifyKey{Public: key.Public().(ed25519.PublicKey), Private: key}
				if tc.public {
					vk.Private = nil
				}
				opt := audit.VerifyOptions{WitnessFile: witness, Parallel: parallel}
				if tc.name == "truncate the tail and its checkpoints, no witness" {
					opt.WitnessFile = ""
				}
				rep, err := audit.Verify(context.Background(), f.store, vk, opt)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				got := rep.Problem
				switch {
				case tc.want == nil && got != nil:
					t.Fatalf("Verify = %v, want no problem", got)
				case tc.want != nil && got == nil:
					t.Fatalf("Verify found no problem, want %s at %d", tc.want.Kind, tc.want.Seq)
				case tc.want != nil && (got.Seq != tc.want.Seq || got.Kind != tc.want.Kind):
					t.Fatalf("Verify = %v, want %s at %d", got, tc.want.Kind, tc.want.Seq)
				}
				if tc.want != nil {
					t.Logf("%s", got)
				} else if opt.WitnessFile != "" && (rep.Records != tamperN || rep.Checkpoints != tamperN/tamperEvery || rep.Unsigned != 0 || rep.MACs == tc.public) {
					t.Errorf("Verify = %d records, %d checkpoints, %d unsigned, MACs %v; want %d, %d, 0, %v",
						rep.Records, rep.Checkpoints, rep.Unsigned, rep.MACs, tamperN, tamperN/tamperEvery, !tc.public)
				}
				// A tampered trail is not appended to: Open refuses it when
				// the damage is in the part it checks (the tail), and the
				// writer refuses a head it did not write.
				if tc.want != nil && tc.want.Seq > tamperN-tamperEvery && tc.want.Kind != audit.Index {
					_, err := audit.Open(context.Background(), f.store, audit.Options{Key: key, WitnessFile: witness})
					if !errors.Is(err, audit.ErrTampered) {
						t.Errorf("Open after tampering = %v, want ErrTampered", err)
					}
				}
				if _, err := os.Stat(witness); err != nil {
					t.Errorf("witness file: %v", err)
				}
			})
		}
	}
}

// insertAt shifts records seq.. up by one and puts a forged record at
// seq, correctly chained (anyone can compute SHA-256) but without a valid
// MAC (that needs the key).
func insertAt(t testing.TB, f *fixture, seq int64) {
	t.Helper()
	for _, tb := range []string{"audit_log", f.patientTable} {
		if tb == "" {
			continue
		}
		f.exec(t, "UPDATE "+tb+" SET seq = -(seq + 1) WHERE seq >= ?", seq)
		f.exec(t, "UPDATE "+tb+" SET seq = -seq WHERE seq < 0")
	}
	forged := testRecord(int(seq))
	forged.Seq = seq
	forged.Patients, forged.Resources = nil, nil
	forged.Action = vigil.AuditLogin
	data, err := audit.Encode(forged)
	if err != nil {
		t.Fatal(err)
	}
	prev := f.queryBytes(t, "SELECT hash FROM audit_log WHERE seq = ?", seq-1)
	h := sha256.Sum256(append(prev, data...))
	m := hmac.New(sha256.New, []byte("guessed key"))
	m.Write(data)
	f.exec(t, "INSERT INTO audit_log (seq, time, agent, action, "+patientsCol(f)+"data, hash, mac) VALUES (?, ?, ?, ?, "+patientsVal(f)+"?, ?, ?)",
		seq, timeArg(f, forged), forged.ActorID, string(forged.Action), data, h[:], m.Sum(nil))
}

// appendForged adds a correctly chained record after the end.
func appendForged(t testing.TB, f *fixture) {
	t.Helper()
	forged := testRecord(tamperN + 1)
	forged.Seq = tamperN + 1
	forged.Patients, forged.Resources = nil, nil
	forged.Action = vigil.AuditLogin
	data, err := audit.Encode(forged)
	if err != nil {
		t.Fatal(err)
	}
	prev := f.queryBytes(t, "SELECT hash FROM audit_log WHERE seq = ?", tamperN)
	h := sha256.Sum256(append(prev, data...))
	f.exec(t, "INSERT INTO audit_log (seq, time, agent, action, "+patientsCol(f)+"data, hash, mac) VALUES (?, ?, ?, ?, "+patientsVal(f)+"?, ?, ?)",
		int64(tamperN+1), timeArg(f, forged), forged.ActorID, string(forged.Action), data, h[:], []byte("forged"))
}

// patientsCol and patientsVal add PostgreSQL's patients column to an
// INSERT; timeArg is a record time as the store keeps it.
func patientsCol(f *fixture) string {
	if f.pg {
		return "patients, "
	}
	return ""
}

func patientsVal(f *fixture) string {
	if f.pg {
		return "'{}', "
	}
	return ""
}

func timeArg(f *fixture, r *vigil.AuditRecord) any {
	if f.pg {
		return r.Time
	}
	return r.Time.UnixMicro()
}
