package goray_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// Values that hold references, as user code writes them.
type (
	refBag struct {
		One   goray.Ref[int]
		Many  []goray.Ref[int]
		ByKey map[string]goray.Ref[int]
		Ptr   *refBag
	}
	bigBag struct{ Blobs []goray.Ref[[]byte] }
	// withAny hides a Ref in an interface, which cannot travel.
	withAny struct{ V any }
	// hidden keeps a Ref in an unexported field, which is not encoded.
	hidden struct {
		N int
		r goray.Ref[int]
	}
	counterBox struct{ C goray.ActorRef[Holder] }
	holderBox  struct {
		H   goray.ActorRef[Holder]
		Bag bigBag
	}
)

// Holder is an actor that keeps a bigBag in its state.
type Holder struct{ bag bigBag }

var (
	sumBag = goray.Task("test.refs.sum-bag", func(ctx context.Context, b refBag) (int, error) {
		total := 0
		add := func(r goray.Ref[int]) error {
			if r == (goray.Ref[int]{}) {
				return nil // a zero Ref arrives as a zero Ref
			}
			v, err := goray.Get(ctx, r)
			total += v
			return err
		}
		for b := &b; b != nil; b = b.Ptr {
			if err := add(b.One); err != nil {
				return 0, err
			}
			for _, r := range b.Many {
				if err := add(r); err != nil {
					return 0, err
				}
			}
			for _, r := range b.ByKey {
				if err := add(r); err != nil {
					return 0, err
				}
			}
		}
		return total, nil
	})
	sumRefs = goray.Task("test.refs.sum-slice", func(ctx context.Context, rs []goray.Ref[int]) (int, error) {
		vs, err := goray.GetAll(ctx, rs)
		total := 0
		for _, v := range vs {
			total += v
		}
		return total, err
	})
	makeBag = goray.Task("test.refs.make-bag", func(ctx context.Context, n int) (bigBag, error) {
		var b bigBag
		for i := range n {
			r, err := goray.Put(ctx, bytes.Repeat([]byte{byte(i)}, 150<<10))
			if err != nil {
				return b, err
			}
			b.Blobs = append(b.Blobs, r)
		}
		return b, nil
	})
	holder    = goray.Actor0("test.refs.holder", func(ctx context.Context) (*Holder, error) { return &Holder{}, nil })
	holdBag   = goray.Method(holder, "hold", func(h *Holder, ctx context.Context, b bigBag) (int, error) { h.bag = b; return len(b.Blobs), nil })
	dropBag   = goray.Method0(holder, "drop", func(h *Holder, ctx context.Context) (int, error) { h.bag = bigBag{}; return 0, nil })
	readFirst = goray.Method0(holder, "read", func(h *Holder, ctx context.Context) (int, error) {
		if len(h.bag.Blobs) == 0 {
			return 0, errors.New("empty")
		}
		b, err := goray.Get(ctx, h.bag.Blobs[0])
		return len(b), err
	})
	// holderGC collects the garbage of the holder's process, where an
	// idle process may not run its GC for minutes.
	holderGC = goray.Method0(holder, "gc", func(h *Holder, ctx context.Context) (bool, error) {
		runtime.GC()
		return true, nil
	})
	// handToHolder hands a bag to a holder actor, from a task.
	handToHolder = goray.Task("test.refs.hand-to-holder", func(ctx context.Context, b holderBox) (int, error) {
		return goray.Get(ctx, holdBag.Remote(ctx, b.H, b.Bag))
	})
	callCounter = goray.Task("test.refs.call-counter", func(ctx context.Context, b counterBox) (int, error) {
		return goray.Get(ctx, holdBag.Remote(ctx, b.C, bigBag{}))
	})
	anyT    = goray.Task("test.refs.any", func(ctx context.Context, v withAny) (int, error) { return 0, nil })
	hiddenT = goray.Task("test.refs.hidden", func(ctx context.Context, v hidden) (int, error) { return v.N, nil })
)

