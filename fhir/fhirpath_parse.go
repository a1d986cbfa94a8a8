package fhir

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// This file is the FHIRPath lexer and parser (https://hl7.org/fhirpath/N1/#grammar)
// for the subset described in fhirpath.go, and the load-time pruning of
// union branches per resource type.

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tVar
	tOp // . | ( ) [ ] = != , and or as is
)

type token struct {
	kind tokKind
	s    string
}

func lexFHIRPath(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			j := i + 1
			var b strings.Builder
			for ; j < len(src) && src[j] != '\''; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string")
			}
			toks = append(toks, token{tString, b.String()})
			i = j + 1
		case c == '%':
			j := i + 1
			for j < len(src) && isIdentByte(src[j]) {
				j++
			}
			toks = append(toks, token{tVar, src[i+1 : j]})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			toks = append(toks, token{tNumber, src[i:j]})
			i = j
		case isIdentByte(c):
			j := i
			for j < len(src) && isIdentByte(src[j]) {
				j++
			}
			w := src[i:j]
			switch w {
			case "and", "or", "as", "is":
				toks = append(toks, token{tOp, w})
			default:
				toks = append(toks, token{tIdent, w})
			}
			i = j
		case c == '!' && i+1 < len(src) && src[i+1] == '=':
			toks = append(toks, token{tOp, "!="})
			i += 2
		case strings.IndexByte(".|()[]=,", c) >= 0:
			toks = append(toks, token{tOp, string(c)})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
	}
	return toks, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

type fpParser struct {
	toks []token
	pos  int
}

func (p *fpParser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{}
}

func (p *fpParser) next() token {
	t := p.peek()
	if p.pos < len(p.toks) {
		p.pos++
	}
	return t
}

func (p *fpParser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.s == s
}

func (p *fpParser) expect(s string) error {
	if !p.isOp(s) {
		return fmt.Errorf("expected %q at token %d", s, p.pos)
	}
	p.pos++
	return nil
}

// compileFHIRPath compiles a FHIRPath expression of the supported subset.
func compileFHIRPath(src string) (expr, error) {
	toks, err := lexFHIRPath(src)
	if err != nil {
		return nil, err
	}
	p := &fpParser{toks: toks}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q at token %d", p.peek().s, p.pos)
	}
	return e, nil
}

// Precedence, lowest first: or; and; = !=; |; as is; postfix (. [] calls).

func (p *fpParser) parseOr() (expr, error) {
	a, err := p.parseAnd()
	for err == nil && p.isOp("or") {
		p.next()
		var b expr
		if b, err = p.parseAnd(); err == nil {
			a = logic{a: a, b: b, or: true}
		}
	}
	return a, err
}

func (p *fpParser) parseAnd() (expr, error) {
	a, err := p.parseEq()
	for err == nil && p.isOp("and") {
		p.next()
		var b expr
		if b, err = p.parseEq(); err == nil {
			a = logic{a: a, b: b}
		}
	}
	return a, err
}

func (p *fpParser) parseEq() (expr, error) {
	a, err := p.parseUnion()
	for err == nil && (p.isOp("=") || p.isOp("!=")) {
		neg := p.next().s == "!="
		var b expr
		if b, err = p.parseUnion(); err == nil {
			a = equality{a: a, b: b, neg: neg}
		}
	}
	return a, err
}

func (p *fpParser) parseUnion() (expr, error) {
	a, err := p.parseTypeOp()
	for err == nil && p.isOp("|") {
		p.next()
		var b expr
		if b, err = p.parseTypeOp(); err == nil {
			a = union{a: a, b: b}
		}
	}
	return a, err
}

func (p *fpParser) parseTypeOp() (expr, error) {
	a, err := p.parsePostfix()
	for err == nil && (p.isOp("as") || p.isOp("is")) {
		op := p.next().s
		t := p.next()
		if t.kind != tIdent {
			return nil, fmt.Errorf("expected a type after %q", op)
		}
		if op == "as" {
			a = asType{base: a, typ: t.s}
		} else {
			a = isType{base: a, typ: t.s}
		}
	}
	return a, err
}

