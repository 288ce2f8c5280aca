package membership

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/encoding/protowire"
)

// MaxMetaSize is the largest encoded metadata memberlist carries for one
// node, in bytes.
const MaxMetaSize = memberlist.MetaMaxSize

// Limits on metadata fields, checked by Meta.Validate. They keep one field
// from crowding out the others within MaxMetaSize.
const (
	// NodeIDLen is the length of a node ID: lower-case hex digits of 8
	// random bytes.
	NodeIDLen = 16
	// MaxAddrLen bounds ActorAddr.
	MaxAddrLen = 255
	// MaxVersionLen bounds Version.
	MaxVersionLen = 64
	// MaxFingerprintLen bounds Fingerprint: a SHA-256 in hex fits.
	MaxFingerprintLen = 128
	// MaxNameLen bounds a resource name, a label key and a label value.
	MaxNameLen = 64
)

// Role is what a goray process does in the cluster.
type Role uint8

// Roles. The zero Role is not valid: every member states its role.
const (
	// RoleHead runs the GCS and the placement actor, besides a raylet.
	RoleHead Role = iota + 1
	// RoleWorker runs a raylet and the user code placed on it.
	RoleWorker
	// RoleDriver runs a user's program that submits work; it places no
	// work on itself.
	RoleDriver
)

var roleNames = [...]string{RoleHead: "head", RoleWorker: "worker", RoleDriver: "driver"}