func puts(t *testing.T, ctx context.Context, vs ...int) []goray.Ref[int] {
	t.Helper()
	out := make([]goray.Ref[int], len(vs))
	for i, v := range vs {
		r, err := goray.Put(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = r
	}
	return out
}

// A Ref anywhere in a value reaches the task as a Ref it can Get.
func TestRefsInsideValues(t *testing.T) {
	ctx := start(t)
	r := puts(t, ctx, 1, 10, 100, 1000, 10000)
	pending := double.Remote(ctx, 50000) // not ready when sent, maybe
	cases := []struct {
		name string
		bag  refBag
		want int
	}{
		{"field", refBag{One: r[0]}, 1},
		{"slice", refBag{Many: r[1:3]}, 110},
		{"map value", refBag{ByKey: map[string]goray.Ref[int]{"a": r[3], "b": r[4]}}, 11000},
		{"behind a pointer", refBag{One: r[0], Ptr: &refBag{Many: []goray.Ref[int]{r[2]}}}, 101},
		{"result of a running task", refBag{One: pending}, 100000},
		{"zero Refs stay zero", refBag{Many: []goray.Ref[int]{r[0]}, Ptr: &refBag{}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := mustGet(t, ctx, sumBag.Remote(ctx, c.bag)); got != c.want {
				t.Fatalf("got %d, want %d", got, c.want)
			}
		})
	}
	t.Run("parameter of slice type", func(t *testing.T) {
		if got := mustGet(t, ctx, sumRefs.Remote(ctx, r)); got != 11111 {
			t.Fatalf("got %d", got)
		}
	})
	t.Run("Put value", func(t *testing.T) {
		outer, err := goray.Put(ctx, refBag{Many: r})
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, ctx, sumBag.Submit(ctx, outer)); got != 11111 {
			t.Fatalf("got %d", got)
		}
		back := mustGet(t, ctx, outer)
		if len(back.Many) != 5 || back.Many[4].ID() != r[4].ID() {
			t.Fatalf("Put value came back as %+v", back)
		}
		if v := mustGet(t, ctx, back.Many[4]); v != 10000 {
			t.Fatalf("got %d", v)
		}
	})
	t.Run("actor handle", func(t *testing.T) {
		a, err := holder.New(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, ctx, callCounter.Remote(ctx, counterBox{C: a})); got != 0 {
			t.Fatalf("got %d", got)
		}
	})
}

