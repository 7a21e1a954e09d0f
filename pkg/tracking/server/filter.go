package server

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/flts/flts-e2e/pkg/tracking"
)

// entity is what a search identifier refers to.
type entity int

const (
	entityMetric entity = iota
	entityParam
	entityTag
	entityAttribute
)

// identifier is a parsed "metrics.rmse", "tags.`model type`", "status".
type identifier struct {
	entity entity
	key    string
}

// clause is one comparison of a filter; a filter is clauses joined by AND.
type clause struct {
	id    identifier
	op    string
	str   string
	num   float64
	isNum bool
	like  *regexp.Regexp
}

var entityNames = map[string]entity{
	"metric": entityMetric, "metrics": entityMetric,
	"param": entityParam, "params": entityParam, "parameter": entityParam, "parameters": entityParam,
	"tag": entityTag, "tags": entityTag,
	"attribute": entityAttribute, "attributes": entityAttribute, "attr": entityAttribute, "run": entityAttribute,
}

// attributes that can be searched and ordered by; numeric ones compare as numbers.
var attributeNumeric = map[string]bool{
	"status": false, "run_name": false, "run_id": false, "user_id": false, "artifact_uri": false,
	"experiment_id": false, "start_time": true, "end_time": true,
}

// lexer splits a filter or order_by string into tokens.
type lexer struct {
	s   string
	pos int
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokWord
	tokQuoted   // 'x' or "x": a string value (or a "quoted" key)
	tokBacktick // `x`: a key
	tokNumber
	tokOp
	tokDot
)

type token struct {
	kind tokenKind
	text string
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.s) && unicode.IsSpace(rune(l.s[l.pos])) {
		l.pos++
	}
	if l.pos >= len(l.s) {
		return token{kind: tokEOF}, nil
	}
	c := l.s[l.pos]
	switch {
	case c == '\'' || c == '"' || c == '`':
		end := strings.IndexByte(l.s[l.pos+1:], c)
		if end < 0 {
			return token{}, fmt.Errorf("unterminated %c quote at position %d", c, l.pos)
		}
		text := l.s[l.pos+1 : l.pos+1+end]
		l.pos += end + 2
		if c == '`' {
			return token{tokBacktick, text}, nil
		}
		return token{tokQuoted, text}, nil
	case c == '.':
		l.pos++
		return token{tokDot, "."}, nil
	case strings.ContainsRune("=!<>", rune(c)):
		start := l.pos
		l.pos++
		if l.pos < len(l.s) && l.s[l.pos] == '=' {
			l.pos++
		}
		op := l.s[start:l.pos]
		if op == "!" {
			return token{}, fmt.Errorf("invalid operator '!' at position %d", start)
		}
		return token{tokOp, op}, nil
	case c == '-' || c == '+' || (c >= '0' && c <= '9'):
		start := l.pos
		l.pos++
		for l.pos < len(l.s) && strings.ContainsRune("0123456789.eE+-", rune(l.s[l.pos])) {
			l.pos++
		}
		return token{tokNumber, l.s[start:l.pos]}, nil
	case c == '_' || unicode.IsLetter(rune(c)):
		start := l.pos
		for l.pos < len(l.s) && (l.s[l.pos] == '_' || l.s[l.pos] == '-' || unicode.IsLetter(rune(l.s[l.pos])) || unicode.IsDigit(rune(l.s[l.pos]))) {
			l.pos++
		}
		return token{tokWord, l.s[start:l.pos]}, nil
	}
	return token{}, fmt.Errorf("unexpected character %q at position %d", c, l.pos)
}

// parser is a one-token look-ahead parser over lexer.
type parser struct {
	lex  lexer
	peek token
}

func newParser(s string) (*parser, error) {
	p := &parser{lex: lexer{s: s}}
	var err error
	p.peek, err = p.lex.next()
	return p, err
}

func (p *parser) advance() (token, error) {
	t := p.peek
	var err error
	p.peek, err = p.lex.next()
	return t, err
}

