// Command goray is goray's command-line tool: it starts and stops the nodes
// of a cluster, shows its state, and runs the microbenchmarks.
package main

import (
	"os"

	"github.com/goray-dev/goray/cmd/goray/cli"
)

func main() { os.Exit(cli.Main(os.Args)) }
