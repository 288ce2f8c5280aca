// Command goray is goray's command-line tool.
package main

import (
	"os"

	"github.com/goray-dev/goray/cmd/goray/cli"
)

func main() {
	if err := cli.New().Execute(); err != nil {
		os.Exit(1)
	}
}