// identifier parses entity.key (key may be dotted, backticked or
// double-quoted) or a bare attribute name.
func (p *parser) identifier() (identifier, error) {
	t, err := p.advance()
	if err != nil {
		return identifier{}, err
	}
	if t.kind != tokWord {
		return identifier{}, fmt.Errorf("expected an identifier such as metrics.rmse, got %q", t.text)
	}
	if p.peek.kind != tokDot {
		// A bare name can only be an attribute.
		if _, ok := attributeNumeric[t.text]; ok {
			return identifier{entityAttribute, t.text}, nil
		}
		return identifier{}, fmt.Errorf("invalid identifier %q: use metrics.<key>, params.<key>, tags.<key> or attributes.<name>", t.text)
	}
	ent, ok := entityNames[strings.ToLower(t.text)]
	if !ok {
		return identifier{}, fmt.Errorf("invalid entity type %q: expected metrics, params, tags or attributes", t.text)
	}
	if _, err := p.advance(); err != nil { // the dot
		return identifier{}, err
	}
	key, err := p.advance()
	if err != nil {
		return identifier{}, err
	}
	var name string
	switch key.kind {
	case tokBacktick, tokQuoted:
		name = key.text
	case tokWord, tokNumber:
		// Bare keys may contain dots: tags.mlflow.runName.
		name = key.text
		for p.peek.kind == tokDot {
			p.advance()
			part, err := p.advance()
			if err != nil {
				return identifier{}, err
			}
			if part.kind != tokWord && part.kind != tokNumber {
				return identifier{}, fmt.Errorf("invalid key after %q", name)
			}
			name += "." + part.text
		}
	default:
		return identifier{}, fmt.Errorf("expected a key after %q", t.text)
	}
	if name == "" {
		return identifier{}, fmt.Errorf("empty key after %q", t.text)
	}
	if ent == entityAttribute {
		if _, ok := attributeNumeric[name]; !ok {
			return identifier{}, fmt.Errorf("invalid attribute %q", name)
		}
	}
	return identifier{ent, name}, nil
}

// parseFilter parses an MLflow search filter: comparisons joined by AND.
// An empty filter matches every run.
func parseFilter(filter string) ([]clause, error) {
	if strings.TrimSpace(filter) == "" {
		return nil, nil
	}
	p, err := newParser(filter)
	if err != nil {
		return nil, err
	}
	var clauses []clause
	for {
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		clauses = append(clauses, c)
		if p.peek.kind == tokEOF {
			return clauses, nil
		}
		if t, _ := p.advance(); t.kind != tokWord || !strings.EqualFold(t.text, "and") {
			return nil, fmt.Errorf("expected AND or end of filter, got %q", t.text)
		}
	}
}

func (p *parser) clause() (clause, error) {
	id, err := p.identifier()
	if err != nil {
		return clause{}, err
	}
	opTok, err := p.advance()
	if err != nil {
		return clause{}, err
	}
	op := opTok.text
	if opTok.kind == tokWord {
		op = strings.ToUpper(op)
	}
	val, err := p.advance()
	if err != nil {
		return clause{}, err
	}
	c := clause{id: id, op: op}
	numeric := id.entity == entityMetric || (id.entity == entityAttribute && attributeNumeric[id.key])
	if numeric {
		if opTok.kind != tokOp {
			return clause{}, fmt.Errorf("invalid comparator %q for %s: use =, !=, <, <=, >, >=", opTok.text, id.key)
		}
		if val.kind != tokNumber {
			return clause{}, fmt.Errorf("expected a number for %s, got %q", id.key, val.text)
		}
		c.num, err = strconv.ParseFloat(val.text, 64)
		if err != nil {
			return clause{}, fmt.Errorf("invalid number %q for %s", val.text, id.key)
		}
		c.isNum = true
		return c, nil
	}
	switch op {
	case "=", "!=":
	case "LIKE", "ILIKE":
		pattern := regexp.QuoteMeta(val.text)
		pattern = strings.NewReplacer("%", ".*", "_", ".").Replace(pattern)
		if op == "ILIKE" {
			pattern = "(?is)" + pattern
		} else {
			pattern = "(?s)" + pattern
		}
		c.like, err = regexp.Compile("^" + pattern + "$")
		if err != nil {
			return clause{}, fmt.Errorf("invalid LIKE pattern %q", val.text)
		}
	default:
		return clause{}, fmt.Errorf("invalid comparator %q for %s: use =, !=, LIKE or ILIKE", opTok.text, id.key)
	}
	if val.kind != tokQuoted {
		return clause{}, fmt.Errorf("expected a quoted string for %s, got %q", id.key, val.text)
	}
	c.str = val.text
	return c, nil
}