// String returns "head", "worker" or "driver", or "Role(n)" for another
// value.
func (r Role) String() string {
	if r.Valid() {
		return roleNames[r]
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool { return r >= RoleHead && r <= RoleDriver }

// ParseRole returns the Role named s ("head", "worker" or "driver").
func ParseRole(s string) (Role, error) {
	for r, name := range roleNames {
		if name != "" && name == s {
			return Role(r), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown role %q", ErrInvalidMeta, s)
}

// Meta is what a member tells the others about itself. It travels with
// every alive message of the gossip, so it is small (MaxMetaSize encoded)
// and changes rarely; fast-changing state such as available resources goes
// to the placement actor through messages instead.
//
// Maps in a Meta that this package hands out are the receiver's own copy.
type Meta struct {
	// NodeID identifies the member for one start of its process: 16
	// lower-case hex digits, fresh each time the process starts. It is
	// also the member's name in memberlist.
	NodeID string
	// ActorAddr is the host:port of the member's protoactor remote, where
	// its system actors are reached.
	ActorAddr string
	// Role is the member's role.
	Role Role
	// Version is the goray version the member runs.
	Version string
	// Fingerprint identifies the build: a hash the caller computes over the
	// registered functions and actor types, so that work is only sent to
	// members that have the code for it. This package only carries it.
	Fingerprint string
	// Resources summarises the member's total resources, by name, in the
	// fixed-point units of placement.Quantity (10000 is 1.0; memory in
	// bytes times 10000), as in NodeInfo.total of proto/goray.proto. The
	// values are non-negative.
	Resources map[string]int64
	// Labels are the member's node labels.
	Labels map[string]string
	// StartedAt is when the member started: Start sets it to the current
	// time when it is zero, and UpdateMeta keeps it. Of two members at one
	// gossip address (necessarily on one machine, so with one clock), the
	// one started later is the live one.
	StartedAt time.Time
}

// Clone returns a copy of m whose maps are not shared with m.
func (m Meta) Clone() Meta {
	m.Resources = maps.Clone(m.Resources)
	m.Labels = maps.Clone(m.Labels)
	return m
}

// Equal reports whether m and o hold the same metadata. A nil map and an
// empty one are equal.
func (m Meta) Equal(o Meta) bool {
	return m.NodeID == o.NodeID && m.ActorAddr == o.ActorAddr && m.Role == o.Role &&
		m.Version == o.Version && m.Fingerprint == o.Fingerprint &&
		maps.Equal(m.Resources, o.Resources) && maps.Equal(m.Labels, o.Labels) &&
		m.StartedAt.Equal(o.StartedAt)
}

// ValidNodeID reports whether id has the form of a node ID: NodeIDLen
// lower-case hex digits.
func ValidNodeID(id string) bool {
	if len(id) != NodeIDLen {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Validate checks m against the rules every member's metadata follows. It
// does not check the encoded size; MarshalBinary does.
func (m Meta) Validate() error {
	if !ValidNodeID(m.NodeID) {
		return fmt.Errorf("%w: node ID %q is not %d lower-case hex digits", ErrInvalidMeta, m.NodeID, NodeIDLen)
	}
	if err := validAddr(m.ActorAddr); err != nil {
		return fmt.Errorf("%w: actor address %q: %v", ErrInvalidMeta, m.ActorAddr, err)
	}
	if !m.Role.Valid() {
		return fmt.Errorf("%w: role %v", ErrInvalidMeta, m.Role)
	}
	if err := validText(m.Version, MaxVersionLen); err != nil {
		return fmt.Errorf("%w: version: %v", ErrInvalidMeta, err)
	}
	if err := validText(m.Fingerprint, MaxFingerprintLen); err != nil {
		return fmt.Errorf("%w: fingerprint: %v", ErrInvalidMeta, err)
	}
	for name, v := range m.Resources {
		if err := validName(name); err != nil {
			return fmt.Errorf("%w: resource name %q: %v", ErrInvalidMeta, name, err)
		}
		if v < 0 {
			return fmt.Errorf("%w: resource %q is negative (%d)", ErrInvalidMeta, name, v)
		}
	}
	for k, v := range m.Labels {
		if err := validName(k); err != nil {
			return fmt.Errorf("%w: label key %q: %v", ErrInvalidMeta, k, err)
		}
		if err := validText(v, MaxNameLen); err != nil {
			return fmt.Errorf("%w: label %q: %v", ErrInvalidMeta, k, err)
		}
	}
	if !m.StartedAt.IsZero() && m.StartedAt.UnixNano() <= 0 {
		return fmt.Errorf("%w: start time %v is not after 1970", ErrInvalidMeta, m.StartedAt)
	}
	return nil
}

func validAddr(addr string) error {
	if len(addr) > MaxAddrLen {
		return fmt.Errorf("longer than %d bytes", MaxAddrLen)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("no host")
	}
	if !utf8.ValidString(host) {
		return fmt.Errorf("host is not UTF-8")
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("port %q is not in 1..65535", port)
	}
	return nil
}

func validText(s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("longer than %d bytes", limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("not UTF-8")
	}
	return nil
}

func validName(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	return validText(s, MaxNameLen)
}

// Encoding. The first byte is the format version, metaFormat; the rest is
// the protobuf encoding of this message:
//
//	message NodeMeta {
//	  string node_id = 1;
//	  string actor_addr = 2;
//	  uint32 role = 3;                // Role: 1 head, 2 worker, 3 driver
//	  string version = 4;
//	  string fingerprint = 5;
//	  map<string, int64> resources = 6;
//	  map<string, string> labels = 7;
//	  int64 started_unix_nano = 8;
//	}
//
// Fields a decoder does not know are skipped, so fields can be added
// without a new format version; a change old members cannot read takes a
// new version byte, which they refuse. Encoding is deterministic (fields in
// number order, map entries by key), so equal metadata encodes to equal
// bytes and memberlist's "metadata changed" check stays exact.
const metaFormat = 1

const (
	fieldNodeID      protowire.Number = 1
	fieldActorAddr   protowire.Number = 2
	fieldRole        protowire.Number = 3
	fieldVersion     protowire.Number = 4
	fieldFingerprint protowire.Number = 5
	fieldResources   protowire.Number = 6
	fieldLabels      protowire.Number = 7
	fieldStartedAt   protowire.Number = 8

	fieldMapKey   protowire.Number = 1
	fieldMapValue protowire.Number = 2
)

// MarshalBinary validates m and encodes it. It fails with ErrInvalidMeta
// for metadata Validate refuses and with ErrMetaTooLarge when the encoding
// exceeds MaxMetaSize.
func (m Meta) MarshalBinary() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 128)
	b = append(b, metaFormat)
	b = appendString(b, fieldNodeID, m.NodeID)
	b = appendString(b, fieldActorAddr, m.ActorAddr)
	b = protowire.AppendTag(b, fieldRole, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(m.Role))
	b = appendString(b, fieldVersion, m.Version)
	b = appendString(b, fieldFingerprint, m.Fingerprint)
	for _, k := range slices.Sorted(maps.Keys(m.Resources)) {
		var e []byte
		e = appendString(e, fieldMapKey, k)
		if v := m.Resources[k]; v != 0 {
			e = protowire.AppendTag(e, fieldMapValue, protowire.VarintType)
			e = protowire.AppendVarint(e, uint64(v))
		}
		b = protowire.AppendTag(b, fieldResources, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
		var e []byte
		e = appendString(e, fieldMapKey, k)
		e = appendString(e, fieldMapValue, m.Labels[k])
		b = protowire.AppendTag(b, fieldLabels, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	}
	if !m.StartedAt.IsZero() {
		b = protowire.AppendTag(b, fieldStartedAt, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(m.StartedAt.UnixNano()))
	}
	if len(b) > MaxMetaSize {
		return nil, fmt.Errorf("%w: %d bytes encoded, the limit is %d (node %s: %d resources, %d labels)",
			ErrMetaTooLarge, len(b), MaxMetaSize, m.NodeID, len(m.Resources), len(m.Labels))
	}
	return b, nil
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// UnmarshalBinary decodes metadata encoded by MarshalBinary and validates
// it. It never panics: any other input gives an error wrapping
// ErrInvalidMeta (or ErrMetaTooLarge for more than MaxMetaSize bytes). On
// error m is left unchanged.
func (m *Meta) UnmarshalBinary(b []byte) error {
	if len(b) > MaxMetaSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMetaTooLarge, len(b), MaxMetaSize)
	}
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidMeta)
	}
	if b[0] != metaFormat {
		return fmt.Errorf("%w: format version %d, want %d", ErrInvalidMeta, b[0], metaFormat)
	}
	var out Meta
	b = b[1:]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return wireError("tag", n)
		}
		b = b[n:]
		switch num {
		case fieldNodeID, fieldActorAddr, fieldVersion, fieldFingerprint:
			if typ != protowire.BytesType {
				return fmt.Errorf("%w: field %d has wire type %d", ErrInvalidMeta, num, typ)
			}
			s, n := protowire.ConsumeString(b)
			if n < 0 {
				return wireError("string", n)
			}
			b = b[n:]
			switch num {
			case fieldNodeID:
				out.NodeID = s
			case fieldActorAddr:
				out.ActorAddr = s
			case fieldVersion:
				out.Version = s
			default:
				out.Fingerprint = s
			}
		case fieldRole, fieldStartedAt:
			if typ != protowire.VarintType {
				return fmt.Errorf("%w: field %d has wire type %d", ErrInvalidMeta, num, typ)
			}
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return wireError(fmt.Sprintf("field %d", num), n)
			}
			b = b[n:]
			if num == fieldStartedAt {
				if int64(v) <= 0 {
					return fmt.Errorf("%w: start time %d", ErrInvalidMeta, int64(v))
				}
				out.StartedAt = time.Unix(0, int64(v))
				break
			}
			if v > 255 {
				return fmt.Errorf("%w: role %d", ErrInvalidMeta, v)
			}
			out.Role = Role(v)
		case fieldResources, fieldLabels:
			if typ != protowire.BytesType {
				return fmt.Errorf("%w: field %d has wire type %d", ErrInvalidMeta, num, typ)
			}
			e, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return wireError("map entry", n)
			}
			b = b[n:]
			if num == fieldResources {
				k, v, err := decodeResource(e)
				if err != nil {
					return err
				}
				if out.Resources == nil {
					out.Resources = make(map[string]int64)
				}
				out.Resources[k] = v
			} else {
				k, v, err := decodeLabel(e)
				if err != nil {
					return err
				}
				if out.Labels == nil {
					out.Labels = make(map[string]string)
				}
				out.Labels[k] = v
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return wireError(fmt.Sprintf("field %d", num), n)
			}
			b = b[n:]
		}
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*m = out
	return nil
}

