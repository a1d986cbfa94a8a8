// Package ecg is Vigil's electrocardiogram engine: it reads PhysioNet WFDB
// records and annotation files, conditions the signal, detects heartbeats
// causally and in a streaming fashion, scores detectors the way ANSI/AAMI
// EC57 prescribes, measures heart rate and heart-rate variability, and
// recognises rhythms such as atrial fibrillation.
//
// The package is pure: it does no file or network I/O of its own. Records
// are read from an fs.FS (pass os.DirFS(dir)) and annotations from an
// io.Reader, so the same code serves tests, the command line and the server.
//
// # WFDB
//
// ReadRecord parses a WFDB header (PhysioNet, "header(5)") and its signal
// files in formats 212 (two 12-bit samples in three bytes) and 16 (16-bit
// little-endian); ReadAnnotations and WriteAnnotations read and write the
// MIT annotation format ("annot(5)"), including the SKIP, NUM, SUB, CHN and
// AUX pseudo-annotations. Samples stay in raw ADC units; Signal.Gain and
// Signal.Baseline convert them to physical units. See
// https://physionet.org/physiotools/wag/header-5.htm,
// https://physionet.org/physiotools/wag/signal-5.htm and
// https://physionet.org/physiotools/wag/annot-5.htm.
//
// AAMIClass maps MIT-BIH beat labels to the five ANSI/AAMI EC57 classes
// (N, S, V, F, Q) used by the inter-patient evaluation of de Chazal et al.
// (2004).
package ecg