// value returns the run's value for id: a string, a number, and whether set.
func (id identifier) value(r *tracking.Run) (string, float64, bool) {
	switch id.entity {
	case entityMetric:
		v, ok := r.Metric(id.key)
		return "", v, ok
	case entityParam:
		for _, p := range r.Data.Params {
			if p.Key == id.key {
				return p.Value, 0, true
			}
		}
	case entityTag:
		for _, t := range r.Data.Tags {
			if t.Key == id.key {
				return t.Value, 0, true
			}
		}
	case entityAttribute:
		switch id.key {
		case "status":
			return r.Info.Status, 0, true
		case "run_name":
			return r.Info.RunName, 0, true
		case "run_id":
			return r.Info.RunID, 0, true
		case "user_id":
			return r.Info.UserID, 0, true
		case "artifact_uri":
			return r.Info.ArtifactURI, 0, true
		case "experiment_id":
			return r.Info.ExperimentID, 0, true
		case "start_time":
			return "", float64(r.Info.StartTime), true
		case "end_time":
			return "", float64(r.Info.EndTime), r.Info.EndTime != 0
		}
	}
	return "", 0, false
}

// matches reports whether the run satisfies the clause. A run without the
// key never matches, as in MLflow (even for !=).
func (c clause) matches(r *tracking.Run) bool {
	s, n, ok := c.id.value(r)
	if !ok {
		return false
	}
	if c.isNum {
		switch c.op {
		case "=":
			return n == c.num
		case "!=":
			return n != c.num
		case "<":
			return n < c.num
		case "<=":
			return n <= c.num
		case ">":
			return n > c.num
		case ">=":
			return n >= c.num
		}
		return false
	}
	switch c.op {
	case "=":
		return s == c.str
	case "!=":
		return s != c.str
	default:
		return c.like.MatchString(s)
	}
}

// orderClause is one parsed order_by entry.
type orderClause struct {
	id   identifier
	desc bool
}

func parseOrderBy(specs []string) ([]orderClause, error) {
	out := make([]orderClause, 0, len(specs))
	for _, spec := range specs {
		p, err := newParser(spec)
		if err != nil {
			return nil, fmt.Errorf("invalid order_by %q: %w", spec, err)
		}
		id, err := p.identifier()
		if err != nil {
			return nil, fmt.Errorf("invalid order_by %q: %w", spec, err)
		}
		oc := orderClause{id: id}
		if p.peek.kind == tokWord {
			dir, _ := p.advance()
			switch strings.ToUpper(dir.text) {
			case "ASC":
			case "DESC":
				oc.desc = true
			default:
				return nil, fmt.Errorf("invalid order_by %q: direction must be ASC or DESC", spec)
			}
		}
		if p.peek.kind != tokEOF {
			return nil, fmt.Errorf("invalid order_by %q: unexpected %q", spec, p.peek.text)
		}
		out = append(out, oc)
	}
	return out, nil
}

// sortRuns orders runs by the clauses, then by start_time DESC and run_id
// (MLflow's default). Runs missing a sort key come last in either direction.
func sortRuns(runs []tracking.Run, order []orderClause) {
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := &runs[i], &runs[j]
		for _, oc := range order {
			if c := compareBy(oc, a, b); c != 0 {
				return c < 0
			}
		}
		if a.Info.StartTime != b.Info.StartTime {
			return a.Info.StartTime > b.Info.StartTime
		}
		return a.Info.RunID < b.Info.RunID
	})
}

func compareBy(oc orderClause, a, b *tracking.Run) int {
	as, an, aok := oc.id.value(a)
	bs, bn, bok := oc.id.value(b)
	switch {
	case !aok && !bok:
		return 0
	case !aok:
		return 1
	case !bok:
		return -1
	}
	c := 0
	numeric := oc.id.entity == entityMetric || (oc.id.entity == entityAttribute && attributeNumeric[oc.id.key])
	if numeric {
		switch {
		case an < bn:
			c = -1
		case an > bn:
			c = 1
		}
	} else {
		c = strings.Compare(as, bs)
	}
	if oc.desc {
		c = -c
	}
	return c
}