func (p *fpParser) parsePostfix() (expr, error) {
	e, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.next()
			t := p.next()
			if t.kind == tOp && (t.s == "as" || t.s == "is") { // .as(T), .is(T)
				t.kind = tIdent
			}
			if t.kind != tIdent {
				return nil, fmt.Errorf("expected a name after '.'")
			}
			if p.isOp("(") {
				if e, err = p.parseCall(e, t.s); err != nil {
					return nil, err
				}
			} else {
				e = child{base: e, name: t.s}
			}
		case p.isOp("["):
			p.next()
			t := p.next()
			n, err := strconv.Atoi(t.s)
			if t.kind != tNumber || err != nil || n < 0 {
				return nil, fmt.Errorf("expected an index")
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			e = index{base: e, n: n}
		default:
			return e, nil
		}
	}
}

// parseCall parses the argument list of function name applied to base.
func (p *fpParser) parseCall(base expr, name string) (expr, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var arg expr
	var argTok token
	if !p.isOp(")") {
		switch name {
		case "as", "ofType", "is":
			argTok = p.next()
			if argTok.kind != tIdent {
				return nil, fmt.Errorf("%s() expects a type", name)
			}
		case "extension":
			argTok = p.next()
			if argTok.kind != tString {
				return nil, fmt.Errorf("extension() expects a url")
			}
		default:
			var err error
			if arg, err = p.parseOr(); err != nil {
				return nil, err
			}
		}
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	switch name {
	case "as", "ofType":
		if argTok.s == "" {
			return nil, fmt.Errorf("%s() expects a type", name)
		}
		return asType{base: base, typ: argTok.s}, nil
	case "is":
		if argTok.s == "" {
			return nil, fmt.Errorf("is() expects a type")
		}
		return isType{base: base, typ: argTok.s}, nil
	case "extension":
		return extension{base: base, url: argTok.s}, nil
	case "where":
		if arg == nil {
			return nil, fmt.Errorf("where() expects a criteria")
		}
		return where{base: base, crit: arg}, nil
	case "resolve":
		return resolveExpr{base: base}, nil
	case "exists":
		if arg != nil {
			return exists{base: where{base: base, crit: arg}}, nil
		}
		return exists{base: base}, nil
	case "first":
		return index{base: base, n: 0}, nil
	}
	return nil, fmt.Errorf("unsupported function %s()", name)
}

func (p *fpParser) parsePrimary() (expr, error) {
	t := p.next()
	switch t.kind {
	case tIdent:
		if p.isOp("(") { // a function on the context: resolve(), exists()
			return p.parseCall(thisExpr{}, t.s)
		}
		switch t.s {
		case "true", "false":
			return literal{v: t.s == "true"}, nil
		case "$this":
			return thisExpr{}, nil
		}
		if t.s[0] >= 'A' && t.s[0] <= 'Z' {
			return rootType{name: t.s}, nil
		}
		return child{base: thisExpr{}, name: t.s}, nil
	case tString:
		return literal{v: t.s}, nil
	case tNumber:
		return literal{v: json.Number(t.s)}, nil
	case tVar:
		if t.s == "resource" {
			return resourceVar{}, nil
		}
		return nil, fmt.Errorf("unsupported variable %%%s", t.s)
	case tOp:
		if t.s == "(" {
			e, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			return e, p.expect(")")
		}
	}
	return nil, fmt.Errorf("unexpected %q", t.s)
}

// pruneFor removes the union branches of e that start at another resource
// type than typ, so that a shared expression such as
// "Account.subject | AllergyIntolerance.patient" costs one path per type.
// It returns nil when nothing is left.
func pruneFor(e expr, typ string) expr {
	if u, ok := e.(union); ok {
		a, b := pruneFor(u.a, typ), pruneFor(u.b, typ)
		switch {
		case a == nil:
			return b
		case b == nil:
			return a
		}
		return union{a: a, b: b}
	}
	if r := leftmostRoot(e); r != "" && r != typ && r != "Resource" && r != "DomainResource" {
		return nil
	}
	return e
}

// leftmostRoot returns the resource type an expression starts at, or "".
func leftmostRoot(e expr) string {
	for {
		switch x := e.(type) {
		case rootType:
			return x.name
		case child:
			e = x.base
		case asType:
			e = x.base
		case isType:
			e = x.base
		case where:
			e = x.base
		case index:
			e = x.base
		case resolveExpr:
			e = x.base
		case extension:
			e = x.base
		case exists:
			e = x.base
		default:
			return ""
		}
	}
}
