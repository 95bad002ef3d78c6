// Package cli wires Qun's commands (cobra): one file per verb group. Commands
// parse flags, call the packages that do the work, and render tables or JSON.
//
// Exit codes are uniform: 0 success, 1 a failure of the server or the
// system, 2 bad input (a flag, a file, a spec). Errors that wrap
// strictyaml.ErrInvalid or are built with badInput map to 2.
package cli
