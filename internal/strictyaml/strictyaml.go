package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrInvalid is wrapped by every error this package returns for bad input, so
// callers can map it to "bad input" (exit code 2, HTTP 400) with errors.Is.
var ErrInvalid = errors.New("invalid input")

// Problem is one thing wrong with a document.
type Problem struct {
	File   string // file name as given by the caller; may be empty
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Field  string // field path such as "levels[2].name"; empty for the document
	Msg    string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 && p.Column > 0 {
		fmt.Fprintf(&b, "%d:%d:", p.Line, p.Column)
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "%d:", p.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is a list of problems that together make a document invalid. It is
// an error that wraps ErrInvalid.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (ps Problems) Unwrap() error { return ErrInvalid }

// Sorted returns the problems in file, line, column, field order.
func (ps Problems) Sorted() Problems {
	out := append(Problems(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Field < b.Field
	})
	return out
}

// Positions records where each field path of a decoded document was written.
type Positions struct {
	file string
	pos  map[string][2]int
}

// At returns a problem for the field path, located where the document wrote
// that field or, failing that, its nearest written ancestor.
func (p *Positions) At(field, format string, args ...any) Problem {
	pr := Problem{Field: field, Msg: fmt.Sprintf(format, args...)}
	if p == nil || p.pos == nil {
		return pr
	}
	pr.File = p.file
	for f := field; ; {
		if lc, ok := p.pos[f]; ok {
			pr.Line, pr.Column = lc[0], lc[1]
			return pr
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			if lc, ok := p.pos[""]; ok {
				pr.Line, pr.Column = lc[0], lc[1]
			}
			return pr
		}
		f = f[:i]
	}
}

// Has reports whether the document wrote the field path.
func (p *Positions) Has(field string) bool {
	if p == nil {
		return false
	}
	_, ok := p.pos[field]
	return ok
}

// MaxBytes is the largest document Decode accepts.
const MaxBytes = 8 << 20

// Decode parses one YAML document from data into out (a pointer to a struct),
// rejecting unknown fields, and returns where each field was written. file is
// used only in messages.
func Decode(file string, data []byte, out any) (*Positions, error) {
	pos := &Positions{file: file, pos: map[string][2]int{}}
	if len(data) > MaxBytes {
		return nil, Problems{{File: file, Msg: fmt.Sprintf("document is %d bytes; at most %d allowed", len(data), MaxBytes)}}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{File: file, Line: 1, Column: 1, Msg: "document is empty"}}
		}
		return nil, Problems{syntaxProblem(file, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Problems{{File: file, Line: extra.Line, Column: extra.Column, Msg: "more than one YAML document; one expected"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, Problems{syntaxProblem(file, err)}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, Problems{{File: file, Line: doc.Line, Column: doc.Column, Msg: "document must be a mapping of fields"}}
	}
	var probs Problems
	walk(file, doc, reflect.TypeOf(out), "", pos.pos, &probs)
	if len(probs) > 0 {
		return nil, probs
	}
	// Decode into a fresh value so a failure leaves out untouched.
	fresh := reflect.New(reflect.TypeOf(out).Elem())
	if err := doc.Decode(fresh.Interface()); err != nil {
		return nil, typeProblems(file, err)
	}
	reflect.ValueOf(out).Elem().Set(fresh.Elem())
	return pos, nil
}

var lineRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?: (.*)`)

func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		l, _ := strconv.Atoi(m[1])
		c, _ := strconv.Atoi(m[2])
		return Problem{File: file, Line: l, Column: c, Msg: "YAML syntax: " + m[3]}
	}
	return Problem{File: file, Msg: "YAML syntax: " + msg}
}

var goTypeRE = regexp.MustCompile(`into (\[\])?(map\[[^\]]+\])?[\w.]*`)

func typeProblems(file string, err error) Problems {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Problems{syntaxProblem(file, err)}
	}
	var out Problems
	for _, e := range te.Errors {
		p := syntaxProblem(file, errors.New(e))
		p.Msg = strings.TrimPrefix(p.Msg, "YAML syntax: ")
		p.Msg = goTypeRE.ReplaceAllStringFunc(p.Msg, func(s string) string {
			t := strings.TrimPrefix(s, "into ")
			switch {
			case strings.HasPrefix(t, "[]"):
				return "into a list"
			case strings.HasPrefix(t, "map["):
				return "into a mapping"
			case strings.Contains(t, "int"):
				return "into a whole number"
			case strings.Contains(t, "float"):
				return "into a number"
			case t == "bool":
				return "into true or false"
			case t == "string":
				return "into a string"
			}
			return "into a mapping of fields"
		})
		out = append(out, p)
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walk records positions and reports unknown keys below n for type t.
func walk(file string, n *yaml.Node, t reflect.Type, path string, pos map[string][2]int, probs *Problems) {
	if _, ok := pos[path]; !ok {
		pos[path] = [2]int{n.Line, n.Column}
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Bool, reflect.String:
		want := map[reflect.Kind]string{reflect.Float32: "a number", reflect.Float64: "a number",
			reflect.Bool: "true or false", reflect.String: "a string"}[t.Kind()]
		if want == "" {
			want = "a whole number"
		}
		if n.Kind != yaml.ScalarNode {
			*probs = append(*probs, Problem{File: file, Line: n.Line, Column: n.Column, Field: path, Msg: fmt.Sprintf("expected %s, found %s", want, Describe(n))})
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			*probs = append(*probs, Problem{File: file, Line: n.Line, Column: n.Column, Field: path, Msg: fmt.Sprintf("%q is not %s", n.Value, want)})
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*probs = append(*probs, Problem{File: file, Line: n.Line, Column: n.Column, Field: path, Msg: fmt.Sprintf("expected a mapping of fields, found %s", Describe(n))})
			return
		}
		fields := structFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			if seen[k.Value] {
				*probs = append(*probs, Problem{File: file, Line: k.Line, Column: k.Column, Field: join(path, k.Value), Msg: "field given twice"})
				continue
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				*probs = append(*probs, Problem{File: file, Line: k.Line, Column: k.Column, Field: join(path, k.Value),
					Msg: fmt.Sprintf("unknown field %q (allowed: %s)", k.Value, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))})
				continue
			}
			p := join(path, k.Value)
			pos[p] = [2]int{k.Line, k.Column}
			walk(file, v, ft, p, pos, probs)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			*probs = append(*probs, Problem{File: file, Line: n.Line, Column: n.Column, Field: path, Msg: fmt.Sprintf("expected a list, found %s", Describe(n))})
			return
		}
		for i, c := range n.Content {
			walk(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), pos, probs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*probs = append(*probs, Problem{File: file, Line: n.Line, Column: n.Column, Field: path, Msg: fmt.Sprintf("expected a mapping, found %s", Describe(n))})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			pos[p] = [2]int{k.Line, k.Column}
			walk(file, v, t.Elem(), p, pos, probs)
		}
	}
}

// Describe names what a YAML node holds, for messages such as "cannot read
// X as a number": "a list", "a mapping", "an alias", "nothing" (null), or a
// scalar's value, quoted.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}
