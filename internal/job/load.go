package job

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/strictyaml"
)

// Load decodes one job spec from YAML (JSON is YAML too), applies defaults
// and validates it against cat (nil means pool.DefaultCatalog()). It returns
// either a normalized, valid spec or every problem found, as
// strictyaml.Problems sorted by position, which wraps strictyaml.ErrInvalid.
// file names the document in messages only.
func Load(file string, data []byte, cat *pool.Catalog) (*Spec, error) {
	var s Spec
	pos, err := strictyaml.Decode(file, data, &s)
	var probs strictyaml.Problems
	if err != nil && !errors.As(err, &probs) {
		return nil, err
	}
	if probs, ok := mergeValues(probs, checkValues(file, data)); !ok || len(probs) > 0 {
		return nil, probs.Sorted()
	} else if err != nil {
		return nil, err // not reached: strictyaml reports at least one problem
	}
	if probs := s.Validate(cat, pos); len(probs) > 0 {
		return nil, probs
	}
	s.Normalize()
	return &s, nil
}

// mergeValues adds the value problems found by checkValues to those from
// strictyaml, replacing the ones strictyaml reports from Milli and Duration
// without a field path. It returns false, with the problems from strictyaml
// alone, when the document as a whole is unreadable (bad syntax, several
// documents, not a mapping).
func mergeValues(probs, values strictyaml.Problems) (strictyaml.Problems, bool) {
	lines := map[int]bool{}
	for _, v := range values {
		lines[v.Line] = true
	}
	out := make(strictyaml.Problems, 0, len(probs)+len(values))
	fields := map[string]bool{}
	for _, p := range probs {
		switch {
		case p.Field != "":
			out = append(out, p)
			fields[p.Field] = true
		case !lines[p.Line]:
			return probs, false
		}
	}
	for _, v := range values {
		if !fields[v.Field] {
			out = append(out, v)
		}
	}
	return out, true
}

// scan walks n along type t as strictyaml does, calling visit for every
// value of a type with its own YAML unmarshaler and for every scalar of an
// integer field.
func scan(n *yaml.Node, t reflect.Type, field string, visit func(n *yaml.Node, t reflect.Type, field string)) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		visit(n, t, field)
		return
	}
	join := func(key string) string {
		if field == "" {
			return key
		}
		return field + "." + key
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		visit(n, t, field)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if ft, ok := fields[k.Value]; ok {
				scan(v, ft, join(k.Value), visit)
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			scan(c, t.Elem(), fmt.Sprintf("%s[%d]", field, i), visit)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			scan(n.Content[i+1], t.Elem(), join(n.Content[i].Value), visit)
		}
	}
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name != "" && name != "-" {
			out[name] = f.Type
		}
	}
	return out
}

func parseRoot(data []byte) *yaml.Node {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) != 1 {
		return nil
	}
	return root.Content[0]
}

// checkValues reports what strictyaml cannot say with a field path: integer
// fields written as numbers with a fraction, which yaml.v3 silently
// truncates (ranks: 8.5 would become 8), and values Milli and Duration
// reject.
func checkValues(file string, data []byte) strictyaml.Problems {
	if len(data) > strictyaml.MaxBytes {
		return nil
	}
	doc := parseRoot(data)
	if doc == nil {
		return nil
	}
	var probs strictyaml.Problems
	add := func(n *yaml.Node, field, msg string) {
		probs = append(probs, strictyaml.Problem{File: file, Line: n.Line, Column: n.Column, Field: field, Msg: msg})
	}
	scan(doc, reflect.TypeOf(Spec{}), "", func(n *yaml.Node, t reflect.Type, field string) {
		if u, ok := reflect.New(t).Interface().(yaml.Unmarshaler); ok {
			if n.ShortTag() == "!!null" {
				return // yaml.v3 leaves the zero value
			}
			if err := u.UnmarshalYAML(n); err != nil {
				var te *yaml.TypeError
				if errors.As(err, &te) && len(te.Errors) > 0 {
					_, msg, _ := strings.Cut(te.Errors[0], ": ")
					add(n, field, msg)
				} else {
					add(n, field, err.Error())
				}
			}
			return
		}
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!float" {
			return
		}
		var f float64
		if n.Decode(&f) != nil || f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			return
		}
		add(n, field, fmt.Sprintf("%q is not a whole number", n.Value))
	})
	return probs
}
