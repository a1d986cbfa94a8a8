package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/vitals"
)

// Kind is a rule type.
type Kind string

// Rule kinds.
const (
	Threshold Kind = "threshold"
	Trend     Kind = "trend"
	Rate      Kind = "rate"
	Missing   Kind = "missing"
)

// Op is a comparison.
type Op string

// Comparisons.
const (
	Less         Op = "<"
	LessEqual    Op = "<="
	Greater      Op = ">"
	GreaterEqual Op = ">="
)

func (o Op) holds(x, v float64) bool {
	switch o {
	case Less:
		return x < v
	case LessEqual:
		return x <= v
	case Greater:
		return x > v
	case GreaterEqual:
		return x >= v
	}
	return false
}

// Severity is how urgent a finding is.
type Severity string

// Severities, in increasing order.
const (
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Duration is a time.Duration that reads and writes JSON as a string such as
// "5m", "4h" or "3d" (a day is 24 h).
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	if td := time.Duration(d); td > 0 && td%(24*time.Hour) == 0 {
		return []byte(strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"), nil
	}
	return []byte(time.Duration(d).String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || n > 3650 {
			return vigil.Errorf(vigil.ErrInvalid, "rules: invalid duration %q", clip(s))
		}
		*d = Duration(n * float64(24*time.Hour))
		return nil
	}
	td, err := time.ParseDuration(s)
	if err != nil {
		return vigil.Errorf(vigil.ErrInvalid, "rules: invalid duration %q", clip(s))
	}
	*d = Duration(td)
	return nil
}

// Rule is one monitoring rule. See the package doc for what each kind means.
type Rule struct {
	ID       string   `json:"id"`
	Kind     Kind     `json:"kind"`
	Code     string   `json:"code"`              // LOINC code; Value is in its canonical unit
	Op       Op       `json:"op,omitempty"`      // threshold, trend, rate
	Value    float64  `json:"value,omitempty"`   // threshold, change, or rate per Per
	For      Duration `json:"for,omitempty"`     // threshold: how long; missing: longest silence
	Window   Duration `json:"window,omitempty"`  // trend, rate
	Per      Duration `json:"per,omitempty"`     // rate: time unit of Value; default 1h
	MaxGap   Duration `json:"max_gap,omitempty"` // threshold: longest gap between readings
	Severity Severity `json:"severity"`
}

// Validate checks r and reports the first problem, wrapping vigil.ErrInvalid.
func (r *Rule) Validate() error {
	bad := func(format string, args ...any) error {
		return vigil.Errorf(vigil.ErrInvalid, "rules: rule %q: "+format, append([]any{clip(r.ID)}, args...)...)
	}
	if r.ID == "" {
		return vigil.Errorf(vigil.ErrInvalid, "rules: rule without an id")
	}
	if p, _ := vitals.ParamOf(r.Code); p == vitals.ParamUnknown {
		return bad("unknown code %q", clip(r.Code))
	}
	switch r.Severity {
	case Low, Medium, High, Critical:
	default:
		return bad("unknown severity %q", clip(string(r.Severity)))
	}
	if r.For < 0 || r.Window < 0 || r.Per < 0 || r.MaxGap < 0 {
		return bad("negative duration")
	}
	switch r.Kind {
	case Threshold, Trend, Rate:
		switch r.Op {
		case Less, LessEqual, Greater, GreaterEqual:
		default:
			return bad("unknown op %q", clip(string(r.Op)))
		}
		if r.Kind != Threshold && r.Window <= 0 {
			return bad("%s needs a window", r.Kind)
		}
	case Missing:
		if r.For <= 0 {
			return bad("missing needs for > 0")
		}
	default:
		return bad("unknown kind %q", clip(string(r.Kind)))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// String describes the rule for logs and UIs, e.g. "2708-6 < 90 for 5m0s".
func (r *Rule) String() string {
	switch r.Kind {
	case Threshold:
		return fmt.Sprintf("%s %s %g for %v", r.Code, r.Op, r.Value, time.Duration(r.For))
	case Trend:
		return fmt.Sprintf("%s change %s %g within %v", r.Code, r.Op, r.Value, time.Duration(r.Window))
	case Rate:
		return fmt.Sprintf("%s rate %s %g per %v within %v", r.Code, r.Op, r.Value, time.Duration(r.per()), time.Duration(r.Window))
	case Missing:
		return fmt.Sprintf("no %s for %v", r.Code, time.Duration(r.For))
	}
	return r.ID
}

func (r *Rule) per() time.Duration {
	if r.Per <= 0 {
		return time.Hour
	}
	return time.Duration(r.Per)
}
