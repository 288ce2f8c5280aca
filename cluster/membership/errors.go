package membership

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these, so
// callers test them with errors.Is.
var (
	// ErrInvalidConfig is returned by Start for a Config that cannot work:
	// a malformed node ID, a missing or short token, an address that does
	// not parse, timings out of range.
	ErrInvalidConfig = errors.New("membership: invalid config")

	// ErrInvalidMeta is returned for metadata that breaks a rule of Meta:
	// by Meta.Validate, by encoding, and by decoding bytes that are not
	// metadata of a supported format.
	ErrInvalidMeta = errors.New("membership: invalid metadata")

	// ErrMetaTooLarge is returned when encoded metadata would exceed
	// MaxMetaSize, the limit memberlist puts on a node's metadata.
	ErrMetaTooLarge = errors.New("membership: metadata too large")

	// ErrJoin is returned when no join address could be reached before
	// the context ended.
	ErrJoin = errors.New("membership: join failed")

	// ErrLeft is returned by operations that need a member that has not
	// left, after Leave.
	ErrLeft = errors.New("membership: member has left")

	// ErrClosed is returned by operations after Shutdown.
	ErrClosed = errors.New("membership: shut down")
)
