// Package examples embeds the example pool and job files, so
// that commands and benchmarks that default to an example (`qun bench
// sched` runs examples/pools/atlas950-supercluster.yaml) work outside a
// checkout too.
package examples

import "embed"

// FS holds pools/*.yaml and jobs/*.yaml, by their paths
// below examples/.
//
//go:embed pools/*.yaml jobs/*.yaml
var FS embed.FS
