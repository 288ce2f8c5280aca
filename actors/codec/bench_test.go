package codec

import (
	"testing"
)

func benchRoundTrip[T any](b *testing.B, v T, bytesPerOp int64) {
	if bytesPerOp > 0 {
		b.SetBytes(bytesPerOp)
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		buf, err = AppendEncode(buf[:0], v)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode[T](buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRoundTripInt(b *testing.B) {
	benchRoundTrip(b, 123456, 0)
}

func BenchmarkRoundTripStruct(b *testing.B) {
	benchRoundTrip(b, point{X: 1.5, Y: -2, Name: "origin", Tags: []string{"a", "b"}}, 0)
}

func BenchmarkRoundTripFloat32MiB(b *testing.B) {
	v := make([]float32, 1<<20/4)
	for i := range v {
		v[i] = float32(i)
	}
	benchRoundTrip(b, v, 1<<20)
}

func BenchmarkEncodeInt(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(123456); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInt(b *testing.B) {
	data, err := Encode(123456)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode[int](data); err != nil {
			b.Fatal(err)
		}
	}
}

type benchLevel int

func BenchmarkRoundTripNamedInt(b *testing.B) {
	benchRoundTrip(b, benchLevel(123456), 0)
}

func BenchmarkRoundTripFloat64(b *testing.B) {
	benchRoundTrip(b, 3.25, 0)
}

func BenchmarkRoundTripBool(b *testing.B) {
	benchRoundTrip(b, true, 0)
}

func BenchmarkRoundTripIntAsAny(b *testing.B) {
	benchRoundTrip[any](b, 123456, 0)
}