// What cannot travel is an error where the value is passed, never a zero
// Ref at the other end.
func TestRefsInsideValuesBadInput(t *testing.T) {
	ctx := start(t)
	leaksNothing(t, ctx)
	freed := puts(t, ctx, 7)[0]
	if err := goray.Free(ctx, freed); err != nil {
		t.Fatal(err)
	}
	dead, err := holder.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := goray.Kill(ctx, dead); err != nil {
		t.Fatal(err)
	}
	live := puts(t, ctx, 1)[0]
	cases := []struct {
		name string
		ref  func() error
		want error
	}{
		{"freed Ref in a struct", func() error { _, err := goray.Get(ctx, sumBag.Remote(ctx, refBag{One: freed})); return err }, goray.ErrObjectFreed},
		{"freed Ref in Put", func() error { _, err := goray.Put(ctx, refBag{Many: []goray.Ref[int]{freed}}); return err }, goray.ErrObjectFreed},
		{"dead actor in a struct", func() error { _, err := goray.Get(ctx, callCounter.Remote(ctx, counterBox{C: dead})); return err }, goray.ErrActorDied},
		{"Ref inside any", func() error { _, err := goray.Get(ctx, anyT.Remote(ctx, withAny{V: live})); return err }, goray.ErrInvalidArgument},
		{"Ref in an unexported field", func() error { _, err := goray.Get(ctx, hiddenT.Remote(ctx, hidden{N: 1, r: live})); return err }, goray.ErrInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.ref(); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if got := mustGet(t, ctx, hiddenT.Remote(ctx, hidden{N: 3})); got != 3 {
		t.Fatalf("a zero unexported Ref is fine: got %d", got)
	}
}

// An object stays alive while a holder of a Ref inside a value keeps it,
// and goes once nothing does: a borrower's Refs count.
func TestRefsInsideValuesLifetime(t *testing.T) {
	ctx := start(t)
	a, err := holder.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		var bag bigBag
		for i := range 3 {
			r, err := goray.Put(ctx, bytes.Repeat([]byte{byte(i)}, 150<<10))
			if err != nil {
				t.Fatal(err)
			}
			bag.Blobs = append(bag.Blobs, r)
		}
		if n := mustGet(t, ctx, holdBag.Remote(ctx, a, bag)); n != 3 {
			t.Fatalf("held %d", n)
		}
	}()
	// The driver let go of its Refs; the actor holds them.
	for range 3 {
		runtime.GC()
	}
	if n := storeObjects(t, ctx); n != 3 {
		t.Fatalf("%d objects in the store while the actor holds 3", n)
	}
	if n := mustGet(t, ctx, readFirst.Remote(ctx, a)); n != 150<<10 {
		t.Fatalf("read %d bytes", n)
	}
	mustGet(t, ctx, dropBag.Remote(ctx, a))
	pollUntil(t, "objects freed once the actor dropped them", func() bool { return storeObjects(t, ctx) == 0 })
}

// Refs inside a result outlive the task that made them, for as long as the
// caller holds them, and no longer.
func TestRefsInsideResults(t *testing.T) {
	ctx := start(t)
	func() {
		outer := makeBag.Remote(ctx, 3)
		mustGet(t, ctx, outer) // the task is done; its own Refs are gone
		for range 3 {
			runtime.GC()
		}
		bag := mustGet(t, ctx, outer)
		if len(bag.Blobs) != 3 {
			t.Fatalf("got %d refs", len(bag.Blobs))
		}
		for i, r := range bag.Blobs {
			b := mustGet(t, ctx, r)
			if len(b) != 150<<10 || b[0] != byte(i) {
				t.Fatalf("blob %d: %d bytes", i, len(b))
			}
		}
		if n := storeObjects(t, ctx); n != 3 {
			t.Fatalf("%d objects in the store", n)
		}
	}()
	pollUntil(t, "objects of a dropped result freed", func() bool { return storeObjects(t, ctx) == 0 })
}

func ExamplePut_refsInside() {
	ctx, err := goray.Init(context.Background())
	if err != nil {
		panic(err)
	}
	defer goray.Shutdown(ctx)
	a, _ := goray.Put(ctx, 20)
	b, _ := goray.Put(ctx, 22)
	// A task takes a slice of Refs and fetches each.
	fmt.Println(goray.Get(ctx, sumRefs.Remote(ctx, []goray.Ref[int]{a, b})))
	// Output: 42 <nil>
}

// A Ref inside a value that a process on another node borrows keeps its
// object alive at its owner (the driver) after the owner let go of its own
// Refs; the object is freed once the borrower lets go, or once its node
// dies. w is a worker the case may kill.
func clusterBorrowing(t *testing.T, ctx context.Context, w *nodeProc) {
	pollUntil(t, "the borrower's node in the cluster", func() bool {
		nodes, err := goray.Nodes(ctx)
		return err == nil && slices.ContainsFunc(nodes, func(n goray.NodeInfo) bool { return n.ID == w.ID && n.Alive })
	})
	baseline := storeObjects(t, ctx)
	h, err := holder.New(ctx, goray.NodeAffinity(w.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, end := range []string{"the borrower lets go", "the borrower's node dies"} {
		handBlob(t, ctx, h, w.ID)
		for range 3 {
			runtime.GC()
		}
		if n := storeObjects(t, ctx); n != baseline+1 {
			t.Fatalf("%d objects in the owner's store while another node borrows one, %d before", n, baseline)
		}
		if n := mustGet(t, ctx, readFirst.Remote(ctx, h)); n != 150<<10 {
			t.Fatalf("the borrower read %d bytes", n)
		}
		switch end {
		case "the borrower lets go":
			mustGet(t, ctx, dropBag.Remote(ctx, h))
			pollUntil(t, "object freed once the borrower let go", func() bool {
				mustGet(t, ctx, holderGC.Remote(ctx, h))
				return storeObjects(t, ctx) == baseline
			})
		default:
			w.Kill()
			// Gossip declares the node dead first.
			pollFor(t, time.Minute, "object freed once its borrower died", func() bool { return storeObjects(t, ctx) == baseline })
		}
	}
}

// handBlob puts a blob and hands it, inside a value, to a task on node
// that gives it to h; the caller keeps no Ref.
//
//go:noinline
func handBlob(t *testing.T, ctx context.Context, h goray.ActorRef[Holder], node string) {
	r, err := goray.Put(ctx, bytes.Repeat([]byte{9}, 150<<10))
	if err != nil {
		t.Fatal(err)
	}
	box := holderBox{H: h, Bag: bigBag{Blobs: []goray.Ref[[]byte]{r}}}
	if n := mustGet(t, ctx, handToHolder.Remote(ctx, box, goray.NodeAffinity(node))); n != 1 {
		t.Fatalf("the holder got %d blobs", n)
	}
}
