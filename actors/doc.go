// Package actors is the runtime of user code on a node: the registry that
// maps names to task functions and actor types, the executor actor that runs
// tasks, the host actor that runs one user actor's methods in order (or up to
// its max concurrency), and the restart policy a host's supervisor applies
// when a method panics. The value codec lives in the codec subpackage.
package actors
