package goray_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

var (
	genYielded sync.Map // key -> *atomic.Int32: items yielded
	// countUp yields 0..n-1, failing at fail when it is within range.
	countUp = goray.TaskGen("test.stream.count", func(ctx context.Context, p genParams, yield func(int) error) error {
		for i := range p.N {
			if i == p.FailAt {
				return fmt.Errorf("failed at %d", i)
			}
			if i == p.PanicAt {
				panic(fmt.Sprintf("panic at %d", i))
			}
			if err := yield(i); err != nil {
				return err
			}
			if p.Key != "" {
				counter(&genYielded, p.Key).Add(1)
			}
		}
		return nil
	})
	// bigItems yields n items of 1 MiB each but the ones at odd indexes,
	// which are small; item i is filled with byte i.
	bigItems    = goray.TaskGen("test.stream.big", yieldBig)
	bigItemsGen = goray.MethodGen(streamer, "big", func(_ *Streamer, ctx context.Context, n int, yield func([]byte) error) error {
		return yieldBig(ctx, n, yield)
	})
)

// retriedBig is bigItemsGen whose first attempt for a key fails its actor
// after yielding PanicAt items: the call runs again on the restarted
// actor, yielding those items again.
var retriedBig = goray.MethodGen(streamer, "big-retried", func(_ *Streamer, ctx context.Context, p genParams, yield func([]byte) error) error {
	first := counter(&genYielded, p.Key).Add(1) == 1
	return yieldBig(ctx, p.N, func(b []byte) error {
		if first && int(b[0]) == p.PanicAt {
			panic("first attempt fails")
		}
		return yield(b)
	})
})

func yieldBig(ctx context.Context, n int, yield func([]byte) error) error {
	for i := range n {
		size := 1 << 20
		if i%2 == 1 {
			size = 10
		}
		if err := yield(bytes.Repeat([]byte{byte(i)}, size)); err != nil {
			return err
		}
	}
	return nil
}

type genParams struct {
	N, FailAt, PanicAt int
	Key                string
}

func collect(t *testing.T, ctx context.Context, s *goray.Stream[int]) ([]int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var got []int
	for r, err := range s.All(ctx) {
		if err != nil {
			return got, err
		}
		got = append(got, mustGet(t, ctx, r))
	}
	return got, nil
}

// generatorCases are the streams every kind of generator is run through.
var generatorCases = []struct {
	name    string
	params  genParams
	opts    []goray.Option
	want    int
	wantErr string
}{
	{"all items in order", genParams{N: 50, FailAt: -1, PanicAt: -1}, nil, 50, ""},
	{"with backpressure", genParams{N: 30, FailAt: -1, PanicAt: -1}, []goray.Option{goray.Backpressure(2)}, 30, ""},
	{"error after the items before it", genParams{N: 10, FailAt: 4, PanicAt: -1}, nil, 4, "failed at 4"},
	{"panic mid-stream", genParams{N: 10, FailAt: -1, PanicAt: 6}, nil, 6, "panic at 6"},
	{"empty", genParams{N: 0, FailAt: -1, PanicAt: -1}, nil, 0, ""},
}

// checkStreamErr fails the test unless a stream ended with no error when
// want is empty, or with a task failure that says want.
func checkStreamErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("stream error %v", err)
	case want != "" && (!errors.Is(err, goray.ErrTaskFailed) || !strings.Contains(err.Error(), want)):
		t.Fatalf("stream error %v, want %q", err, want)
	}
}

