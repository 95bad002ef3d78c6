// Command qun is Qun's single binary: server, agent, CLI, simulator, planner
// and benchmarks. Everything is wired in internal/cli.
package main

import (
	"os"

	"github.com/qunhq/qun/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
