package objects

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
)

// IDLen is the length of an ID in bytes.
const IDLen = 16

// ErrInvalidID is returned when text or bytes do not encode an ID.
var ErrInvalidID = errors.New("objects: invalid object ID")

// ID identifies an object cluster-wide. The zero ID is the nil ID and never
// names an object.
type ID [IDLen]byte

// String returns the ID as 32 lower-case hex digits.
func (id ID) String() string {
	return hex.EncodeToString(id[:])
}

// Bytes returns a new slice holding the ID, for protobuf bytes fields.
func (id ID) Bytes() []byte {
	b := make([]byte, IDLen)
	copy(b, id[:])
	return b
}

// IsNil reports whether id is the zero ID.
func (id ID) IsNil() bool {
	return id == ID{}
}

// ParseID parses the 32-hex-digit form produced by String.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDLen {
		return ID{}, fmt.Errorf("%w: %q has length %d, want %d", ErrInvalidID, s, len(s), 2*IDLen)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("%w: %q: %w", ErrInvalidID, s, err)
	}
	return id, nil
}

// IDFromBytes converts the raw form produced by Bytes, as carried in protobuf
// bytes fields. It copies b.
func IDFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != IDLen {
		return ID{}, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidID, len(b), IDLen)
	}
	copy(id[:], b)
	return id, nil
}

// IDGen generates IDs that are unique across processes with overwhelming
// probability: each generator draws a random 8-byte prefix once and appends
// a big-endian 8-byte counter. It is safe for concurrent use.
type IDGen struct {
	prefix  [8]byte
	counter atomic.Uint64
}

// NewIDGen returns a generator with a fresh random prefix from crypto/rand.
func NewIDGen() *IDGen {
	g := &IDGen{}
	// crypto/rand.Read never returns an error; it aborts the program if the
	// system's randomness source fails.
	_, _ = rand.Read(g.prefix[:])
	return g
}

// Next returns a new ID. It does not allocate. The counter starts at 1, so Next
// never returns the nil ID.
func (g *IDGen) Next() ID {
	var id ID
	copy(id[:8], g.prefix[:])
	binary.BigEndian.PutUint64(id[8:], g.counter.Add(1))
	return id
}
