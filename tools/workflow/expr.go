package workflow

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Value is an expression value: nil, bool, float64 or string (GitHub
// Actions expressions know no other types that this workflow uses).
type Value any

// Context resolves what an expression names: a property path
// (matrix.k8s, steps.node-cache.outputs.cache-matched-key) and the
// functions it calls, by lower-case name (hashfiles, always, ...).
type Context interface {
	Lookup(path []string) (Value, error)
	Call(name string, args []Value) (Value, error)
}

// Eval evaluates one expression (the text between "${{" and "}}").
func Eval(expr string, ctx Context) (Value, error) {
	p := &parser{src: expr, ctx: ctx}
	p.next()
	v, err := p.or()
	if err == nil {
		err = p.err
	}
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", expr, err)
	}
	if p.tok.kind != tokEOF {
		return nil, fmt.Errorf("expression %q: unexpected %q", expr, p.tok.text)
	}
	return v, nil
}

// Interpolate replaces every ${{ expr }} in s by its value as a string.
func Interpolate(s string, ctx Context) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return "", fmt.Errorf("unterminated ${{ in %q", s)
		}
		v, err := Eval(s[i+3:i+j], ctx)
		if err != nil {
			return "", err
		}
		b.WriteString(s[:i])
		b.WriteString(String(v))
		s = s[i+j+2:]
	}
}

// Condition evaluates a step's or job's if: with or without ${{ }}.
// An empty condition is success(), as on GitHub.
func Condition(cond string, ctx Context) (bool, error) {
	cond = strings.TrimSpace(cond)
	if cond == "" {
		cond = "success()"
	}
	if strings.HasPrefix(cond, "${{") && strings.HasSuffix(cond, "}}") && strings.Count(cond, "${{") == 1 {
		cond = cond[3 : len(cond)-2]
	}
	// GitHub reads a condition without a status function as
	// success() && (condition): it does not run after a failure or a
	// cancellation.
	if !statusCall.MatchString(cond) {
		cond = "success() && (" + cond + ")"
	}
	v, err := Eval(cond, ctx)
	if err != nil {
		return false, err
	}
	return Truthy(v), nil
}

var statusCall = regexp.MustCompile(`(?i)\b(success|failure|always|cancelled)\s*\(`)

// Truthy is GitHub's truthiness: false, 0, "" and null are false.
func Truthy(v Value) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	}
	return true
}

// String formats v the way GitHub interpolates it.
func String(v Value) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// equal compares like GitHub: same types directly, strings
// case-insensitively, otherwise both as numbers.
func equal(a, b Value) bool {
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			return strings.EqualFold(sa, sb)
		}
	}
	// null, '' and false all compare equal to 0, as on GitHub.
	return number(a) == number(b)
}

func number(v Value) float64 {
	switch x := v.(type) {
	case bool:
		if x {
			return 1
		}
		return 0
	case float64:
		return x
	case string:
		if strings.TrimSpace(x) == "" {
			return 0
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return math.NaN() // equal to nothing, as on GitHub
		}
		return f
	}
	return 0
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokOp // ! == != && || ( ) , . [ ]
)

type token struct {
	kind tokKind
	text string
}

type parser struct {
	src string
	pos int
	tok token
	err error
	ctx Context
	// skip > 0 while parsing an operand that && or || already decided:
	// it is parsed but nothing in it is looked up or called, as GitHub
	// short-circuits (true || secrets.X is true, not an error).
	skip int
}

func (p *parser) next() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
	if p.pos >= len(p.src) {
		p.tok = token{kind: tokEOF}
		return
	}
	c := p.src[p.pos]
	switch {
	case c == '\'':
		var b strings.Builder
		i := p.pos + 1
		for {
			if i >= len(p.src) {
				p.err = fmt.Errorf("unterminated string")
				p.tok = token{kind: tokEOF}
				return
			}
			if p.src[i] == '\'' {
				if i+1 < len(p.src) && p.src[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				break
			}
			b.WriteByte(p.src[i])
			i++
		}
		p.tok = token{kind: tokString, text: b.String()}
		p.pos = i + 1
	case c >= '0' && c <= '9':
		i := p.pos
		for i < len(p.src) && (p.src[i] >= '0' && p.src[i] <= '9' || p.src[i] == '.') {
			i++
		}
		p.tok = token{kind: tokNumber, text: p.src[p.pos:i]}
		p.pos = i
	case c == '_' || unicode.IsLetter(rune(c)):
		i := p.pos
		for i < len(p.src) && (p.src[i] == '_' || p.src[i] == '-' || unicode.IsLetter(rune(p.src[i])) || unicode.IsDigit(rune(p.src[i]))) {
			i++
		}
		p.tok = token{kind: tokIdent, text: p.src[p.pos:i]}
		p.pos = i
	default:
		for _, op := range []string{"==", "!=", "&&", "||", "!", "(", ")", ",", ".", "[", "]"} {
			if strings.HasPrefix(p.src[p.pos:], op) {
				p.tok = token{kind: tokOp, text: op}
				p.pos += len(op)
				return
			}
		}
		p.err = fmt.Errorf("unexpected character %q", c)
		p.tok = token{kind: tokEOF}
	}
}

