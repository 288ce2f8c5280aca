// Package objects holds goray's object layer: object identifiers, the
// node-local object store and the owner table of reference counts and
// locations.
//
// An object is an immutable byte slice named by an ID. IDs come from an
// IDGen, which combines a random per-process prefix with a counter and is
// cheap enough to call for every task result.
//
// Store keeps a node's objects in memory up to a byte capacity and spills the
// least recently used unpinned ones to files in a spill directory when it needs
// room, reading them back on demand. RefTable is the owner's view of the
// objects it created: how many references are outstanding, which nodes hold a
// copy, and which IDs were freed explicitly.
//
// Store and RefTable are deterministic, single-owner cores: they do no I/O
// besides the store's spill files, start no goroutines and are not safe for
// concurrent use. Each is owned by exactly one protoactor actor, which
// serialises access by processing one message at a time. Those actors (the
// node's store actor and the object directory actor) live in this package
// beside the cores they wrap; tests drive the cores directly, without actors or
// a network.
package objects
