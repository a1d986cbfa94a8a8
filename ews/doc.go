// Package ews computes the National Early Warning Score 2 (NEWS2) of the
// Royal College of Physicians: "National Early Warning Score (NEWS) 2:
// Standardising the assessment of acute-illness severity in the NHS. Updated
// report of a working party", RCP London, December 2017. Chart 1 (the NEWS2
// scoring system) gives the bands implemented in score.go; chart 2 (NEWS
// thresholds and triggers) the risk bands; chart 3 (clinical response to
// NEWS trigger thresholds) the response text.
//
// # Inputs
//
// An Input holds the latest value of each of the seven parameters with the
// time it was measured: respiration rate, SpO2, air or oxygen, systolic blood
// pressure, pulse, level of consciousness (ACVPU) and temperature, plus the
// patient's SpO2 scale. Scale 2 is used only when Input.Scale2 is set, i.e.
// when a clinician has documented a target SpO2 of 88–92 % (hypercapnic
// respiratory failure); otherwise scale 1. Input.Observe feeds normalised
// readings from package vitals and keeps the newest value per parameter even
// when readings arrive out of order.
//
// # Freshness and partial scores
//
// Calculate uses only values measured within Options.MaxAge of now; older
// ones are reported missing. NEWS2 is defined on all seven parameters, so a
// result with missing parameters is partial (Result.Partial). Its Score is
// the sum of the parameters present, which is a lower bound of the true
// score, since every missing parameter can only add points; Band and
// Response are derived from that lower bound, and Result.MaxScore gives the
// upper bound (each missing parameter at its worst). A consumer must not
// present a partial low band as reassurance: show "≥ Score" and the missing
// parameters. When SpO2 is on scale 2 and air/oxygen is missing, SpO2 is
// scored as on air (the lower bound) and MaxScore accounts for oxygen.
//
// # Values between chart bands
//
// The chart lists whole numbers (temperature to 0.1 °C). A value falling
// between two listed values (respiration rate 20.5, temperature 36.05) scores
// as the adjacent band with the higher score: the conservative reading of
// the chart, which never under-scores a value that rounding either way could
// put in a worse band. Values are first rounded to 1e-6 to remove
// floating-point noise from unit conversion (100.4 °F is 38.0 °C, not
// 38.00000000000001).
package ews
