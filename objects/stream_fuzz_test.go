package objects

import (
	"bytes"
	"errors"
	"testing"

	pb "github.com/goray-dev/goray/proto"
)

// FuzzStreamAnswers feeds a stream's reader arbitrary bytes as the chunk
// server's answers to three pending requests. Whatever arrives, the reader
// writes nowhere but the requests' buffers, reports a chunk as received
// only with all its bytes, and ends with an error.
func FuzzStreamAnswers(f *testing.F) {
	const n = 16
	f.Add(append(streamHeader(0, 0, 3*n, n, 0), bytes.Repeat([]byte{1}, n)...))
	f.Add(append(streamHeader(uint32(pb.ErrorKind_ERROR_KIND_OBJECT_LOST)+1, 0, 0, 0, 4), "lost"...))
	f.Add(append(streamHeader(0, 0, 3*n, n+1, 0), bytes.Repeat([]byte{1}, n+1)...))
	f.Add(streamHeader(7, 1<<40, -1, -1, 1<<31))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Three buffers of n bytes with guard bytes around each.
		const guard = 8
		mem := bytes.Repeat([]byte{0xEE}, guard+3*(n+guard))
		sc := &streamConn{}
		for i := range 3 {
			start := guard + i*(n+guard)
			sc.pending = append(sc.pending, streamReq{off: int64(i * n), dst: mem[start : start+n : start+n]})
		}
		var reports []*streamChunk
		err := sc.read(bytes.NewReader(data), func(m any) { reports = append(reports, m.(*streamChunk)) })
		if err == nil {
			t.Fatal("the reader ended without an error")
		}
		for i := range 4 {
			start := i * (n + guard)
			for j, b := range mem[start : start+guard] {
				if b != 0xEE {
					t.Fatalf("guard byte %d before buffer %d overwritten", j, i)
				}
			}
		}
		if len(reports) > 3 {
			t.Fatalf("%d answers reported for 3 requests", len(reports))
		}
		for _, r := range reports {
			if r.err == nil && r.n != int64(len(r.r.dst)) {
				t.Fatalf("a chunk of %d bytes reported for a request of %d", r.n, len(r.r.dst))
			}
			if r.err != nil && !errors.Is(r.err, ErrSourceFailed) && !errors.Is(r.err, ErrMalformedChunk) {
				t.Fatalf("reported error %v is neither a source's failure nor a malformed chunk", r.err)
			}
		}
	})
}
