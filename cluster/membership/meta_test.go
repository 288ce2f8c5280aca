package membership

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func validMeta() Meta {
	return Meta{
		NodeID:      "0123456789abcdef",
		ActorAddr:   "10.0.0.7:41234",
		Role:        RoleHead,
		Version:     "0.3.1",
		Fingerprint: strings.Repeat("ab", 32),
		Resources:   map[string]int64{"CPU": 80000, "GPU": 10000, "memory": 16 << 30 * 10000 / 1024},
		Labels:      map[string]string{"zone": "eu-1", "accelerator": "a100"},
		StartedAt:   time.Unix(1_700_000_000, 123456789),
	}
}

func TestMetaRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		meta Meta
	}{
		{"full", validMeta()},
		{"minimal", Meta{NodeID: "00000000000000a1", ActorAddr: "h:1", Role: RoleDriver}},
		{"IPv6 actor address", func() Meta { m := validMeta(); m.ActorAddr = "[::1]:8080"; return m }()},
		{"zero resource", func() Meta { m := validMeta(); m.Resources = map[string]int64{"GPU": 0}; return m }()},
		{"empty label value", func() Meta { m := validMeta(); m.Labels = map[string]string{"spot": ""}; return m }()},
		{"unicode", func() Meta { m := validMeta(); m.Labels = map[string]string{"régión": "ñ"}; return m }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.meta.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if len(b) > MaxMetaSize {
				t.Fatalf("%d bytes", len(b))
			}
			var got Meta
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !got.Equal(tt.meta) {
				t.Fatalf("round trip gave %+v, want %+v", got, tt.meta)
			}
			again, err := got.MarshalBinary()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs: %x vs %x (%v)", again, b, err)
			}
		})
	}
}

func TestMetaEncodingIsDeterministic(t *testing.T) {
	// Map iteration order varies between calls; the encoding must not.
	m := validMeta()
	m.Labels = map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}
	first, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, err := m.Clone().MarshalBinary()
		if err != nil || !bytes.Equal(b, first) {
			t.Fatalf("encoding changed between calls: %x vs %x", b, first)
		}
	}
}

func TestMetaValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Meta)
	}{
		{"node ID too short", func(m *Meta) { m.NodeID = "0123" }},
		{"node ID upper case", func(m *Meta) { m.NodeID = "0123456789ABCDEF" }},
		{"node ID not hex", func(m *Meta) { m.NodeID = "0123456789abcdeg" }},
		{"no actor address", func(m *Meta) { m.ActorAddr = "" }},
		{"actor address without port", func(m *Meta) { m.ActorAddr = "10.0.0.1" }},
		{"actor address port 0", func(m *Meta) { m.ActorAddr = "10.0.0.1:0" }},
		{"actor address port too big", func(m *Meta) { m.ActorAddr = "10.0.0.1:65536" }},
		{"actor address without host", func(m *Meta) { m.ActorAddr = ":80" }},
		{"no role", func(m *Meta) { m.Role = 0 }},
		{"unknown role", func(m *Meta) { m.Role = 4 }},
		{"version too long", func(m *Meta) { m.Version = strings.Repeat("v", MaxVersionLen+1) }},
		{"version not UTF-8", func(m *Meta) { m.Version = "\xff" }},
		{"fingerprint too long", func(m *Meta) { m.Fingerprint = strings.Repeat("f", MaxFingerprintLen+1) }},
		{"negative resource", func(m *Meta) { m.Resources = map[string]int64{"CPU": -1} }},
		{"empty resource name", func(m *Meta) { m.Resources = map[string]int64{"": 1} }},
		{"empty label key", func(m *Meta) { m.Labels = map[string]string{"": "x"} }},
		{"label value too long", func(m *Meta) { m.Labels = map[string]string{"k": strings.Repeat("x", MaxNameLen+1)} }},
		{"start before 1970", func(m *Meta) { m.StartedAt = time.Unix(-5, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMeta()
			tt.change(&m)
			if err := m.Validate(); !errors.Is(err, ErrInvalidMeta) {
				t.Fatalf("Validate: %v, want ErrInvalidMeta", err)
			}
			if _, err := m.MarshalBinary(); !errors.Is(err, ErrInvalidMeta) {
				t.Fatalf("MarshalBinary: %v, want ErrInvalidMeta", err)
			}
		})
	}
	if err := validMeta().Validate(); err != nil {
		t.Fatalf("valid metadata: %v", err)
	}
}

func TestMetaTooLarge(t *testing.T) {
	m := validMeta()
	m.Labels = map[string]string{}
	for i := range 12 {
		m.Labels[strings.Repeat(string(rune('a'+i)), 8)] = strings.Repeat("v", 40)
	}
	_, err := m.MarshalBinary()
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("MarshalBinary: %v, want ErrMetaTooLarge", err)
	}
	if !strings.Contains(err.Error(), "limit is 512") {
		t.Errorf("error %q does not name the limit", err)
	}
	var got Meta
	if err := got.UnmarshalBinary(make([]byte, MaxMetaSize+1)); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("UnmarshalBinary of %d bytes: %v, want ErrMetaTooLarge", MaxMetaSize+1, err)
	}
}

