package membership

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// logBridge receives memberlist's log lines ("[LEVEL] memberlist: text")
// through a *log.Logger and passes them to slog at the matching level.
//
// Lines that report a refused peer (another token's label, a packet or
// stream that does not decrypt, a malformed label header) arrive once per
// packet, many times a second from a misconfigured peer. They are turned
// into one Warn record per peer host and refusal reason, repeated at most
// once per RefusalLogInterval with the count of refusals in between.
type logBridge struct {
	log     *slog.Logger
	limiter *limiter
}

func newLogBridge(log *slog.Logger) *logBridge {
	return &logBridge{log: log, limiter: newLimiter(RefusalLogInterval, maxLimiterKeys, time.Now)}
}

// Write logs one line. It never fails, so memberlist never sees an error.
func (b *logBridge) Write(p []byte) (int, error) {
	level, msg := parseLine(strings.TrimRight(string(p), "\r\n"))
	if r, ok := parseRefusal(msg); ok {
		b.refused(r)
		return len(p), nil
	}
	if strings.HasPrefix(msg, "memberlist: ignoring alive message for") {
		// The alive delegate logs the reason, rate limited.
		level = slog.LevelDebug
	}
	b.log.Log(context.Background(), level, msg)
	return len(p), nil
}

func (b *logBridge) refused(r refusal) {
	ok, suppressed := b.limiter.allow(r.key())
	if !ok {
		return
	}
	attrs := []any{
		slog.String("from", r.from),
		slog.String("transport", r.transport),
		slog.String("reason", r.reason),
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("refused_since_last_log", suppressed))
	}
	b.log.Warn("membership: refused gossip from a peer without this cluster's token; "+
		"further refusals from this host are logged at most every "+RefusalLogInterval.String(), attrs...)
}

// parseLine splits memberlist's level prefix from the message.
func parseLine(line string) (slog.Level, string) {
	prefixes := []struct {
		p string
		l slog.Level
	}{
		{"[DEBUG] ", slog.LevelDebug},
		{"[INFO] ", slog.LevelInfo},
		{"[WARN] ", slog.LevelWarn},
		{"[ERR] ", slog.LevelError},
		{"[ERROR] ", slog.LevelError},
	}
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(line, p.p); ok {
			return p.l, rest
		}
	}
	return slog.LevelInfo, line
}

// refusal is one refused packet or stream.
type refusal struct {
	transport string // "packet" or "stream"
	reason    string
	from      string // host:port as memberlist reports it
	label     string // the label the peer presented, if the reason is a label
}

// key groups refusals by the peer's host and what was wrong. The port is
// left out: a stream's source port changes with every connection.
func (r refusal) key() string {
	host := r.from
	if h, _, err := net.SplitHostPort(r.from); err == nil {
		host = h
	}
	return host + "|" + r.reason + "|" + r.label
}

// Reasons for a refusal.
const (
	reasonLabel     = "gossip label differs (another cluster token, or none)"
	reasonDecrypt   = "message does not decrypt with this cluster's key"
	reasonMalformed = "malformed label header"
)

// parseRefusal recognises the lines memberlist v0.7 logs when it refuses a
// packet or a stream.
func parseRefusal(msg string) (refusal, bool) {
	text, ok := strings.CutPrefix(msg, "memberlist: ")
	if !ok {
		return refusal{}, false
	}
	var r refusal
	switch {
	case strings.HasPrefix(text, "discarding packet with unacceptable label "):
		r.transport, r.reason = "packet", reasonLabel
		r.label = quoted(strings.TrimPrefix(text, "discarding packet with unacceptable label "))
	case strings.HasPrefix(text, "discarding stream with unacceptable label "):
		r.transport, r.reason = "stream", reasonLabel
		r.label = quoted(strings.TrimPrefix(text, "discarding stream with unacceptable label "))
	case strings.HasPrefix(text, "Decrypt packet failed"):
		r.transport, r.reason = "packet", reasonDecrypt
	case strings.HasPrefix(text, "failed to receive and remove the stream label header"):
		r.transport, r.reason = "stream", reasonMalformed
	case strings.HasPrefix(text, "failed to receive: ") && strings.Contains(text, "crypt"):
		r.transport, r.reason = "stream", reasonDecrypt
	case strings.Contains(text, "cannot decode label") || strings.Contains(text, "label header cannot be empty"):
		r.transport, r.reason = "packet", reasonMalformed
	default:
		return refusal{}, false
	}
	r.from = fromAddr(text)
	return r, true
}

// quoted returns the Go-quoted string s starts with, unquoted, or "".
func quoted(s string) string {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return ""
	}
	u, err := strconv.Unquote(q)
	if err != nil {
		return ""
	}
	return u
}

// fromAddr returns the value of the last "from=" in text.
func fromAddr(text string) string {
	i := strings.LastIndex(text, "from=")
	if i < 0 {
		return "unknown"
	}
	v := text[i+len("from="):]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// maxLimiterKeys bounds the peers a limiter remembers, so that a flood from
// many addresses cannot grow it without end.
const maxLimiterKeys = 1024

// limiter lets a message through once per key and interval and counts the
// ones it holds back.
type limiter struct {
	interval time.Duration
	max      int
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time
	suppressed int
}

func newLimiter(interval time.Duration, max int, now func() time.Time) *limiter {
	return &limiter{interval: interval, max: max, now: now, keys: make(map[string]*limitEntry)}
}

// allow reports whether a message for key should be logged now, and how
// many were held back since the last one that was.
func (l *limiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if e, ok := l.keys[key]; ok {
		if now.Sub(e.last) < l.interval {
			e.suppressed++
			return false, 0
		}
		n := e.suppressed
		e.last, e.suppressed = now, 0
		return true, n
	}
	if len(l.keys) >= l.max {
		for k, e := range l.keys {
			if now.Sub(e.last) >= l.interval {
				delete(l.keys, k)
			}
		}
		if len(l.keys) >= l.max {
			// Too many distinct keys within one interval: stay quiet rather
			// than flood; the ones remembered already made it to the log.
			return false, 0
		}
	}
	l.keys[key] = &limitEntry{last: now}
	return true, 0
}
