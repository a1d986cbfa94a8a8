// Package vitals is Vigil's vital-sign vocabulary and the normalisation every
// reading goes through at ingest, whatever path it came by (HTTP batch, FHIR,
// MQTT, HL7 v2).
//
// # Codes
//
// Parameters are identified by LOINC codes, as in the FHIR R4 vital-signs
// profiles (https://hl7.org/fhir/R4/observation-vitalsigns.html): heart rate
// 8867-4, respiratory rate 9279-1, SpO2 2708-6 and 59408-5, body temperature
// 8310-5, systolic 8480-6 and diastolic 8462-4 (components of the panel
// 85354-9, which has no value of its own and is rejected here), body weight
// 29463-7, body height 8302-2, BMI 39156-5. Glucose: 2339-0 and 15074-8
// (blood, mass and substance concentration), 2345-7 (serum or plasma), 41653-7
// and 14743-9 (capillary blood by glucometer), 99504-3 and 105272-9
// (interstitial fluid, i.e. CGM; codes as used by the HL7 CGM implementation
// guide, http://hl7.org/fhir/uv/cgm, and the German BfArM HDDT value set
// VS-Tissue-Glucose-CGM). Oxygen therapy, for NEWS2: 3150-0 inhaled oxygen
// concentration (FiO2, %) and 3151-8 inhaled oxygen flow rate (L/min).
//
// Consciousness uses LOINC 67775-7 "Level of responsiveness". Its LOINC
// answer list is AVPU; NEWS2 needs ACVPU (RCP 2017 adds "new confusion").
// Vigil therefore carries the level as an ordinal value with the UCUM
// annotation unit "{ACVPU}": 0 Alert, 1 new Confusion, 2 Voice, 3 Pain,
// 4 Unresponsive (see ACVPU). The ordinal encoding is a Vigil convention; a
// FHIR gateway should map SNOMED CT findings (248234008 alert, 300202002
// responds to voice, 450847001 responds to pain, 422768004 unresponsive) and
// new confusion to these values before calling Normalize.
//
// # Units
//
// Each code has one canonical UCUM unit (https://ucum.org/ucum): /min, %, Cel,
// mm[Hg], kg, cm, kg/m2, L/min, {ACVPU}; glucose codes whose LOINC property
// is mass concentration (MCnc) are stored in mg/dL and those with substance
// concentration (SCnc) in mmol/L. Accepted input units and conversions:
//
//	[degF] → Cel        (x − 32) × 5/9
//	kPa → mm[Hg]        × 7.500615 (1 mm[Hg] = 133.322 Pa, UCUM)
//	[lb_av] → kg        × 0.45359237 (exact, UCUM)
//	g → kg              ÷ 1000
//	[in_i] → cm         × 2.54 (exact, UCUM); m → cm × 100
//	mmol/L ↔ mg/dL      × or ÷ 18.016 for glucose (molar mass of glucose
//	                    C6H12O6 180.16 g/mol; 1 mmol/L = 18.016 mg/dL)
//
// A few common non-UCUM spellings from devices are accepted as aliases and
// listed in unitAlias (mg/dl, mmol/l, bpm, mmHg, degC, degF, lb, in, …);
// anything else is an error. Units are case-sensitive as in UCUM.
//
// # Fail closed
//
// An unknown code, an unknown unit, a unit of the wrong dimension, a value
// that is NaN or infinite, or a value outside the plausibility range of the
// parameter is an error wrapping vigil.ErrInvalid (and one of ErrUnknownCode,
// ErrUnknownUnit, ErrImplausible). The public message names the code and unit
// but never the value, so it carries no patient data.
//
// Plausibility ranges reject what cannot be a measurement of a living
// patient, not what is merely abnormal: an alarming value must reach the
// analysers. Bounds are set just outside published extremes of survival or of
// human size and outside device measurement ranges; see the table in
// ranges.go for each bound and its source.
//
// Normalize does not allocate; it is meant for the ingest hot path
// (≥ 200,000 readings/s).
package vitals
