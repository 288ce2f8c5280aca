package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goray-dev/goray/cluster/membership"
)

// The session directory. Every cluster this machine takes part in has one,
// under the temporary root (--temp-dir, GORAY_TEMP_DIR, else $TMPDIR/goray):
//
//	session_latest -> session_2026-01-02_15-04-05_000001_4242
//	session_2026-01-02_15-04-05_000001_4242/
//	  head_address     the head's HOST:PORT, where the cluster is joined
//	  token            the cluster token (mode 0600), when the head made it
//	  head.pid         process ID of a node this machine started
//	  head.json        the node's record, written once it runs
//	  worker-1.pid, worker-1.json, …
//	  logs/head.log, logs/worker-1.log, …
//
// A node removes its .pid and .json files when it exits.
const (
	tempDirEnv      = "GORAY_TEMP_DIR"
	latestLink      = "session_latest"
	sessionPrefix   = "session_"
	headAddressFile = "head_address"
	tokenFile       = "token"
	logsDir         = "logs"
)

// defaultTempDir returns the temporary root: GORAY_TEMP_DIR, else
// $TMPDIR/goray.
func defaultTempDir() string {
	if d := os.Getenv(tempDirEnv); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "goray")
}

// session is one session directory.
type session struct{ dir string }

func (s session) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// newSession creates a fresh session directory under root and points
// session_latest at it.
func newSession(root string, now time.Time) (session, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return session{}, fmt.Errorf("creating the session root: %w", err)
	}
	name := fmt.Sprintf("%s%s_%06d_%d", sessionPrefix, now.Format("2006-01-02_15-04-05"), now.Nanosecond()/1000, os.Getpid())
	s := session{dir: filepath.Join(root, name)}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		return session{}, fmt.Errorf("creating the session directory: %w", err)
	}
	if err := os.Mkdir(s.path(logsDir), 0o755); err != nil {
		return session{}, fmt.Errorf("creating the session directory: %w", err)
	}
	if err := linkLatest(root, name); err != nil {
		return session{}, err
	}
	return s, nil
}

// linkLatest points session_latest at the session directory name,
// atomically: a new link, renamed over the old one.
func linkLatest(root, name string) error {
	tmp := filepath.Join(root, fmt.Sprintf(".%s.%d", latestLink, os.Getpid()))
	_ = os.Remove(tmp)
	if err := os.Symlink(name, tmp); err != nil {
		return fmt.Errorf("linking the latest session: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(root, latestLink)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("linking the latest session: %w", err)
	}
	return nil
}

// latestTarget returns what session_latest points at, or "".
func latestTarget(root string) string {
	t, err := os.Readlink(filepath.Join(root, latestLink))
	if err != nil {
		return ""
	}
	return t
}

// latestSession returns the session session_latest points at.
func latestSession(root string) (session, bool) {
	target, err := filepath.EvalSymlinks(filepath.Join(root, latestLink))
	if err != nil {
		return session{}, false
	}
	if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
		return session{}, false
	}
	return session{dir: target}, true
}

// allSessions returns every session directory under root, newest first.
func allSessions(root string) ([]session, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	var out []session
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), sessionPrefix) {
			out = append(out, session{dir: filepath.Join(root, e.Name())})
		}
	}
	slices.Reverse(out) // names sort by time
	return out, nil
}