func (p *parser) is(op string) bool { return p.tok.kind == tokOp && p.tok.text == op }

func (p *parser) or() (Value, error) {
	l, err := p.and()
	for err == nil && p.is("||") {
		p.next()
		decided := Truthy(l)
		var r Value
		r, err = p.operand(decided, p.and)
		if err == nil && !decided {
			l = r
		}
	}
	return l, err
}

func (p *parser) and() (Value, error) {
	l, err := p.cmp()
	for err == nil && p.is("&&") {
		p.next()
		decided := !Truthy(l)
		var r Value
		r, err = p.operand(decided, p.cmp)
		if err == nil && !decided {
			l = r
		}
	}
	return l, err
}

// operand parses the right side of && or ||, without evaluating it when
// the left side decided the result.
func (p *parser) operand(decided bool, parse func() (Value, error)) (Value, error) {
	if decided {
		p.skip++
		defer func() { p.skip-- }()
	}
	return parse()
}

func (p *parser) cmp() (Value, error) {
	l, err := p.unary()
	for err == nil && (p.is("==") || p.is("!=")) {
		neg := p.is("!=")
		p.next()
		var r Value
		if r, err = p.unary(); err == nil {
			l = equal(l, r) != neg
		}
	}
	return l, err
}

func (p *parser) unary() (Value, error) {
	if p.is("!") {
		p.next()
		v, err := p.unary()
		return !Truthy(v), err
	}
	return p.primary()
}

func (p *parser) primary() (Value, error) {
	if p.err != nil {
		return nil, p.err
	}
	t := p.tok
	switch t.kind {
	case tokString:
		p.next()
		return t.text, nil
	case tokNumber:
		p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t.text)
		}
		return f, nil
	case tokOp:
		if !p.is("(") {
			return nil, fmt.Errorf("unexpected %q", t.text)
		}
		p.next()
		v, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.is(")") {
			return nil, fmt.Errorf("missing )")
		}
		p.next()
		return v, nil
	case tokIdent:
		p.next()
		switch t.text {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		if p.is("(") {
			return p.call(t.text)
		}
		return p.path(t.text)
	}
	return nil, fmt.Errorf("unexpected end of expression")
}

func (p *parser) call(name string) (Value, error) {
	p.next() // (
	var args []Value
	for !p.is(")") {
		v, err := p.or()
		if err != nil {
			return nil, err
		}
		args = append(args, v)
		if p.is(",") {
			p.next()
		} else if !p.is(")") {
			return nil, fmt.Errorf("expected , or ) in the arguments of %s", name)
		}
	}
	p.next() // )
	if p.skip > 0 {
		return nil, nil
	}
	// Function names are case-insensitive on GitHub.
	return p.ctx.Call(strings.ToLower(name), args)
}

func (p *parser) path(first string) (Value, error) {
	path := []string{first}
	for {
		switch {
		case p.is("."):
			p.next()
			if p.tok.kind != tokIdent {
				return nil, fmt.Errorf("expected a property name after %q", strings.Join(path, ".")+".")
			}
			path = append(path, p.tok.text)
			p.next()
		case p.is("["):
			p.next()
			if p.tok.kind != tokString {
				return nil, fmt.Errorf("expected a quoted property name in [ ]")
			}
			path = append(path, p.tok.text)
			p.next()
			if !p.is("]") {
				return nil, fmt.Errorf("missing ]")
			}
			p.next()
		default:
			if p.skip > 0 {
				return nil, nil
			}
			return p.ctx.Lookup(path)
		}
	}
}