func TestStreamingGenerator(t *testing.T) {
	ctx := start(t, goray.WithCPUs(2))
	leaksNothing(t, ctx)
	for _, tt := range generatorCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(t, ctx, countUp.Remote(ctx, tt.params, tt.opts...))
			if len(got) != tt.want {
				t.Fatalf("%d items, want %d (%v)", len(got), tt.want, err)
			}
			for i, v := range got {
				if v != i {
					t.Fatalf("item %d is %d", i, v)
				}
			}
			checkStreamErr(t, err, tt.wantErr)
		})
	}
	t.Run("the producer waits for its consumer", func(t *testing.T) {
		key := uniqueKey(t)
		s := countUp.Remote(ctx, genParams{N: 100, FailAt: -1, PanicAt: -1, Key: key}, goray.Backpressure(3))
		r, ok, err := nextWithin(ctx, s, 20*time.Second)
		if !ok || err != nil || mustGet(t, ctx, r) != 0 {
			t.Fatalf("first item: %v %v", ok, err)
		}
		// One taken, three ahead at most: the fifth item is never yielded.
		pollUntil(t, "producer ahead", func() bool { return counter(&genYielded, key).Load() >= 4 })
		if n := counter(&genYielded, key).Load(); n != 4 {
			t.Fatalf("producer yielded %d items with 1 taken and backpressure 3", n)
		}
		s.Close()
		pollUntil(t, "abandoned generator cancelled", func() bool { return !running(t, ctx, "test.stream.count") })
		if n := counter(&genYielded, key).Load(); n != 4 {
			t.Fatalf("abandoned producer went on to %d items", n)
		}
	})
	t.Run("breaking out of the range abandons the stream", func(t *testing.T) {
		key := uniqueKey(t)
		for r, err := range countUp.Remote(ctx, genParams{N: 1000, FailAt: -1, PanicAt: -1, Key: key}, goray.Backpressure(1)).All(withDeadline(t, ctx)) {
			if err != nil || mustGet(t, ctx, r) == 2 {
				break
			}
		}
		pollUntil(t, "abandoned generator cancelled", func() bool { return !running(t, ctx, "test.stream.count") })
		if n := counter(&genYielded, key).Load(); n > 4 {
			t.Fatalf("abandoned producer went on to %d items", n)
		}
	})
	t.Run("a stream nobody reaches is abandoned", func(t *testing.T) {
		key := uniqueKey(t)
		func() {
			s := countUp.Remote(ctx, genParams{N: 1000, FailAt: -1, PanicAt: -1, Key: key}, goray.Backpressure(1))
			if _, ok, err := nextWithin(ctx, s, 20*time.Second); !ok || err != nil {
				t.Fatalf("first item: %v %v", ok, err)
			}
		}()
		pollUntil(t, "dropped stream's generator cancelled", func() bool {
			return counter(&genYielded, key).Load() > 0 && !running(t, ctx, "test.stream.count")
		})
		if n := counter(&genYielded, key).Load(); n > 3 {
			t.Fatalf("abandoned producer went on to %d items", n)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		_, err := collect(t, ctx, countUp.Remote(ctx, genParams{N: 1}, goray.Backpressure(0)))
		if !errors.Is(err, goray.ErrInvalidArgument) {
			t.Fatalf("Backpressure(0): %v", err)
		}
	})
}

// Items too large to travel inline go through the object store, owned by
// the consumer: they live while it holds their Refs, and no longer.
func TestStreamingLargeItems(t *testing.T) {
	ctx := start(t, goray.WithCPUs(2))
	a, err := streamer.New(ctx, goray.ConcurrencyGroup("io", 1))
	if err != nil {
		t.Fatal(err)
	}
	baseline := storeObjects(t, ctx)
	for _, tc := range []struct {
		name string
		open func(n int, opts ...goray.Option) *goray.Stream[[]byte]
	}{
		{"task", func(n int, opts ...goray.Option) *goray.Stream[[]byte] { return bigItems.Remote(ctx, n, opts...) }},
		{"method", func(n int, opts ...goray.Option) *goray.Stream[[]byte] { return bigItemsGen.Remote(ctx, a, n, opts...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			func() {
				var refs []goray.Ref[[]byte]
				for r, err := range tc.open(5).All(withDeadline(t, ctx)) {
					if err != nil {
						t.Fatal(err)
					}
					refs = append(refs, r)
				}
				if len(refs) != 5 {
					t.Fatalf("%d items, want 5", len(refs))
				}
				for i, r := range refs {
					want := 1 << 20
					if i%2 == 1 {
						want = 10
					}
					if got := mustGet(t, ctx, r); !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, want)) {
						t.Fatalf("item %d: %d bytes, want %d of %d", i, len(got), want, i)
					}
				}
				if n := storeObjects(t, ctx); n != baseline+3 {
					t.Fatalf("%d objects in the store with 3 large items held, %d before", n, baseline)
				}
			}()
			pollUntil(t, "dropped items freed", func() bool { return storeObjects(t, ctx) == baseline })
			// An abandoned stream lets go of what it did not hand out.
			func() {
				s := tc.open(20, goray.Backpressure(2))
				if _, ok, err := nextWithin(ctx, s, 20*time.Second); !ok || err != nil {
					t.Fatalf("first item: %v %v", ok, err)
				}
				s.Close()
			}()
			pollUntil(t, "items of an abandoned stream freed", func() bool { return storeObjects(t, ctx) == baseline })
		})
	}
	t.Run("a retried call's items come once", func(t *testing.T) {
		b, err := streamer.New(ctx, goray.ConcurrencyGroup("io", 1), goray.MaxRestarts(-1), goray.MaxTaskRetries(1))
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range [][]goray.Option{nil, {goray.Backpressure(1)}} {
			func() {
				var got [][]byte
				for r, err := range retriedBig.Remote(ctx, b, genParams{N: 6, PanicAt: 3, Key: uniqueKey(t)}, opts...).All(withDeadline(t, ctx)) {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, mustGet(t, ctx, r))
				}
				if len(got) != 6 {
					t.Fatalf("%d items, want 6", len(got))
				}
				for i, v := range got {
					if len(v) == 0 || v[0] != byte(i) {
						t.Fatalf("item %d starts with %v", i, v[:1])
					}
				}
			}()
			pollUntil(t, "items and their copies freed", func() bool { return storeObjects(t, ctx) == baseline })
		}
	})
}
