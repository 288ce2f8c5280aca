package cli

import (
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// parseStart parses start's flags as the command would.
func parseStart(args ...string) (nodeSpec, error) {
	var f startFlags
	fs := pflag.NewFlagSet("start", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return nodeSpec{}, err
	}
	return f.spec(fs.Changed)
}

func TestStartFlags(t *testing.T) {
	f64 := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want nodeSpec // compared field by field below
		err  string
	}{
		{name: "head defaults", args: []string{"--head"},
			want: nodeSpec{head: true, host: "127.0.0.1", gossipPort: 6379, port: 6380, timeout: 30 * time.Second}},
		{name: "head message port follows its port", args: []string{"--head", "--port", "7000"},
			want: nodeSpec{head: true, host: "127.0.0.1", gossipPort: 7000, port: 7001, timeout: 30 * time.Second}},
		{name: "worker defaults", args: []string{"--address", "10.0.0.1:6379"},
			want: nodeSpec{address: "10.0.0.1:6379", host: "", port: 0, timeout: 30 * time.Second}},
		{name: "free head port", args: []string{"--head", "--port", "0"},
			want: nodeSpec{head: true, host: "127.0.0.1", gossipPort: 0, timeout: 30 * time.Second}},
		{name: "head message port", args: []string{"--head", "--port", "7000", "--node-manager-port", "7001"},
			want: nodeSpec{head: true, host: "127.0.0.1", gossipPort: 7000, port: 7001, timeout: 30 * time.Second}},
		{name: "worker port and ip", args: []string{"--address", "h:1", "--node-manager-port", "7000", "--node-ip-address", "10.0.0.9"},
			want: nodeSpec{address: "h:1", host: "10.0.0.9", port: 7000, timeout: 30 * time.Second}},
		{name: "worker ports", args: []string{"--address", "h:1", "--port", "7002", "--node-manager-port", "7003", "--object-manager-port", "7004"},
			want: nodeSpec{address: "h:1", gossipPort: 7002, port: 7003, objectPort: 7004, timeout: 30 * time.Second}},
		{name: "head ip", args: []string{"--head", "--node-ip-address", "192.168.1.4", "--timeout", "5s"},
			want: nodeSpec{head: true, host: "192.168.1.4", gossipPort: 6379, port: 6380, timeout: 5 * time.Second}},
		{name: "resources", args: []string{"--head", "--num-cpus", "2.5", "--num-gpus", "1", "--memory", "2GiB",
			"--object-store-memory", "512MiB", "--resources", `{"TPU": 4}`, "--labels", "zone=a,disk=ssd"},
			want: nodeSpec{head: true, host: "127.0.0.1", gossipPort: 6379, port: 6380, timeout: 30 * time.Second, cpus: f64(2.5), gpus: i(1),
				memory: 2 << 30, objectStoreMemory: 512 << 20, resources: map[string]float64{"TPU": 4},
				labels: map[string]string{"zone": "a", "disk": "ssd"}}},
		{name: "zero cpus given", args: []string{"--address", "h:1", "--num-cpus", "0"},
			want: nodeSpec{address: "h:1", timeout: 30 * time.Second, cpus: f64(0)}},
		{name: "json labels", args: []string{"--head", "--labels", `{"zone": "b"}`},
			want: nodeSpec{head: true, host: "127.0.0.1", gossipPort: 6379, port: 6380, timeout: 30 * time.Second, labels: map[string]string{"zone": "b"}}},
		{name: "relative token file", args: []string{"--address", "h:1", "--token-file", "tok"},
			want: nodeSpec{address: "h:1", timeout: 30 * time.Second, tokenFile: filepath.Join(cwd, "tok")}},

		{name: "neither", args: nil, err: "pass --head"},
		{name: "both", args: []string{"--head", "--address", "h:1"}, err: "exclude each other"},
		{name: "bad address", args: []string{"--address", "nohost"}, err: "not HOST:PORT"},
		{name: "address without host", args: []string{"--address", ":6379"}, err: "no host"},
		{name: "address bad port", args: []string{"--address", "h:99999"}, err: "port must be"},
		{name: "same ports", args: []string{"--head", "--port", "7000", "--node-manager-port", "7000"}, err: "both 7000"},
		{name: "port range", args: []string{"--head", "--port", "70000"}, err: "out of range"},
		{name: "message port range", args: []string{"--address", "h:1", "--node-manager-port", "-1"}, err: "out of range"},
		{name: "object port range", args: []string{"--address", "h:1", "--object-manager-port", "65536"}, err: "out of range"},
		{name: "object port is the message port", args: []string{"--head", "--port", "7000", "--object-manager-port", "7001"}, err: "--object-manager-port 7001"},
		{name: "object port is the gossip port", args: []string{"--head", "--port", "7000", "--object-manager-port", "7000"}, err: "--object-manager-port 7000"},
		{name: "negative cpus", args: []string{"--head", "--num-cpus", "-1"}, err: "--num-cpus"},
		{name: "negative gpus", args: []string{"--head", "--num-gpus", "-1"}, err: "--num-gpus"},
		{name: "bad memory", args: []string{"--head", "--memory", "much"}, err: "--memory"},
		{name: "zero store", args: []string{"--head", "--object-store-memory", "0"}, err: "must be positive"},
		{name: "CPU in resources", args: []string{"--head", "--resources", `{"CPU": 1}`}, err: "--num-cpus"},
		{name: "bad labels", args: []string{"--head", "--labels", "zone"}, err: "key=value"},
		{name: "bad timeout", args: []string{"--head", "--timeout", "0s"}, err: "--timeout"},
		{name: "bad ip", args: []string{"--head", "--node-ip-address", "a b:c"}, err: "--node-ip-address"},
		{name: "unknown flag", args: []string{"--head", "--num-cpu", "1"}, err: "unknown flag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseStart(c.args...)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := c.want
			if got.head != w.head || got.address != w.address || got.host != w.host || got.port != w.port || got.gossipPort != w.gossipPort || got.objectPort != w.objectPort ||
				got.timeout != w.timeout || got.memory != w.memory || got.objectStoreMemory != w.objectStoreMemory ||
				got.tokenFile != w.tokenFile || !maps.Equal(got.resources, w.resources) || !maps.Equal(got.labels, w.labels) ||
				!ptrEqual(got.cpus, w.cpus) || !ptrEqual(got.gpus, w.gpus) {
				t.Fatalf("got %+v\nwant %+v", got, w)
			}
		})
	}
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// The options a start turns into carry its token and every setting: a
// spec of each kind yields one option per setting it has.
func TestStartOptions(t *testing.T) {
	spec, err := parseStart("--head")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(spec.options("t", nil)); n != 5 { // listen, gossip port, token, logger, head
		t.Fatalf("a bare head has %d options, want 5", n)
	}
	base := 5 // listen, gossip port, token, logger, address
	spec, err = parseStart("--address", "h:1", "--num-cpus", "1", "--num-gpus", "0", "--memory", "1k",
		"--resources", `{"a": 1}`, "--labels", "k=v", "--object-store-memory", "1M", "--object-spilling-directory", "/tmp/x",
		"--object-manager-port", "7005")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(spec.options("t", nil)); n != base+7 { // object port, cpus, gpus, resources (memory among them), labels, store, spill
		t.Fatalf("a full worker has %d options, want %d", n, base+7)
	}
}

