package fhir

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// This file converts UCUM unit codes (https://ucum.org/ucum, the case
// sensitive "c/s" form) to canonical base units, so that a quantity search
// for 1 g finds 1000 mg (https://hl7.org/fhir/R4/search.html#quantity).
//
// Covered:
//   - base units m (metre), g (gram), s (second), K (kelvin), mol, eq
//     (equivalents), A (ampere), cd, and the arbitrary [iU]/[IU] (kept as
//     its own dimension, "IU");
//   - metric prefixes y z a f p n u m c d da h k M G T P E Z Y on metric
//     atoms (m g s L l mol eq K A Pa bar N J W Hz cal U [iU] [IU] m[Hg]
//     cm[H2O] Cel);
//   - derived and customary atoms: L/l, min h d wk mo (mean Julian month)
//     a (Julian year), Pa bar N J W Hz cal U (µmol/min), m[Hg], cm[H2O],
//     [in_i] [ft_i] [yd_i] [mi_i] [lb_av] [oz_av] [gr] [degF], Cel, %,
//     [ppm] [ppb], 10*n and 10^n factors, integer exponents (m2, s-1),
//     "." and "/" (left to right), parentheses and {annotations} (= 1,
//     so {beats}/min is /min);
//   - Cel and [degF] are affine (K = Cel + 273.15) and only converted when
//     they stand alone.
//
// The canonical code lists the base dimensions in a fixed order with
// their exponents, joined by "." ("g.m-3", "m.s-2", "K", "1" for
// dimensionless). Units with another canonical code are not comparable:
// mmol/L (mol.m-3) never matches mg/dL (g.m-3).
// A code outside this table has no canonical form; that is not an error.

// ucumBases are the base dimensions, in canonical order.
var ucumBases = [...]string{"g", "m", "s", "K", "mol", "eq", "A", "cd", "IU"}

const nBases = len(ucumBases)

// dims are exponents of the base dimensions.
type dims [nBases]int8

// ucumUnit is a parsed unit: value × factor + offset is in base units.
type ucumUnit struct {
	factor float64
	offset float64
	dim    dims
	affine bool
}

type ucumAtom struct {
	factor float64
	dim    dims
	metric bool
	offset float64 // non-zero or affine for Cel/[degF]
	affine bool
}

func dimOf(pairs ...int) dims {
	var d dims
	for i := 0; i+1 < len(pairs); i += 2 {
		d[pairs[i]] = int8(pairs[i+1])
	}
	return d
}

const (
	dG = iota
	dM
	dS
	dK
	dMol
	dEq
	dA
	dCd
	dIU
)

// ucumAtoms is the unit table; read-only.
var ucumAtoms = map[string]ucumAtom{
	"g":    {1, dimOf(dG, 1), true, 0, false},
	"m":    {1, dimOf(dM, 1), true, 0, false},
	"s":    {1, dimOf(dS, 1), true, 0, false},
	"K":    {1, dimOf(dK, 1), true, 0, false},
	"mol":  {1, dimOf(dMol, 1), true, 0, false},
	"eq":   {1, dimOf(dEq, 1), true, 0, false},
	"A":    {1, dimOf(dA, 1), true, 0, false},
	"cd":   {1, dimOf(dCd, 1), true, 0, false},
	"[iU]": {1, dimOf(dIU, 1), true, 0, false},
	"[IU]": {1, dimOf(dIU, 1), true, 0, false},
	"L":    {1e-3, dimOf(dM, 3), true, 0, false},
	"l":    {1e-3, dimOf(dM, 3), true, 0, false},
	"min":  {60, dimOf(dS, 1), false, 0, false},
	"h":    {3600, dimOf(dS, 1), false, 0, false},
	"d":    {86400, dimOf(dS, 1), false, 0, false},
	"wk":   {604800, dimOf(dS, 1), false, 0, false},
	"mo":   {2629800, dimOf(dS, 1), false, 0, false},
	"a":    {31557600, dimOf(dS, 1), false, 0, false},
	"Hz":   {1, dimOf(dS, -1), true, 0, false},
	"N":    {1000, dimOf(dG, 1, dM, 1, dS, -2), true, 0, false},
	"Pa":   {1000, dimOf(dG, 1, dM, -1, dS, -2), true, 0, false},
	"bar":  {1e8, dimOf(dG, 1, dM, -1, dS, -2), true, 0, false},
	"J":    {1000, dimOf(dG, 1, dM, 2, dS, -2), true, 0, false},
	"W":    {1000, dimOf(dG, 1, dM, 2, dS, -3), true, 0, false},
	"cal":  {4184, dimOf(dG, 1, dM, 2, dS, -2), true, 0, false},
	"U":    {1e-6 / 60, dimOf(dMol, 1, dS, -1), true, 0, false},
	// mercury column: 133.322387415 Pa per mm, i.e. per m × 1000.
	"m[Hg]":   {133322387.415, dimOf(dG, 1, dM, -1, dS, -2), true, 0, false},
	"m[H2O]":  {9806650, dimOf(dG, 1, dM, -1, dS, -2), true, 0, false},
	"[in_i]":  {0.0254, dimOf(dM, 1), false, 0, false},
	"[ft_i]":  {0.3048, dimOf(dM, 1), false, 0, false},
	"[yd_i]":  {0.9144, dimOf(dM, 1), false, 0, false},
	"[mi_i]":  {1609.344, dimOf(dM, 1), false, 0, false},
	"[lb_av]": {453.59237, dimOf(dG, 1), false, 0, false},
	"[oz_av]": {28.349523125, dimOf(dG, 1), false, 0, false},
	"[gr]":    {0.06479891, dimOf(dG, 1), false, 0, false},
	"%":       {0.01, dims{}, false, 0, false},
	"[ppm]":   {1e-6, dims{}, false, 0, false},
	"[ppb]":   {1e-9, dims{}, false, 0, false},
	"Cel":     {1, dimOf(dK, 1), true, 273.15, true},
	"[degF]":  {5.0 / 9, dimOf(dK, 1), false, 459.67 * 5 / 9, true},
}

