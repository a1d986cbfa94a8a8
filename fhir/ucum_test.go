package fhir

import (
	"math"
	"testing"
)

func TestUCUMEquivalences(t *testing.T) {
	for _, tc := range []struct {
		v1    float64
		unit1 string
		v2    float64
		unit2 string
	}{
		{1, "g", 1000, "mg"},
		{1, "kg", 1e6, "mg"},
		{1, "ug", 1000, "ng"},
		{98.6, "[degF]", 37, "Cel"},
		{37, "Cel", 310.15, "K"},
		{32, "[degF]", 0, "Cel"},
		{1, "L", 10, "dL"},
		{1, "mL", 1, "cm3"},
		{100, "mg/dL", 1, "g/L"},
		{5.5, "mmol/L", 5500, "umol/L"},
		{1, "h", 60, "min"},
		{1, "d", 24, "h"},
		{1, "wk", 7, "d"},
		{1, "a", 12, "mo"},
		{60, "/min", 1, "Hz"},
		{60, "{beats}/min", 1, "/s"},
		{72, "{beats}/min", 72, "/min"},
		{1, "kPa", 7.50061683, "mm[Hg]"},
		{1, "bar", 100, "kPa"},
		{1, "[lb_av]", 453.59237, "g"},
		{1, "[in_i]", 2.54, "cm"},
		{1, "[ft_i]", 12, "[in_i]"},
		{50, "%", 0.5, "1"},
		{22.5, "kg/m2", 225, "g/dm2"},
		{1, "10*3/uL", 1e9, "/L"},
		{1, "10^3/uL", 1, "10*9/L"},
		{1, "meq/L", 1000, "ueq/L"},
		{1, "kcal", 4184, "J"},
		{1, "U/L", 1, "umol/min/L"},
		{1, "m[IU]/mL", 1, "[IU]/L"},
		{1, "cm[H2O]", 98.0665, "Pa"},
	} {
		u1, ok1 := canonUnit(tc.unit1)
		u2, ok2 := canonUnit(tc.unit2)
		if !ok1 || !ok2 {
			t.Errorf("canonUnit(%q) ok=%v, canonUnit(%q) ok=%v; want both known", tc.unit1, ok1, tc.unit2, ok2)
			continue
		}
		if u1.canonCode() != u2.canonCode() {
			t.Errorf("canon code %q = %s, %q = %s; want equal", tc.unit1, u1.canonCode(), tc.unit2, u2.canonCode())
			continue
		}
		a, b := u1.convert(tc.v1), u2.convert(tc.v2)
		if math.Abs(a-b) > 1e-6*math.Max(math.Abs(a), math.Abs(b)) {
			t.Errorf("%v %s = %v %s, %v %s = %v; want equal", tc.v1, tc.unit1, a, u1.canonCode(), tc.v2, tc.unit2, b)
		}
	}
}

func TestUCUMExact(t *testing.T) {
	// 1 g and 1000 mg must give the same float, so that stores can compare
	// canonical values for equality.
	g, _ := canonUnit("g")
	mg, _ := canonUnit("mg")
	if a, b := g.convert(1), mg.convert(1000); a != b {
		t.Errorf("1 g → %v, 1000 mg → %v; want identical", a, b)
	}
	for _, tc := range []struct{ unit, canon string }{
		{"mg/dL", "g.m-3"},
		{"mmol/L", "m-3.mol"},
		{"mm[Hg]", "g.m-1.s-2"},
		{"Cel", "K"},
		{"%", "1"},
		{"kg/m2", "g.m-2"},
		{"/min", "s-1"},
		{"cm", "m"},
		{"[iU]/L", "m-3.IU"},
	} {
		u, ok := canonUnit(tc.unit)
		if !ok || u.canonCode() != tc.canon {
			t.Errorf("canonUnit(%q) = %q, %v; want %q", tc.unit, u.canonCode(), ok, tc.canon)
		}
	}
}

func TestUCUMDifferentDimensions(t *testing.T) {
	// Glucose 1 mmol/L is 18 mg/dL, but that needs the molar mass: the
	// units are of different dimensions and must not be converted.
	a, _ := canonUnit("mmol/L")
	b, _ := canonUnit("mg/dL")
	if a.canonCode() == b.canonCode() {
		t.Errorf("mmol/L and mg/dL share canon code %q", a.canonCode())
	}
}

func TestUCUMUnknown(t *testing.T) {
	for _, code := range []string{"", "beats", "xyz", "mg/", "/", "(mg", "mg)", "Cel/h", "mCel", "2Cel",
		"[degF]2", "m[Hg", "{beats", "kg/m2/", "10*", "m123", "Cel.m", "g..m"} {
		if u, ok := canonUnit(code); ok {
			t.Errorf("canonUnit(%q) = %s, want unknown", code, u.canonCode())
		}
	}
}

// FuzzCanonUnit checks that unit parsing never panics and that a known
// unit converts finite values to finite values.
func FuzzCanonUnit(f *testing.F) {
	for _, s := range []string{"mg/dL", "mm[Hg]", "10*3/uL", "{beats}/min", "kg/m2", "Cel", "[degF]", "(m.s)/s2", "m[IU]/mL"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		u, ok := canonUnit(code)
		if !ok {
			return
		}
		if c := u.canonCode(); c == "" {
			t.Fatalf("canonUnit(%q) has an empty canonical code", code)
		}
		_ = u.convert(1)
	})
}
