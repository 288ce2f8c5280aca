// Package objects holds goray's object layer: object identifiers, the
// node-local object store, the owner table of reference counts and
// locations, and the transfer of objects between nodes.
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
//
// # Transfer
//
// A node that needs an object it does not hold asks its own store actor with
// a FetchObject naming the stores known to hold a copy (Fetch wraps this for
// a caller with a context). The store answers at once if it holds the
// object. Otherwise it pulls the object from one source at a time, trying the
// next when one fails, with ReadChunk requests answered by ObjectChunk
// replies of TransferConfig.ChunkSize bytes; the source serves each chunk
// from memory, or from its spill file with a read of that chunk alone on its
// I/O goroutines. Concurrent fetches of one object share one pull. The
// chunks are copied into a single buffer of the object's size, the only
// full copy the receiver holds, which the store then keeps; every waiting
// request is answered and the owner's directory is told of the new copy
// with an AddLocation.
//
// A store actor given Streams (WithStreams; a node on the network has
// them) asks for chunks over a byte stream to the source node's chunk
// server (ServeChunks) once it knows where that is: every ObjectChunk
// names it. A chunk read from a stream lands straight in the pull's
// buffer, the part of it that the request owns until its answer is
// reported to the actor; a message's chunk is copied five times on its way
// in. The answers go through the same checks. A stream that cannot be
// opened, or that ends, leaves that source's chunks to messages; a source
// given up while its stream still owns parts of the buffer leaves that
// buffer to the stream, and the next source fills a new one.
//
// The chunks asked of one source node and not yet received are bounded by
// TransferConfig.SourceWindow over all pulls from it, because protoactor
// remote sends all messages from one node to another over one gRPC stream
// and batches what is queued into one gRPC message: the window keeps a batch
// of chunks under the transport's message limit. A source that sends nothing
// for TransferConfig.StallTimeout is given up for the next. When no source
// has the object the fetch fails with ERROR_KIND_OBJECT_LOST naming each
// source tried and why. A request may carry a deadline, and CancelFetch
// withdraws one; a pull nobody waits for any more is cancelled. The pull
// logic's core, assembly, checks every reply against what was asked, so a
// hostile source can neither write outside the buffer nor change the size.
//
// The directory deletes an object from every store that holds a copy when
// its owner frees it, including copies pulled to other nodes; a copy
// reported after the object was freed is deleted too. RemoveNode forgets the
// copies on a dead node and reports, with ObjectsLost, the objects left
// without any.
package objects
