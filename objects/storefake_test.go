package objects

import (
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// File operations of a SpillFS, as memFS names them for gates.
const (
	fsMkdir  = "mkdir"
	fsWrite  = "write"
	fsRead   = "read"
	fsRemove = "remove"
	fsReadAt = "readat"
)

// memFS is an in-memory SpillFS for tests. Any operation on a path can be
// held at a gate until the test releases it, and fail with an injected error.
type memFS struct {
	mu     sync.Mutex
	files  map[string][]byte
	dirs   map[string]bool
	gates  map[fsKey][]*fsGate
	fails  map[fsKey]error // every matching operation fails
	active int             // operations under way
	peak   int             // most operations ever under way at once
	ops    int             // operations finished
	// busy counts the operations under way per path; overlaps records
	// operations that began while another ran on the same path, which the
	// SpillFS contract rules out (but for MkdirAll).
	busy     map[string]int
	overlaps []string
	// readFiles counts ReadFile calls; readAtMax is the most bytes one
	// ReadAt asked for.
	readFiles, readAtMax int
}

type fsKey struct{ op, path string }

// fsGate holds one file operation: the operation closes entered when it
// starts and then waits until the test calls release or fail.
type fsGate struct {
	entered chan struct{}
	done    chan struct{}
	once    sync.Once
	err     error
}

func newMemFS(t *testing.T) *memFS {
	t.Helper()
	f := &memFS{
		files: make(map[string][]byte),
		dirs:  make(map[string]bool),
		gates: make(map[fsKey][]*fsGate),
		fails: make(map[fsKey]error),
		busy:  make(map[string]int),
	}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.overlaps) > 0 {
			t.Errorf("file operations overlapped on one path: %v", f.overlaps)
		}
	})
	// Let held operations finish, so that no goroutine outlives the test.
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, gs := range f.gates {
			for _, g := range gs {
				g.release()
			}
		}
	})
	return f
}

// hold makes the next op on path wait at the returned gate.
func (f *memFS) hold(t *testing.T, op, path string) *fsGate {
	t.Helper()
	g := &fsGate{entered: make(chan struct{}), done: make(chan struct{})}
	f.mu.Lock()
	k := fsKey{op, path}
	f.gates[k] = append(f.gates[k], g)
	f.mu.Unlock()
	t.Cleanup(g.release)
	return g
}

// failAll makes every later op on path fail with err.
func (f *memFS) failAll(op, path string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[fsKey{op, path}] = err
}

func (g *fsGate) release() { g.once.Do(func() { close(g.done) }) }

// fail lets the held operation go on, failing with err.
func (g *fsGate) fail(err error) {
	g.once.Do(func() {
		g.err = err
		close(g.done)
	})
}

// wait blocks until the held operation has started, failing the test at the
// deadline.
func (g *fsGate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(actorWait):
		t.Fatal("the held file operation never started")
	}
}

// begin counts an operation in and passes any gate or injected failure.
func (f *memFS) begin(op, path string) error {
	f.mu.Lock()
	k := fsKey{op, path}
	f.active++
	f.peak = max(f.peak, f.active)
	if f.busy[path] > 0 && op != fsMkdir {
		f.overlaps = append(f.overlaps, op+" "+path)
	}
	f.busy[path]++
	err := f.fails[k]
	var g *fsGate
	if gs := f.gates[k]; len(gs) > 0 {
		g = gs[0]
		f.gates[k] = gs[1:]
	}
	f.mu.Unlock()
	if g == nil {
		return err
	}
	close(g.entered)
	<-g.done
	if g.err != nil {
		return g.err
	}
	return err
}

func (f *memFS) end(path string) {
	f.mu.Lock()
	f.busy[path]--
	f.active--
	f.ops++
	f.mu.Unlock()
}

func (f *memFS) MkdirAll(dir string) (bool, error) {
	err := f.begin(fsMkdir, dir)
	defer f.end(dir)
	if err != nil {
		return false, &fs.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dirs[dir] {
		return false, nil
	}
	f.dirs[dir] = true
	return true, nil
}

func (f *memFS) WriteFile(path string, data []byte) error {
	err := f.begin(fsWrite, path)
	defer f.end(path)
	if err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirs[filepath.Dir(path)] {
		return &fs.PathError{Op: "write", Path: path, Err: fs.ErrNotExist}
	}
	f.files[path] = slices.Clone(data)
	return nil
}

func (f *memFS) ReadFile(path string) ([]byte, error) {
	err := f.begin(fsRead, path)
	defer f.end(path)
	f.mu.Lock()
	f.readFiles++
	f.mu.Unlock()
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fs.ErrNotExist}
	}
	return slices.Clone(b), nil
}

func (f *memFS) ReadAt(path string, p []byte, off int64) (int, error) {
	err := f.begin(fsReadAt, path)
	defer f.end(path)
	f.mu.Lock()
	f.readAtMax = max(f.readAtMax, len(p))
	f.mu.Unlock()
	if err != nil {
		return 0, &fs.PathError{Op: "readat", Path: path, Err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.files[path]
	if !ok {
		return 0, &fs.PathError{Op: "readat", Path: path, Err: fs.ErrNotExist}
	}
	if off < 0 || off > int64(len(b)) {
		return 0, &fs.PathError{Op: "readat", Path: path, Err: fs.ErrInvalid}
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFS) Remove(path string) error {
	err := f.begin(fsRemove, path)
	defer f.end(path)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.files[path]; ok {
		delete(f.files, path)
		return nil
	}
	if f.dirs[path] {
		for p := range f.files {
			if filepath.Dir(p) == path {
				return &fs.PathError{Op: "remove", Path: path, Err: fmt.Errorf("directory not empty")}
			}
		}
		delete(f.dirs, path)
		return nil
	}
	return &fs.PathError{Op: "remove", Path: path, Err: fs.ErrNotExist}
}

// paths lists the files, sorted.
func (f *memFS) paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.files))
}

func (f *memFS) has(path string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.files[path]
	return ok
}

// stats returns the operations under way, their peak and the number finished.
func (f *memFS) stats() (active, peak, finished int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active, f.peak, f.ops
}

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(actorWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// spillPathOf is where a store spilling to dir keeps id.
func spillPathOf(dir string, id ID) string { return filepath.Join(dir, id.String()+spillExt) }