func TestMetaUnmarshalRejects(t *testing.T) {
	good, err := validMeta().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	withField := func(f func([]byte) []byte) []byte {
		return f(append([]byte{metaFormat}, good[1:]...))
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"format 0", append([]byte{0}, good[1:]...)},
		{"format 2", append([]byte{2}, good[1:]...)},
		{"truncated", good[:len(good)-3]},
		{"only the version byte", []byte{metaFormat}},
		{"node ID as varint", withField(func(b []byte) []byte {
			b = protowire.AppendTag(b, fieldNodeID, protowire.VarintType)
			return protowire.AppendVarint(b, 7)
		})},
		{"role too big", withField(func(b []byte) []byte {
			b = protowire.AppendTag(b, fieldRole, protowire.VarintType)
			return protowire.AppendVarint(b, 1<<40)
		})},
		{"negative resource", withField(func(b []byte) []byte {
			var e []byte
			e = protowire.AppendTag(e, fieldMapKey, protowire.BytesType)
			e = protowire.AppendString(e, "CPU")
			e = protowire.AppendTag(e, fieldMapValue, protowire.VarintType)
			e = protowire.AppendVarint(e, uint64(1<<63))
			b = protowire.AppendTag(b, fieldResources, protowire.BytesType)
			return protowire.AppendBytes(b, e)
		})},
		{"label value as varint", withField(func(b []byte) []byte {
			var e []byte
			e = protowire.AppendTag(e, fieldMapKey, protowire.BytesType)
			e = protowire.AppendString(e, "k")
			e = protowire.AppendTag(e, fieldMapValue, protowire.VarintType)
			e = protowire.AppendVarint(e, 1)
			b = protowire.AppendTag(b, fieldLabels, protowire.BytesType)
			return protowire.AppendBytes(b, e)
		})},
		{"invalid UTF-8 version", withField(func(b []byte) []byte {
			b = protowire.AppendTag(b, fieldVersion, protowire.BytesType)
			return protowire.AppendBytes(b, []byte{0xff, 0xfe})
		})},
		{"start time zero", withField(func(b []byte) []byte {
			b = protowire.AppendTag(b, fieldStartedAt, protowire.VarintType)
			return protowire.AppendVarint(b, 0)
		})},
		{"field number 0", withField(func(b []byte) []byte { return append(b, 0x00, 0x01) })},
		{"string length past the end", withField(func(b []byte) []byte {
			b = protowire.AppendTag(b, fieldVersion, protowire.BytesType)
			return protowire.AppendVarint(b, 1000)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMeta()
			before := m.Clone()
			err := m.UnmarshalBinary(tt.in)
			if !errors.Is(err, ErrInvalidMeta) && !errors.Is(err, ErrMetaTooLarge) {
				t.Fatalf("UnmarshalBinary: %v, want ErrInvalidMeta", err)
			}
			if !m.Equal(before) {
				t.Errorf("a failed decode changed the receiver to %+v", m)
			}
		})
	}
}

func TestMetaUnmarshalSkipsUnknownFields(t *testing.T) {
	good, err := validMeta().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte(nil), good...)
	b = protowire.AppendTag(b, 99, protowire.BytesType)
	b = protowire.AppendString(b, "from a newer version")
	b = protowire.AppendTag(b, 100, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 42)
	var got Meta
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatalf("UnmarshalBinary with unknown fields: %v", err)
	}
	if !got.Equal(validMeta()) {
		t.Fatalf("got %+v", got)
	}
}

func TestRoleNames(t *testing.T) {
	for _, r := range []Role{RoleHead, RoleWorker, RoleDriver} {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r.String(), got, err)
		}
	}
	if _, err := ParseRole("boss"); !errors.Is(err, ErrInvalidMeta) {
		t.Errorf("ParseRole(boss): %v", err)
	}
	if s := Role(9).String(); s != "Role(9)" {
		t.Errorf("Role(9).String() = %q", s)
	}
}

// FuzzMetaUnmarshal feeds arbitrary bytes to the decoder: it must not panic,
// and whatever it accepts must be valid, re-encode within the limit, and
// decode again to the same metadata and the same bytes.
func FuzzMetaUnmarshal(f *testing.F) {
	good, err := validMeta().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	minimal, err := Meta{NodeID: "00000000000000a1", ActorAddr: "h:1", Role: RoleDriver}.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(minimal)
	f.Add([]byte{})
	f.Add([]byte{metaFormat})
	f.Add([]byte{metaFormat, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Meta
		if err := m.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrInvalidMeta) && !errors.Is(err, ErrMetaTooLarge) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded invalid metadata: %v", err)
		}
		enc, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded metadata does not encode: %v", err)
		}
		var again Meta
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-encoded metadata does not decode: %v", err)
		}
		if !again.Equal(m) {
			t.Fatalf("round trip changed %+v to %+v", m, again)
		}
		enc2, err := again.MarshalBinary()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %x vs %x", enc, enc2)
		}
	})
}