// headAddress returns the address of the session's head.
func (s session) headAddress() string {
	b, err := os.ReadFile(s.path(headAddressFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// setHeadAddress records the address of the session's head.
func (s session) setHeadAddress(addr string) error {
	return writeFileAtomic(s.path(headAddressFile), []byte(addr+"\n"), 0o644)
}

// sessionFor finds the session of the cluster at addr, the address of its
// head or of a node this machine runs in it: the latest session first, then
// the others, newest first.
func sessionFor(root, addr string) (session, bool) {
	latest, ok := latestSession(root)
	if ok && latest.has(addr) {
		return latest, true
	}
	all, _ := allSessions(root)
	for _, s := range all {
		if s.has(addr) {
			return s, true
		}
	}
	return session{}, false
}

// has reports whether addr is the address of the session's head or of one
// of its nodes that runs.
func (s session) has(addr string) bool {
	if s.headAddress() == addr {
		return true
	}
	names, _ := s.nodeNames()
	for _, name := range names {
		if r, err := s.readRecord(name); err == nil && r.Address == addr {
			return true
		}
	}
	return false
}

// reserveNode claims a node name in the session — "head", or the first
// free "worker-N" — by creating its pid file, empty until the node writes
// its process ID.
func (s session) reserveNode(head bool) (string, error) {
	try := func(name string) (bool, error) {
		f, err := os.OpenFile(s.path(name+".pid"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("reserving node %s: %w", name, err)
		}
		return true, f.Close()
	}
	if head {
		ok, err := try("head")
		if err == nil && !ok {
			err = fmt.Errorf("session %s has a head already", s.dir)
		}
		return "head", err
	}
	for i := 1; i < 10000; i++ {
		name := "worker-" + strconv.Itoa(i)
		ok, err := try(name)
		if err != nil {
			return "", err
		}
		if ok {
			return name, nil
		}
	}
	return "", fmt.Errorf("session %s: no free worker name", s.dir)
}

// nodeRecord is what a running node tells others about itself, in
// NAME.json.
type nodeRecord struct {
	Name        string `json:"name"`
	Role        string `json:"role"` // head or worker
	PID         int    `json:"pid"`
	NodeID      string `json:"node_id"`
	Address     string `json:"address"`
	HeadAddress string `json:"head_address"`
	Log         string `json:"log,omitempty"`
	// TokenFile is the token file the node read its token from, if any.
	TokenFile string    `json:"token_file,omitempty"`
	Started   time.Time `json:"started"`
}

func (s session) writeRecord(r nodeRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path(r.Name+".json"), append(b, '\n'), 0o644)
}

func (s session) readRecord(name string) (nodeRecord, error) {
	var r nodeRecord
	b, err := os.ReadFile(s.path(name + ".json"))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s.json: %w", name, err)
	}
	return r, nil
}

func (s session) writePID(name string, pid int) error {
	return writeFileAtomic(s.path(name+".pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

// readPID returns the process ID in NAME.pid (0 while it is only reserved).
func (s session) readPID(name string) (int, error) {
	b, err := os.ReadFile(s.path(name + ".pid"))
	if err != nil {
		return 0, err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return 0, nil
	}
	pid, err := strconv.Atoi(t)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s.pid holds %q, not a process ID", name, t)
	}
	return pid, nil
}

// nodeNames returns the names of the session's nodes that have pid files.
func (s session) nodeNames() ([]string, error) {
	matches, err := filepath.Glob(s.path("*.pid"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range matches {
		names = append(names, strings.TrimSuffix(filepath.Base(m), ".pid"))
	}
	slices.Sort(names)
	return names, nil
}

// removeNode removes a node's pid and record files.
func (s session) removeNode(name string) {
	_ = os.Remove(s.path(name + ".json"))
	_ = os.Remove(s.path(name + ".pid"))
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path, so that readers see the whole file or none.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, perm)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// The cluster token: 32 random bytes in hex, kept in a file only its owner
// can read.
const tokenEnv = "GORAY_TOKEN"

// newToken returns a fresh random token.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// writeTokenFile creates path, readable by its owner only, holding token.
// It refuses to overwrite an existing file.
func writeTokenFile(path, token string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating the token file: %w", err)
	}
	_, werr := f.WriteString(token + "\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("writing the token file: %w", err)
	}
	return nil
}

// readTokenFile reads a token file: one line, surrounding space ignored.
func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the token file: %w", err)
	}
	return checkToken(string(b), path)
}

// checkToken checks a token read from src.
func checkToken(raw, src string) (string, error) {
	t := strings.TrimSpace(raw)
	switch {
	case t == "":
		return "", fmt.Errorf("the cluster token in %s is empty", src)
	case strings.ContainsAny(t, " \t\r\n"):
		return "", fmt.Errorf("the cluster token in %s has spaces or several lines", src)
	case len(t) < membership.MinTokenLen:
		return "", fmt.Errorf("the cluster token in %s is too short: %d bytes, want %d or more", src, len(t), membership.MinTokenLen)
	}
	return t, nil
}

// tokenSource says where a token came from, for messages.
type tokenSource struct {
	token string
	from  string // "--token-file PATH", "GORAY_TOKEN", "session PATH"
	file  string // the file it came from, if any
}

// resolveToken finds the token a worker or a driver of the cluster at
// address presents: --token-file, else GORAY_TOKEN, else the token file of
// this machine's session of that cluster.
func resolveToken(flagFile, root, address string) (tokenSource, error) {
	if flagFile != "" {
		t, err := readTokenFile(flagFile)
		if err != nil {
			return tokenSource{}, err
		}
		abs, _ := filepath.Abs(flagFile)
		return tokenSource{token: t, from: "--token-file " + flagFile, file: abs}, nil
	}
	if env := os.Getenv(tokenEnv); env != "" {
		t, err := checkToken(env, tokenEnv)
		return tokenSource{token: t, from: tokenEnv}, err
	}
	if s, ok := sessionFor(root, address); ok {
		p := s.path(tokenFile)
		if _, err := os.Stat(p); err != nil {
			// A head started with --token-file names its file in its record.
			if r, rerr := s.readRecord("head"); rerr == nil && r.TokenFile != "" {
				p = r.TokenFile
			}
		}
		if _, err := os.Stat(p); err == nil {
			t, err := readTokenFile(p)
			return tokenSource{token: t, from: "session " + p, file: p}, err
		}
	}
	return tokenSource{}, fmt.Errorf("no cluster token for %s: pass --token-file (the head printed it) or set %s", address, tokenEnv)
}