func decodeResource(e []byte) (string, int64, error) {
	var (
		key string
		val int64
	)
	for len(e) > 0 {
		num, typ, n := protowire.ConsumeTag(e)
		if n < 0 {
			return "", 0, wireError("resource entry tag", n)
		}
		e = e[n:]
		switch {
		case num == fieldMapKey && typ == protowire.BytesType:
			s, n := protowire.ConsumeString(e)
			if n < 0 {
				return "", 0, wireError("resource name", n)
			}
			key, e = s, e[n:]
		case num == fieldMapValue && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(e)
			if n < 0 {
				return "", 0, wireError("resource value", n)
			}
			val, e = int64(v), e[n:]
		case num == fieldMapKey || num == fieldMapValue:
			return "", 0, fmt.Errorf("%w: resource entry field %d has wire type %d", ErrInvalidMeta, num, typ)
		default:
			n := protowire.ConsumeFieldValue(num, typ, e)
			if n < 0 {
				return "", 0, wireError("resource entry", n)
			}
			e = e[n:]
		}
	}
	return key, val, nil
}

func decodeLabel(e []byte) (string, string, error) {
	var key, val string
	for len(e) > 0 {
		num, typ, n := protowire.ConsumeTag(e)
		if n < 0 {
			return "", "", wireError("label entry tag", n)
		}
		e = e[n:]
		switch {
		case (num == fieldMapKey || num == fieldMapValue) && typ == protowire.BytesType:
			s, n := protowire.ConsumeString(e)
			if n < 0 {
				return "", "", wireError("label", n)
			}
			e = e[n:]
			if num == fieldMapKey {
				key = s
			} else {
				val = s
			}
		case num == fieldMapKey || num == fieldMapValue:
			return "", "", fmt.Errorf("%w: label entry field %d has wire type %d", ErrInvalidMeta, num, typ)
		default:
			n := protowire.ConsumeFieldValue(num, typ, e)
			if n < 0 {
				return "", "", wireError("label entry", n)
			}
			e = e[n:]
		}
	}
	return key, val, nil
}

func wireError(what string, n int) error {
	return fmt.Errorf("%w: %s: %v", ErrInvalidMeta, what, protowire.ParseError(n))
}
