// Package monitor analyses each patient's stream of stored readings as
// they arrive: it keeps the latest value of each NEWS2 parameter and
// recomputes the score whenever one changes (package ews, RCP 2017), runs
// the patient's own rules (thresholds, trends, rates, missing data —
// package rules), and turns what it finds into alert findings for the
// alert engine. It also answers the worklist: patients ordered by current
// risk.
//
// Streamed ECG chunks (ObserveWaveforms) are analysed per lead without
// re-reading history (package ecg): rhythm episodes become alerts; with
// classification on, every beat is classified (package beatclass) and
// stored with the findings it adds up to (runs, burdens, AF); a heart-rate
// sample is stored every 30 s of signal and analysed like any reading; and
// each complete 5-minute window gives an "hrv" finding (Task Force
// ESC/NASPE 1996 short-term measures over the NN intervals).
//
// Patients are sharded over a fixed set of locks, so different patients
// are analysed in parallel and one patient's readings in order. A
// patient's state is rebuilt from the sample store the first time the
// patient is seen after a start, so analysis resumes after a restart; that
// build runs outside the shard lock, so it holds up no other patient.
package monitor
