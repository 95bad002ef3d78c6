// Package strictyaml decodes YAML documents into Go structs the way a
// control plane's edge should: unknown fields are errors, every problem names
// the field path (for example `levels[2].shape.counts[1]`) and the line and
// column it sits on, and a caller's own validation can look up where any field
// was written so that its messages point at the file too.
//
// A document is decoded in two passes: the YAML is parsed into a node tree,
// whose mapping keys are checked against the `yaml` tags of the target type
// (recursively, through structs, slices, maps and pointers); only a document
// with no unknown keys is then decoded into the value. Decoding never leaves a
// half-filled value behind on error: callers receive either a complete value or
// an error list.
//
// # Caveats
//
// Inline structs (`yaml:",inline"`) and custom unmarshalers are decoded as
// yaml.v3 decodes them, without the unknown-field check below them.
package strictyaml
