package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// listFormats are the -o formats of commands that print lists (the
// server's commands): table, wide (more columns), json and yaml.
var listFormats = []string{"table", "wide", "json", "yaml"}

// structured reports whether the format is json or yaml.
func (o *output) structured() bool { return o.format == "json" || o.format == "yaml" }

// wide reports whether the format is wide.
func (o *output) wide() bool { return o.format == "wide" }

// write prints v as JSON or YAML. YAML keeps the JSON field names and
// order (the API's wire names).
func (o *output) write(w io.Writer, v any) error {
	if o.format != "yaml" {
		return writeJSON(w, v)
	}
	return writeYAML(w, v)
}

func writeYAML(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	blockStyle(&n)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	return enc.Close()
}

// blockStyle turns the flow style a JSON document parses into the block
// style YAML readers expect; strings stay quoted only where needed.
func blockStyle(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = 0
	}
	if n.Kind == yaml.ScalarNode && n.Style == yaml.DoubleQuotedStyle {
		n.Style = 0
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
