package vitals

// dim is the physical dimension of a parameter; it decides which input
// units are convertible.
type dim uint8

const (
	dimRateBeats dim = iota + 1
	dimRateBreaths
	dimPercent
	dimTemp
	dimPressure
	dimMass
	dimLength
	dimBMI
	dimGlucose
	dimACVPU
	dimFlow
)

// spec describes one accepted code.
type spec struct {
	code     string
	param    Param
	dim      dim
	unit     string  // canonical UCUM unit
	min, max float64 // plausible range in unit, inclusive
	integer  bool    // value must be a whole number
}

// Plausibility ranges. They reject what cannot be a measurement of a living
// patient and keep everything merely abnormal. Sources for each bound:
//
//   - heart rate 10–350 /min: IEC 60601-2-27 requires monitors to measure at
//     least 30–200 /min; monitors report 15–300 and neonatal/SVT rates reach
//     ~300; the bounds sit outside all of these.
//   - respiratory rate 0–120 /min: 0 is apnoea, a real (critical) finding;
//     neonatal tachypnoea stays well under 120.
//   - SpO2 20–100 %: saturation cannot exceed 100 %; pulse oximeters are
//     specified down to 70 % (ISO 80601-2-61) and display lower values
//     unreliably; below 20 % is not a living patient's reading.
//   - body temperature 10–47 Cel: survived accidental hypothermia has been
//     reported at 11.8–13.7 Cel (Gilbert et al., Lancet 2000;355:375) and
//     heat stroke at 46.5 Cel (Slovis et al., 1980).
//   - systolic 20–400, diastolic 5–300 mm[Hg]: intra-arterial pressures up
//     to 480/350 mm[Hg] were measured during heavy lifting (MacDougall et al.,
//     J Appl Physiol 1985;58:785); cuff devices measure 0–300.
//   - weight 0.2–700 kg: the smallest surviving preterm infants weigh about
//     0.21 kg at birth; the heaviest recorded human about 635 kg.
//   - height 20–280 cm: extremely preterm infants are about 20–25 cm long;
//     the tallest recorded human was 272 cm.
//   - BMI 5–250 kg/m2: values near 7 are reported in severe anorexia
//     nervosa; the heaviest recorded human was about 185 kg/m2.
//   - glucose 1–3000 mg/dL (0.0555–166.5 mmol/L): lab and meter methods
//     report down to ~1 mmol/L; a survived plasma glucose of 2656 mg/dL
//     (147.6 mmol/L) is on record.
//   - ACVPU 0–4, whole numbers only.
//   - FiO2 21–100 %: room air is 21 %; more than 100 % is impossible.
//   - oxygen flow 0–80 L/min: high-flow nasal cannula systems deliver up to
//     60–80 L/min.
var specs = [...]spec{
	{CodeHeartRate, HeartRate, dimRateBeats, "/min", 10, 350, false},
	{CodeRespRate, RespRate, dimRateBreaths, "/min", 0, 120, false},
	{CodeSpO2, SpO2, dimPercent, "%", 20, 100, false},
	{CodeSpO2PulseOx, SpO2, dimPercent, "%", 20, 100, false},
	{CodeBodyTemp, BodyTemp, dimTemp, "Cel", 10, 47, false},
	{CodeSystolic, Systolic, dimPressure, "mm[Hg]", 20, 400, false},
	{CodeDiastolic, Diastolic, dimPressure, "mm[Hg]", 5, 300, false},
	{CodeWeight, Weight, dimMass, "kg", 0.2, 700, false},
	{CodeHeight, Height, dimLength, "cm", 20, 280, false},
	{CodeBMI, BMI, dimBMI, "kg/m2", 5, 250, false},
	{CodeGlucoseBlood, Glucose, dimGlucose, "mg/dL", glucoseMinMg, glucoseMaxMg, false},
	{CodeGlucoseBloodMolar, Glucose, dimGlucose, "mmol/L", glucoseMinMg / GlucoseMgdLPerMmolL, glucoseMaxMg / GlucoseMgdLPerMmolL, false},
	{CodeGlucoseSerum, Glucose, dimGlucose, "mg/dL", glucoseMinMg, glucoseMaxMg, false},
	{CodeGlucoseMeter, Glucose, dimGlucose, "mg/dL", glucoseMinMg, glucoseMaxMg, false},
	{CodeGlucoseMeterMolar, Glucose, dimGlucose, "mmol/L", glucoseMinMg / GlucoseMgdLPerMmolL, glucoseMaxMg / GlucoseMgdLPerMmolL, false},
	{CodeGlucoseCGM, Glucose, dimGlucose, "mg/dL", glucoseMinMg, glucoseMaxMg, false},
	{CodeGlucoseCGMMolar, Glucose, dimGlucose, "mmol/L", glucoseMinMg / GlucoseMgdLPerMmolL, glucoseMaxMg / GlucoseMgdLPerMmolL, false},
	{CodeConsciousness, Consciousness, dimACVPU, "{ACVPU}", 0, 4, true},
	{CodeInspiredO2Fraction, InspiredO2Fraction, dimPercent, "%", 21, 100, false},
	{CodeInspiredO2Flow, InspiredO2Flow, dimFlow, "L/min", 0, 80, false},
}

const (
	glucoseMinMg = 1.0
	glucoseMaxMg = 3000.0
)

// lookup returns the spec of code, or nil. A switch compiles to a binary
// search on the string and does not allocate.
func lookup(code string) *spec {
	i := -1
	switch code {
	case CodeHeartRate:
		i = 0
	case CodeRespRate:
		i = 1
	case CodeSpO2:
		i = 2
	case CodeSpO2PulseOx:
		i = 3
	case CodeBodyTemp:
		i = 4
	case CodeSystolic:
		i = 5
	case CodeDiastolic:
		i = 6
	case CodeWeight:
		i = 7
	case CodeHeight:
		i = 8
	case CodeBMI:
		i = 9
	case CodeGlucoseBlood:
		i = 10
	case CodeGlucoseBloodMolar:
		i = 11
	case CodeGlucoseSerum:
		i = 12
	case CodeGlucoseMeter:
		i = 13
	case CodeGlucoseMeterMolar:
		i = 14
	case CodeGlucoseCGM:
		i = 15
	case CodeGlucoseCGMMolar:
		i = 16
	case CodeConsciousness:
		i = 17
	case CodeInspiredO2Fraction:
		i = 18
	case CodeInspiredO2Flow:
		i = 19
	default:
		return nil
	}
	return &specs[i]
}
