package membership

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"
)

func TestParseRefusal(t *testing.T) {
	tests := []struct {
		line string
		want refusal
		ok   bool
	}{
		{
			line: `[ERR] memberlist: discarding packet with unacceptable label "goray-1234": from=127.0.0.1:7946`,
			want: refusal{transport: "packet", reason: reasonLabel, from: "127.0.0.1:7946", label: "goray-1234"}, ok: true,
		},
		{
			line: `[ERR] memberlist: discarding stream with unacceptable label "": from=10.1.2.3:51234`,
			want: refusal{transport: "stream", reason: reasonLabel, from: "10.1.2.3:51234"}, ok: true,
		},
		{
			line: `[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=[::1]:7946`,
			want: refusal{transport: "packet", reason: reasonDecrypt, from: "[::1]:7946"}, ok: true,
		},
		{
			line: `[ERR] memberlist: failed to receive: no installed keys could decrypt the message from=127.0.0.1:40000`,
			want: refusal{transport: "stream", reason: reasonDecrypt, from: "127.0.0.1:40000"}, ok: true,
		},
		{
			line: `[ERR] memberlist: failed to receive: encryption is configured but remote state is not encrypted from=127.0.0.1:40001`,
			want: refusal{transport: "stream", reason: reasonDecrypt, from: "127.0.0.1:40001"}, ok: true,
		},
		{
			line: `[ERR] memberlist: failed to receive and remove the stream label header: cannot decode label; stream has been truncated from=127.0.0.1:1`,
			want: refusal{transport: "stream", reason: reasonMalformed, from: "127.0.0.1:1"}, ok: true,
		},
		{
			line: `[ERR] memberlist: cannot decode label; packet has been truncated from=127.0.0.1:2`,
			want: refusal{transport: "packet", reason: reasonMalformed, from: "127.0.0.1:2"}, ok: true,
		},
		{line: `[ERR] memberlist: failed to receive: EOF from=127.0.0.1:40000`},
		{line: `[INFO] memberlist: Marking 0123456789abcdef as failed, suspect timeout reached (2 peer confirmations)`},
		{line: `[DEBUG] memberlist: Stream connection from=127.0.0.1:43210`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, msg := parseLine(tt.line)
			got, ok := parseRefusal(msg)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("parseRefusal = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseLineLevels(t *testing.T) {
	tests := []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: a", slog.LevelDebug, "memberlist: a"},
		{"[INFO] memberlist: b", slog.LevelInfo, "memberlist: b"},
		{"[WARN] memberlist: c", slog.LevelWarn, "memberlist: c"},
		{"[ERR] memberlist: d", slog.LevelError, "memberlist: d"},
		{"[ERROR] e", slog.LevelError, "e"},
		{"Err: Could not set the deadline", slog.LevelInfo, "Err: Could not set the deadline"},
	}
	for _, tt := range tests {
		level, msg := parseLine(tt.line)
		if level != tt.level || msg != tt.msg {
			t.Errorf("parseLine(%q) = %v %q, want %v %q", tt.line, level, msg, tt.level, tt.msg)
		}
	}
}

// TestLogBridgeLimitsRefusals sends a flood of refusal lines from two
// peers: each is logged once, then again with a count once the interval
// has passed. Other lines pass through at their level.
func TestLogBridgeLimitsRefusals(t *testing.T) {
	rec := newRecorder()
	now := time.Unix(1000, 0)
	b := &logBridge{log: slog.New(rec), limiter: newLimiter(time.Minute, 16, func() time.Time { return now })}
	write := func(s string) {
		if n, err := b.Write([]byte(s + "\n")); n != len(s)+1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	for i := range 100 {
		// Streams come from a new port each time: still one peer.
		write(`[ERR] memberlist: discarding stream with unacceptable label "x": from=10.0.0.1:` + string(rune('0'+i%10)) + "000")
		write(`[ERR] memberlist: discarding packet with unacceptable label "y": from=10.0.0.2:7946`)
	}
	write(`[WARN] memberlist: Refuting a suspect message (from: abc)`)
	if got := len(rec.matching(slog.LevelWarn, "refused gossip")); got != 2 {
		t.Fatalf("%d refusal records for 2 peers, want 2", got)
	}
	if got := len(rec.matching(slog.LevelWarn, "Refuting a suspect")); got != 1 {
		t.Fatalf("ordinary warning logged %d times, want 1", got)
	}
	now = now.Add(time.Minute)
	write(`[ERR] memberlist: discarding stream with unacceptable label "x": from=10.0.0.1:1234`)
	refusals := rec.matching(slog.LevelWarn, "refused gossip")
	if len(refusals) != 3 {
		t.Fatalf("%d refusal records after the interval, want 3", len(refusals))
	}
	if got := attr(refusals[2], "refused_since_last_log"); got != "99" {
		t.Errorf("count since last log %q, want 99", got)
	}
}

func TestLimiterBoundsMemory(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(time.Minute, 4, func() time.Time { return now })
	for i := range 4 {
		if ok, _ := l.allow(string(rune('a' + i))); !ok {
			t.Fatalf("key %d refused", i)
		}
	}
	if ok, _ := l.allow("e"); ok {
		t.Fatal("a fifth key within the interval was let through")
	}
	if len(l.keys) > 4 {
		t.Fatalf("%d keys kept", len(l.keys))
	}
	now = now.Add(time.Minute)
	if ok, _ := l.allow("e"); !ok {
		t.Fatal("a new key after the interval was refused")
	}
	if len(l.keys) != 1 {
		t.Fatalf("%d keys kept after expiry, want 1", len(l.keys))
	}
}

func TestDeriveSecrets(t *testing.T) {
	k1, l1, err := deriveSecrets(testToken)
	if err != nil {
		t.Fatal(err)
	}
	k1b, l1b, _ := deriveSecrets(testToken)
	k2, l2, _ := deriveSecrets(testToken + "x")
	if len(k1) != 32 {
		t.Errorf("key has %d bytes, want 32 (AES-256)", len(k1))
	}
	if !bytes.Equal(k1, k1b) || l1 != l1b {
		t.Error("derivation is not deterministic")
	}
	if bytes.Equal(k1, k2) || l1 == l2 {
		t.Error("different tokens give the same key or label")
	}
	if len(l1) > 255 || l1 == "" {
		t.Errorf("label %q", l1)
	}
	// Neither is the token or a plain hash of it, and they are independent.
	sum := sha256.Sum256([]byte(testToken))
	if bytes.Equal(k1, sum[:]) || bytes.Contains([]byte(l1), []byte(testToken)) {
		t.Error("key or label is not derived with a KDF")
	}
	if l1[len(labelPrefix):] == hex.EncodeToString(k1[:labelHexLen]) {
		t.Error("label reveals key bytes")
	}
}
