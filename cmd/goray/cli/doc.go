// Package cli holds goray's command line: start and stop nodes, see the
// cluster (status, list, get), and microbenchmark.
//
// Every process of a goray cluster runs the same program, so that the tasks
// and actors it registers exist on every node. A program makes itself a
// goray command line by handing its arguments to Main, which adds the
// program's own commands (a driver, say) beside goray's:
//
//	var square = goray.Task("square", ...)
//
//	func main() { os.Exit(cli.Main(os.Args, runCommand())) }
//
// The same binary then starts the head (prog start --head), joins workers
// to it (prog start --address HOST:PORT) and runs as a driver. The goray
// binary is this with no functions of its own. New returns the root command
// for programs that assemble their command line themselves.
package cli
