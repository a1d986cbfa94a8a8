// Package modelreg is Vigil's model registry for the beat classifier
// (package ecg/beatclass) and the champion/challenger retraining that feeds
// it from clinicians' labels (issue #6, part 5b).
//
// A registry is a directory, by default DIR/models in the SQLite data
// directory:
//
//	models/
//	  events.jsonl          append-only, hash-chained event log (the truth about status)
//	  versions/v1/
//	    model.vgml          the model file (ml/FORMAT.md), immutable
//	    version.json        what trained it, its metrics, its training summary, immutable
//	  .lock                 writers hold an exclusive flock on it
//
// A version is registered once and never changed; what happens to it —
// registered, promoted, rejected, rolled back, each with who, when and why
// — is an event appended to events.jsonl. A version's status (candidate,
// active, rejected, retired) is derived from the log, so the log is the
// only thing that changes. Every file is written to a temporary file,
// fsynced and renamed into place, and the directory fsynced, so a crash
// leaves either the old or the new state; each event carries the SHA-256
// of the previous line, so an edited log is detected on read.
//
// Readers (the server loading the active model) take no lock: they read
// events.jsonl, which is replaced atomically, and immutable version files.
// Writers (vigil model retrain, promote, rollback) serialise on the lock.
//
// Retrain builds a candidate from the DS1 records minus a fixed held-out
// set (HeldOutRecords) plus the clinicians' accumulated labels, whose
// signal is read back from the stored waveforms; it evaluates the candidate
// and the active model (the champion) on the held-out records and on the
// newest labels, which neither trained on, and promotes the candidate only
// when Rule finds it not worse. The shipped default model was trained on
// all of DS1, held-out records included, so it cannot be the champion of a
// fair comparison: the first retrain registers and activates a base model
// trained without the held-out records (see README.md).
//
// DriftReport compares the beats of recent stored waveforms, and the
// active model's labels of them, with the training summary stored in the
// active version.
package modelreg
