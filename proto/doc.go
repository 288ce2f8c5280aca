// Package pb holds goray's control messages, generated from goray.proto by
// `make proto`. Every message that crosses a process boundary is defined
// there; in process the same messages travel as Go pointers.
package pb
