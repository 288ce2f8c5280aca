package pb

// Validation of the messages of transfer.proto, by the rules of validate.go.

// Limits of object transfer checked by Validate.
const (
	// MaxChunkLen bounds the bytes one ObjectChunk carries and one
	// ReadChunk asks for. A chunk of this size, with protoactor's envelope
	// and gRPC's framing, stays well under the 16 MiB the transport accepts
	// in one message.
	MaxChunkLen = 8 << 20
	// MaxObjectSize bounds an object's size, and so the offsets into it,
	// as transfer messages carry them: 1 TiB.
	MaxObjectSize = 1 << 40
	// MaxSources bounds the stores a FetchObject names.
	MaxSources = 1024
)

func checkBounded(typ, field string, n, limit int64) error {
	if n < 0 {
		return invalid(typ, field, "%d is negative", n)
	}
	if n > limit {
		return invalid(typ, field, "%d, more than %d", n, limit)
	}
	return nil
}

// Validate checks the object ID, every source's PID, the directory when
// set, the expected size when set and the timeout.
func (m *FetchObject) Validate() error {
	const t = "FetchObject"
	if m == nil {
		return nilMessage(t)
	}
	if err := checkID(t, "object_id", m.ObjectId); err != nil {
		return err
	}
	if len(m.Sources) > MaxSources {
		return invalid(t, "sources", "%d sources, more than %d", len(m.Sources), MaxSources)
	}
	for i, p := range m.Sources {
		if p == nil {
			return missing(t, index("sources", i))
		}
		if err := p.Validate(); err != nil {
			return nested(t, index("sources", i), err)
		}
	}
	var size error
	if m.Size != nil {
		size = checkBounded(t, "size", *m.Size, MaxObjectSize)
	}
	return firstError(
		checkPid(t, "directory", m.Directory, false),
		size,
		checkNonNegative(t, "timeout_ms", m.TimeoutMs),
	)
}

// Validate checks the object ID and the requester's PID.
func (m *CancelFetch) Validate() error {
	const t = "CancelFetch"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "object_id", m.ObjectId),
		checkPid(t, "requester", m.Requester, true),
	)
}

// Validate checks the object ID, that the offset lies within an object of
// the largest size and that the length is positive and at most MaxChunkLen.
func (m *ReadChunk) Validate() error {
	const t = "ReadChunk"
	if m == nil {
		return nilMessage(t)
	}
	if err := firstError(
		checkID(t, "object_id", m.ObjectId),
		checkBounded(t, "offset", m.Offset, MaxObjectSize),
		checkBounded(t, "length", m.Length, MaxChunkLen),
	); err != nil {
		return err
	}
	if m.Length == 0 {
		return invalid(t, "length", "zero")
	}
	return nil
}

// Validate checks the object ID, the offset and size bounds, that the data
// is at most MaxChunkLen and lies within the object, and the error when set,
// which comes without data.
func (m *ObjectChunk) Validate() error {
	const t = "ObjectChunk"
	if m == nil {
		return nilMessage(t)
	}
	if err := firstError(
		checkID(t, "object_id", m.ObjectId),
		checkBounded(t, "offset", m.Offset, MaxObjectSize),
		checkBounded(t, "total_size", m.TotalSize, MaxObjectSize),
		checkError(t, "error", m.Error),
		checkLen(t, "stream", m.Stream, MaxAddressLen),
	); err != nil {
		return err
	}
	n := int64(len(m.Data))
	switch {
	case n > MaxChunkLen:
		return invalid(t, "data", "%d bytes, more than %d", n, MaxChunkLen)
	case m.Error != nil && n > 0:
		return invalid(t, "data", "%d bytes beside an error", n)
	case m.Error == nil && m.Offset+n > m.TotalSize:
		return invalid(t, "data", "%d bytes at offset %d end past total_size %d", n, m.Offset, m.TotalSize)
	}
	return nil
}

// Validate checks the object ID, the node ID and the store's PID.
func (m *AddLocation) Validate() error {
	const t = "AddLocation"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "object_id", m.ObjectId),
		checkHexID(t, "node_id", m.NodeId),
		checkPid(t, "store", m.Store, true),
	)
}

// Validate checks the node ID.
func (m *RemoveNode) Validate() error {
	if m == nil {
		return nilMessage("RemoveNode")
	}
	return checkHexID("RemoveNode", "node_id", m.NodeId)
}

// Validate checks the node ID, every object ID and their count.
func (m *ObjectsLost) Validate() error {
	const t = "ObjectsLost"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(
		checkHexID(t, "node_id", m.NodeId),
		checkIDs(t, "object_ids", m.ObjectIds),
	)
}
