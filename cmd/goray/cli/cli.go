package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// New returns the root command with every goray subcommand: start, stop,
// status, list, get and microbenchmark. A program that registers its own
// tasks and actors can add commands of its own to it, or add it beneath its
// own root; node processes re-run the program with the same command path.
func New() *cobra.Command {
	root := &cobra.Command{
		Use:           "goray",
		Short:         "goray runs Go functions and actors across a cluster",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	tempDir := new(string)
	root.PersistentFlags().StringVar(tempDir, "temp-dir", defaultTempDir(),
		"root of the session directories ("+tempDirEnv+" sets the default)")
	root.AddCommand(newMicrobenchmark(), newBenchNode(), newStart(tempDir), newStop(tempDir), newStatus(tempDir), newList(tempDir), newGet(tempDir))
	return root
}

// Main runs the command line of a program: args are os.Args (the program's
// name first), extra are commands of the program's own to add beside
// goray's. It prints an error on one line to standard error and returns
// the exit code, for os.Exit:
//
//	func main() { os.Exit(cli.Main(os.Args)) }
//
// The program's main must hand its arguments to Main unchanged: start runs
// nodes by running the program again with start's arguments and --block.
func Main(args []string, extra ...*cobra.Command) int {
	return run(context.Background(), args, os.Stdout, os.Stderr, extra...)
}

// run runs the command line on args with the given outputs.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, extra ...*cobra.Command) int {
	root := New()
	if len(args) > 0 {
		root.Use = filepath.Base(args[0])
		args = args[1:]
	}
	root.AddCommand(extra...)
	root.SilenceErrors = true
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", root.Name(), oneLineError(err))
		return 1
	}
	return 0
}

// oneLineError writes err on one line: errors from below (gossip's joins
// list their attempts on lines of their own) keep their words.
func oneLineError(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