func TestHeadToken(t *testing.T) {
	t.Setenv(tokenEnv, "")
	root := t.TempDir()
	s, err := newSession(root, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ts, err := headToken(nodeSpec{head: true}, s)
	if err != nil {
		t.Fatal(err)
	}
	checkTokenFile(t, ts.file, ts.token)
	if b, err := hex.DecodeString(ts.token); err != nil || len(b) != 32 {
		t.Fatalf("token %q is not 32 bytes in hex", ts.token)
	}
	if ts.file != s.path(tokenFile) {
		t.Fatalf("token file %s, want the session's %s", ts.file, s.path(tokenFile))
	}
	// A second head in the same session does not overwrite the token.
	if _, err := headToken(nodeSpec{head: true}, s); err == nil {
		t.Fatal("the session's token file was overwritten")
	}

	// GORAY_TOKEN is the head's token when set.
	s2, err := newSession(root, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	const envToken = "from-env-0123456789"
	t.Setenv(tokenEnv, envToken)
	ts, err = headToken(nodeSpec{head: true}, s2)
	if err != nil || ts.token != envToken {
		t.Fatalf("token %q, %v; want %s", ts.token, err, envToken)
	}
	checkTokenFile(t, ts.file, envToken)

	// --token-file wins, and no session token file is made.
	s3, err := newSession(root, time.Now().Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(t.TempDir(), "mytoken")
	if err := os.WriteFile(own, []byte("  mine-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts, err = headToken(nodeSpec{head: true, tokenFile: own}, s3)
	if err != nil || ts.token != "mine-0123456789abcdef" || ts.file != own {
		t.Fatalf("token %+v, %v; want mine from %s", ts, err, own)
	}
	if _, err := os.Stat(s3.path(tokenFile)); err == nil {
		t.Fatal("a session token file was made although --token-file named one")
	}
}

// checkTokenFile checks that path holds token and only its owner can read it.
func checkTokenFile(t *testing.T, path, token string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	got, err := readTokenFile(path)
	if err != nil || got != token {
		t.Fatalf("%s holds %q (%v), want %q", path, got, err, token)
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	const tok = "abcdefghijklmnop" // 16 bytes: the shortest token nodes take
	for _, c := range []struct{ content, want, err string }{
		{content: tok + "\n", want: tok},
		{content: "\n  " + tok + "  \n\n", want: tok},
		{content: "", err: "is empty"},
		{content: " \n", err: "is empty"},
		{content: "a b", err: "spaces or several lines"},
		{content: "a\nb", err: "spaces or several lines"},
		{content: tok[1:], err: "too short: 15 bytes, want 16 or more"},
	} {
		p := filepath.Join(dir, "t")
		if err := os.WriteFile(p, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readTokenFile(p)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: got %q, %v; want an error with %q", c.content, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%q: got %q, %v; want %q", c.content, got, err, c.want)
		}
	}
	if _, err := readTokenFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing token file was read")
	}
}

// Workers and drivers take the token from --token-file, else GORAY_TOKEN,
// else this machine's session of the cluster they join.
func TestResolveToken(t *testing.T) {
	t.Setenv(tokenEnv, "")
	root := t.TempDir()
	const addr = "127.0.0.1:7000"
	if _, err := resolveToken("", root, addr); err == nil || !strings.Contains(err.Error(), "no cluster token") {
		t.Fatalf("without any token: %v", err)
	}
	s, err := newSession(root, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.setHeadAddress(addr); err != nil {
		t.Fatal(err)
	}
	if err := writeTokenFile(s.path(tokenFile), "session-token-0123"); err != nil {
		t.Fatal(err)
	}
	if ts, err := resolveToken("", root, addr); err != nil || ts.token != "session-token-0123" {
		t.Fatalf("from the session: %+v, %v", ts, err)
	}
	// The session of another cluster does not lend its token.
	if _, err := resolveToken("", root, "127.0.0.1:7001"); err == nil {
		t.Fatal("took the token of another cluster's session")
	}
	// An older session of the same cluster is found too.
	if _, err := newSession(root, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if ts, err := resolveToken("", root, addr); err != nil || ts.token != "session-token-0123" {
		t.Fatalf("from an older session: %+v, %v", ts, err)
	}
	t.Setenv(tokenEnv, "env-token-0123456")
	if ts, err := resolveToken("", root, addr); err != nil || ts.token != "env-token-0123456" {
		t.Fatalf("GORAY_TOKEN: %+v, %v", ts, err)
	}
	f := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(f, []byte("file-token-012345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ts, err := resolveToken(f, root, addr); err != nil || ts.token != "file-token-012345" {
		t.Fatalf("--token-file: %+v, %v", ts, err)
	}
	// A head started with --token-file names it in its record.
	t.Setenv(tokenEnv, "")
	s2, err := newSession(root, time.Now().Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.setHeadAddress("127.0.0.1:7002"); err != nil {
		t.Fatal(err)
	}
	if err := s2.writeRecord(nodeRecord{Name: "head", TokenFile: f}); err != nil {
		t.Fatal(err)
	}
	if ts, err := resolveToken("", root, "127.0.0.1:7002"); err != nil || ts.token != "file-token-012345" {
		t.Fatalf("the head's token file: %+v, %v", ts, err)
	}
}

// A node started in the background gets start's flags, its place in the
// session, and the token's file — never the token itself.
func TestChildArgs(t *testing.T) {
	root := New()
	cmd, _, err := root.Find([]string{"start"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags([]string{"--address", "h:1", "--num-cpus", "2", "--labels", "a=b,c=d", "--token-file", "given", "--temp-dir", "/r"}); err != nil {
		t.Fatal(err)
	}
	p := prepared{sess: session{dir: "/r/session_x"}, name: "worker-3", token: tokenSource{token: "SECRET", file: "/abs/tok"}}
	got := childArgs(cmd, p)
	for _, want := range []string{"--address=h:1", "--num-cpus=2", "--labels=a=b,c=d", "--temp-dir=/r",
		"--block", "--session-dir=/r/session_x", "--node-name=worker-3", "--token-file=/abs/tok"} {
		if !slices.Contains(got, want) {
			t.Errorf("child arguments %q lack %q", got, want)
		}
	}
	if got[0] != "start" {
		t.Errorf("child arguments %q do not start with the command path", got)
	}
	for _, a := range got {
		if strings.Contains(a, "SECRET") || a == "--token-file=given" {
			t.Errorf("child argument %q carries the token or the unresolved token file", a)
		}
	}
	// A token from GORAY_TOKEN has no file: the child inherits the variable.
	p.token.file = ""
	for _, a := range childArgs(cmd, p) {
		if strings.HasPrefix(a, "--token-file") {
			t.Errorf("child argument %q for a token without a file", a)
		}
	}
}

func TestSessions(t *testing.T) {
	root := t.TempDir()
	if _, ok := latestSession(root); ok {
		t.Fatal("a latest session in an empty root")
	}
	now := time.Now()
	s1, err := newSession(root, now)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := newSession(root, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := latestSession(root); !ok || l.dir != s2.dir {
		t.Fatalf("latest %v, want %s", l, s2.dir)
	}
	all, err := allSessions(root)
	if err != nil || len(all) != 2 || all[0].dir != s2.dir || all[1].dir != s1.dir {
		t.Fatalf("sessions %v (%v), want newest first", all, err)
	}
	// Names: one head, workers numbered from 1.
	for _, want := range []string{"head", "worker-1", "worker-2"} {
		name, err := s1.reserveNode(want == "head")
		if err != nil || name != want {
			t.Fatalf("reserved %q (%v), want %q", name, err, want)
		}
	}
	if _, err := s1.reserveNode(true); err == nil {
		t.Fatal("a second head was reserved")
	}
	s1.removeNode("worker-1")
	if name, _ := s1.reserveNode(false); name != "worker-1" {
		t.Fatalf("a freed name is not reused: got %q", name)
	}
	// A failed start points session_latest back.
	p := prepared{sess: s2, name: "head", newSession: true, prevLatest: filepath.Base(s1.dir)}
	p.undo(root)
	if l, _ := latestSession(root); l.dir != s1.dir {
		t.Fatalf("after undo the latest session is %s, want %s", l.dir, s1.dir)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/goray/token": "/tmp/goray/token",
		"/tmp/my dir/it's": `'/tmp/my dir/it'\''s'`,
		"":                 "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
