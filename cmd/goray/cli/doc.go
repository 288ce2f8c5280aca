// Package cli holds goray's command-line commands. A program that registers
// its own tasks and actors can expose the same commands from its own binary:
//
//	func main() { cli.New().Execute() }
package cli
