package transport

import "errors"

// Sentinel errors, wrapped with %w by the errors this package returns.
var (
	// ErrAddressInUse reports that the bind address is taken by another
	// listener.
	ErrAddressInUse = errors.New("transport: address already in use")
	// ErrNoToken reports a configuration without a cluster token.
	ErrNoToken = errors.New("transport: no cluster token")
	// ErrInvalidConfig reports a configuration that cannot work.
	ErrInvalidConfig = errors.New("transport: invalid config")
	// ErrAlreadyStarted reports an actor system whose remote is already
	// running.
	ErrAlreadyStarted = errors.New("transport: remote already started on this actor system")
	// ErrStart reports that protoactor's remote failed to start.
	ErrStart = errors.New("transport: start failed")
	// ErrTLS reports a TLS identity or CA that cannot be loaded.
	ErrTLS = errors.New("transport: TLS")
	// ErrUnauthenticated is the cause of every call refused for a missing
	// or wrong token.
	ErrUnauthenticated = errors.New("transport: missing or wrong cluster token")
	// ErrRejected is the cause of every inbound message the guard drops.
	ErrRejected = errors.New("transport: inbound message rejected")
)
