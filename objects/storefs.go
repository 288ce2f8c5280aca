package objects

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SpillFS is the file system a Store keeps spill files in: the few file
// operations spilling needs, so that tests can substitute a fake.
//
// The store actor calls a SpillFS from several I/O goroutines at once, so an
// implementation must be safe for concurrent use. Apart from MkdirAll of the
// spill directory, which the first writes may each call, it is never asked
// to operate on the same path from two goroutines at once.
type SpillFS interface {
	// MkdirAll creates dir and any missing parents and reports whether dir
	// itself did not exist before.
	MkdirAll(dir string) (created bool, err error)
	// WriteFile stores data in the file at path, replacing any file there,
	// such that path is always either absent or complete.
	WriteFile(path string, data []byte) error
	// ReadFile returns the contents of the file at path.
	ReadFile(path string) ([]byte, error)
	// ReadAt reads len(p) bytes from the file at path starting at byte
	// offset off, as io.ReaderAt does: fewer bytes only with an error
	// (io.EOF at the end of the file). It serves chunks of spilled objects
	// without reading them whole.
	ReadAt(path string, p []byte, off int64) (n int, err error)
	// Remove deletes the file or empty directory at path. Removing a path
	// that does not exist fails with an error satisfying
	// errors.Is(err, fs.ErrNotExist).
	Remove(path string) error
}

// osFS is the SpillFS of the operating system.
type osFS struct{}

func (osFS) MkdirAll(dir string) (bool, error) {
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	return errors.Is(statErr, fs.ErrNotExist), nil
}

// WriteFile writes through a temporary file and a rename. It does not fsync:
// spill files live only as long as the store and are never read after a crash.
func (osFS) WriteFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

func (osFS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (osFS) ReadAt(path string, p []byte, off int64) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	n, err := f.ReadAt(p, off)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return n, err
}

func (osFS) Remove(path string) error { return os.Remove(path) }