// ucumPrefixes are the metric prefixes; read-only.
var ucumPrefixes = map[string]float64{
	"Y": 1e24, "Z": 1e21, "E": 1e18, "P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6, "k": 1e3,
	"h": 1e2, "da": 1e1, "d": 1e-1, "c": 1e-2, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12,
	"f": 1e-15, "a": 1e-18, "z": 1e-21, "y": 1e-24,
}

var errUnit = errors.New("unknown unit")

// canonUnit parses a UCUM code. ok is false for codes outside the table.
func canonUnit(code string) (ucumUnit, bool) {
	if code == "" || len(code) > 64 {
		return ucumUnit{}, false
	}
	p := ucumParser{s: code}
	u, err := p.term()
	if err != nil || p.i != len(p.s) {
		return ucumUnit{}, false
	}
	return u, true
}

// canonCode is the canonical code of a unit.
func (u ucumUnit) canonCode() string {
	var b strings.Builder
	for i, e := range u.dim {
		if e == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(ucumBases[i])
		if e != 1 {
			b.WriteString(strconv.Itoa(int(e)))
		}
	}
	if b.Len() == 0 {
		return "1"
	}
	return b.String()
}

// convert returns v in canonical units.
func (u ucumUnit) convert(v float64) float64 {
	return roundSig(v*u.factor + u.offset)
}

// roundSig rounds to 12 significant digits so that 1 g and 1000 mg give
// the same canonical value despite binary floating point.
func roundSig(v float64) float64 {
	if v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	f, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	if err != nil {
		return v
	}
	return f
}

type ucumParser struct {
	s string
	i int
}

// term = ["/"] component (("." | "/") component)*
func (p *ucumParser) term() (ucumUnit, error) {
	u := ucumUnit{factor: 1}
	div := false
	if p.i < len(p.s) && p.s[p.i] == '/' {
		div = true
		p.i++
	}
	first := true
	for {
		c, err := p.component()
		if err != nil {
			return u, err
		}
		if c.affine {
			if !first || div || p.i < len(p.s) && p.s[p.i] != ')' {
				return u, errUnit // affine units only alone
			}
		}
		if div {
			if c.affine {
				return u, errUnit
			}
			u.factor /= c.factor
			for k := range u.dim {
				u.dim[k] -= c.dim[k]
			}
		} else {
			u.factor *= c.factor
			u.offset = c.offset
			u.affine = c.affine
			for k := range u.dim {
				u.dim[k] += c.dim[k]
			}
		}
		first = false
		if p.i >= len(p.s) || p.s[p.i] == ')' {
			return u, nil
		}
		switch p.s[p.i] {
		case '.':
			div = false
		case '/':
			div = true
		default:
			return u, errUnit
		}
		if u.affine {
			return u, errUnit
		}
		p.i++
	}
}

