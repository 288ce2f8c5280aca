package cli

import (
	"github.com/spf13/cobra"
)

// New returns the root command with every goray subcommand.
func New() *cobra.Command {
	root := &cobra.Command{
		Use:           "goray",
		Short:         "goray runs Go functions and actors across a cluster",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newMicrobenchmark(), newBenchNode())
	return root
}
