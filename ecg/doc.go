// Package ecg is Vigil's electrocardiogram engine: it reads PhysioNet WFDB
// records and annotation files, detects heartbeats causally and in a
// streaming fashion, assesses signal quality, measures heart rate and
// heart-rate variability, recognises rhythms such as atrial fibrillation,
// and scores all of it the way ANSI/AAMI EC57 prescribes.
//
// The package is pure: it does no file or network I/O of its own. Records
// are read from an fs.FS (pass os.DirFS(dir)) and annotations from an
// io.Reader, so the same code serves tests, the command line and the server.
//
// # Reading WFDB
//
// ReadRecord parses a WFDB header (PhysioNet, header(5)) and its signal
// files in formats 212 and 16 (signal(5)); ReadAnnotations and
// WriteAnnotations read and write the MIT annotation format (annot(5)),
// including the SKIP, NUM, SUB, CHN and AUX pseudo-annotations. Samples stay
// in raw ADC units; Signal.Gain and Signal.Baseline convert them. AAMIClass
// maps MIT-BIH beat labels to the five EC57 classes used by the
// inter-patient evaluation of de Chazal et al. (2004).
//
//	rec, err := ecg.ReadRecord(os.DirFS("mitdb"), "100")
//	s := rec.Signals[0]
//	beats, err := ecg.DetectBeats(s.Samples, rec.Fs, s.Gain)
//
// # Streaming
//
// A Detector finds QRS complexes in one lead, sample chunk by sample chunk,
// deciding each beat 300 ms after its R peak (Pan & Tompkins 1985; Hamilton
// & Tompkins 1986). An Analyzer wraps a Detector, a QualityMonitor and a
// RhythmMonitor for one patient: feed it chunks with their position in the
// stream and it returns beats flagged usable or not, RR intervals and rhythm
// episodes (bradycardia, tachycardia, pauses, atrial fibrillation after
// Dash et al. 2009). Gaps and out-of-order chunks are marked or refused,
// never guessed.
//
// # Rate and variability
//
// Intervals turns beats (and optional AAMI labels) into RR intervals marked
// NN or not; ComputeHRV gives SDNN, RMSSD, pNN50 and the Lomb–Scargle LF
// and HF powers of the Task Force of the ESC and NASPE (1996).
//
// # Evaluation
//
// CompareBeats matches detections to reference beats within 150 ms from
// minute 5 as EC57 does; CompareEpisodes gives AF episode and duration
// sensitivity and positive predictivity; AddNoise reproduces PhysioNet's
// nst noise stress test. The "vigil ecg eval" command prints these tables.
package ecg