// component = "(" term ")" | annotation | number | atom [exponent] [annotation]
func (p *ucumParser) component() (ucumUnit, error) {
	if p.i >= len(p.s) {
		return ucumUnit{}, errUnit
	}
	switch c := p.s[p.i]; {
	case c == '(':
		p.i++
		u, err := p.term()
		if err != nil || p.i >= len(p.s) || p.s[p.i] != ')' {
			return u, errUnit
		}
		p.i++
		return u, nil
	case c == '{':
		if err := p.annotation(); err != nil {
			return ucumUnit{}, err
		}
		return ucumUnit{factor: 1}, nil
	case c >= '0' && c <= '9':
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(p.s[p.i:j])
		if err != nil {
			return ucumUnit{}, errUnit
		}
		p.i = j
		if n == 10 && p.i < len(p.s) && (p.s[p.i] == '*' || p.s[p.i] == '^') {
			p.i++
			e, ok := p.exponent()
			if !ok {
				return ucumUnit{}, errUnit
			}
			return ucumUnit{factor: math.Pow(10, float64(e))}, p.optAnnotation()
		}
		return ucumUnit{factor: float64(n)}, p.optAnnotation()
	}
	// An atom runs to the next operator, digit exponent, annotation or paren,
	// but square brackets may hold anything.
	j := p.i
	for j < len(p.s) {
		c := p.s[j]
		if c == '[' {
			k := strings.IndexByte(p.s[j:], ']')
			if k < 0 {
				return ucumUnit{}, errUnit
			}
			j += k + 1
			continue
		}
		if c == '.' || c == '/' || c == '(' || c == ')' || c == '{' || c == '+' || c == '-' || c >= '0' && c <= '9' {
			break
		}
		j++
	}
	name := p.s[p.i:j]
	p.i = j
	a, ok := lookupAtom(name)
	if !ok {
		return ucumUnit{}, errUnit
	}
	u := ucumUnit{factor: a.factor, dim: a.dim, offset: a.offset, affine: a.affine}
	if p.i < len(p.s) && (p.s[p.i] == '-' || p.s[p.i] == '+' || p.s[p.i] >= '0' && p.s[p.i] <= '9') {
		e, ok := p.exponent()
		if !ok || u.affine {
			return ucumUnit{}, errUnit
		}
		u.factor = math.Pow(u.factor, float64(e))
		for k := range u.dim {
			u.dim[k] *= int8(e)
		}
	}
	return u, p.optAnnotation()
}

func (p *ucumParser) exponent() (int, bool) {
	j := p.i
	if j < len(p.s) && (p.s[j] == '-' || p.s[j] == '+') {
		j++
	}
	k := j
	for k < len(p.s) && p.s[k] >= '0' && p.s[k] <= '9' {
		k++
	}
	if k == j || k-j > 2 {
		return 0, false
	}
	e, err := strconv.Atoi(p.s[p.i:k])
	if err != nil {
		return 0, false
	}
	p.i = k
	return e, true
}

func (p *ucumParser) annotation() error {
	k := strings.IndexByte(p.s[p.i:], '}')
	if k < 0 {
		return errUnit
	}
	p.i += k + 1
	return nil
}

func (p *ucumParser) optAnnotation() error {
	if p.i < len(p.s) && p.s[p.i] == '{' {
		return p.annotation()
	}
	return nil
}

// lookupAtom finds a unit atom, with a metric prefix when the atom is
// metric. An exact atom wins over a prefix reading ("cd" is candela).
func lookupAtom(name string) (ucumAtom, bool) {
	if a, ok := ucumAtoms[name]; ok {
		return a, true
	}
	for _, n := range []int{1, 2} {
		if len(name) <= n {
			break
		}
		f, ok := ucumPrefixes[name[:n]]
		if !ok {
			continue
		}
		a, ok := ucumAtoms[name[n:]]
		if !ok || !a.metric {
			continue
		}
		a.factor *= f
		if a.affine {
			return ucumAtom{}, false
		}
		return a, true
	}
	return ucumAtom{}, false
}

// ucumSystem is the UCUM code system URL.
const ucumSystem = "http://unitsofmeasure.org"
