package membership

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/nodeproc"
	"github.com/hashicorp/memberlist"
)

// Flags for the multi-process measurements, e.g.
//
//	go test -run TestProcess ./cluster/membership/ -args -membership.runs=9 -membership.soak=20s
//
// By default TestProcessKillDetected does one run and the load test is
// skipped: whether members survive a saturated CPU depends on everything
// else the machine runs (go test runs packages in parallel), which a unit
// test cannot control, so it is a measurement to run on a quiet machine.
var (
	flagRuns = flag.Int("membership.runs", 1,
		"kill runs in TestProcessKillDetected, each with a fresh cluster of 5 processes")
	flagSoak = flag.Duration("membership.soak", 0,
		"how long TestProcessNoFalseDeathsUnderLoad keeps the CPUs saturated (0 skips it)")
	flagSpin = flag.Int("membership.spin", runtime.NumCPU(),
		"spinning goroutines per member process in TestProcessNoFalseDeathsUnderLoad")
	flagLAN = flag.Bool("membership.lan", false,
		"use memberlist's LAN default timings instead of DefaultTiming, as a baseline")
)

// detectionBound is the most a member may take to report a killed member
// dead before TestProcessKillDetected fails. The target is 2s; the bound
// leaves 1s of slack for a loaded CI machine, so that the test fails on a
// real regression (the LAN defaults take 5-25s) rather than on noise. Under
// the race detector DefaultTiming, and so the bound, is timingScale times
// longer.
const detectionBound = timingScale * 3 * time.Second

// testTiming returns the timings the member processes use.
func testTiming() Timing {
	if !*flagLAN {
		return DefaultTiming()
	}
	lan := memberlist.DefaultLANConfig()
	return Timing{
		ProbeInterval:           lan.ProbeInterval,
		ProbeTimeout:            lan.ProbeTimeout,
		IndirectChecks:          lan.IndirectChecks,
		SuspicionMult:           lan.SuspicionMult,
		SuspicionMaxTimeoutMult: lan.SuspicionMaxTimeoutMult,
		AwarenessMaxMultiplier:  lan.AwarenessMaxMultiplier,
		GossipInterval:          lan.GossipInterval,
		GossipNodes:             lan.GossipNodes,
		GossipToTheDeadTime:     lan.GossipToTheDeadTime,
		RetransmitMult:          lan.RetransmitMult,
		PushPullInterval:        lan.PushPullInterval,
		TCPTimeout:              lan.TCPTimeout,
	}
}

// proc is a member process: the test binary run as a child (TestMain,
// runChild).
type proc struct {
	id    string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready chan struct{} // closed when addr is known
	busy  chan struct{} // receives when the busy goroutines run
	done  chan struct{} // closed when the process has been reaped

	mu     sync.Mutex
	addr   string
	alive  map[string]bool
	gone   map[string]childMsg // first Left or Dead event per member
	lines  []string            // the last stderr lines
	counts map[string]int      // stderr lines by pattern
}

// Patterns counted in a member's memberlist log.
var logPatterns = map[string]string{
	"suspected": "has failed, no acks received", // this member suspects another
	"refuted":   "Refuting a suspect message",   // this member refuted a suspicion
	"declared":  "as failed, suspect timeout",   // this member declared one dead
}

// startProc starts a member process. It is killed and reaped when the test
// ends, whatever the outcome.
func startProc(t testing.TB, spec childSpec) *proc {
	t.Helper()
	specJSON, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(specJSON))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, stdout := nodeproc.StartPiped(t, cmd)
	p := &proc{
		id: spec.NodeID, cmd: cmd, stdin: stdin,
		ready: make(chan struct{}), busy: make(chan struct{}, 1), done: make(chan struct{}),
		alive: make(map[string]bool), gone: make(map[string]childMsg), counts: make(map[string]int),
	}
	var readers sync.WaitGroup
	readers.Go(func() { p.readStdout(stdout) })
	readers.Go(func() { p.readStderr(stderr) })
	go func() {
		readers.Wait()
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("member process %s not reaped 10s after SIGKILL", p.id)
		}
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

func (p *proc) readStdout(r io.Reader) {
	in := bufio.NewScanner(r)
	for in.Scan() {
		var m childMsg
		if err := json.Unmarshal(in.Bytes(), &m); err != nil {
			continue
		}
		p.mu.Lock()
		switch m.Kind {
		case "ready":
			p.addr = m.Addr
			close(p.ready)
		case "busy":
			select {
			case p.busy <- struct{}{}:
			default:
			}
		case "event":
			switch m.Event {
			case "joined":
				p.alive[m.ID] = true
			case "left", "dead":
				delete(p.alive, m.ID)
				if _, ok := p.gone[m.ID]; !ok {
					p.gone[m.ID] = m
				}
			}
		}
		p.mu.Unlock()
	}
}

func (p *proc) readStderr(r io.Reader) {
	in := bufio.NewScanner(r)
	for in.Scan() {
		line := in.Text()
		p.mu.Lock()
		for name, pat := range logPatterns {
			if strings.Contains(line, pat) {
				p.counts[name]++
			}
		}
		p.lines = append(p.lines, line)
		if len(p.lines) > 300 {
			p.lines = p.lines[len(p.lines)-200:]
		}
		p.mu.Unlock()
	}
}

func (p *proc) dumpLog(t testing.TB) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Logf("--- last log lines of member %s", p.id)
	for _, l := range p.lines {
		t.Log(l)
	}
}

// sees reports whether the process sees exactly the members ids alive.
func (p *proc) sees(ids []string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.alive) != len(ids) {
		return false
	}
	for _, id := range ids {
		if !p.alive[id] {
			return false
		}
	}
	return true
}

// goneEvent returns the first Left or Dead event about id.
func (p *proc) goneEvent(id string) (childMsg, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.gone[id]
	return m, ok
}

func (p *proc) goneIDs() map[string]childMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]childMsg, len(p.gone))
	for k, v := range p.gone {
		out[k] = v
	}
	return out
}

func (p *proc) count(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[name]
}

func (p *proc) command(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("member %s: %v", p.id, err)
	}
}

// startProcCluster starts n member processes, the others joining the
// first, and waits until every one sees all n alive.
func startProcCluster(t testing.TB, n int) []*proc {
	t.Helper()
	timing := testTiming()
	first := startProc(t, childSpec{NodeID: newID(t), Token: testToken, Timing: timing})
	waitChan(t, first.ready, 20*time.Second, "the first member process is ready")
	procs := []*proc{first}
	for range n - 1 {
		procs = append(procs, startProc(t, childSpec{NodeID: newID(t), Token: testToken, Join: []string{first.addr}, Timing: timing}))
	}
	ids := make([]string, 0, n)
	for _, p := range procs {
		ids = append(ids, p.id)
	}
	for _, p := range procs {
		waitFor(t, 20*time.Second, fmt.Sprintf("member process %s sees all %d", p.id, n), func() bool { return p.sees(ids) })
	}
	return procs
}

func waitChan(t testing.TB, ch <-chan struct{}, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("after %v: %s", timeout, what)
	}
}

// TestProcessKillDetected starts 5 member processes on 127.0.0.1, kills
// one with SIGKILL and measures when each of the other 4 reports it dead.
// It fails if a member takes more than detectionBound or reports anything
// but Dead. With -membership.runs=N it repeats N times on fresh clusters
// and logs every time and the median.
func TestProcessKillDetected(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL semantics")
	}
	const n = 5
	var all, slowest []time.Duration
	for run := range *flagRuns {
		var times []time.Duration
		t.Run(fmt.Sprintf("run%d", run), func(t *testing.T) {
			procs := startProcCluster(t, n)
			victim := procs[rand.IntN(n)]
			killed := time.Now()
			if err := victim.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			for _, p := range procs {
				if p == victim {
					continue
				}
				waitFor(t, 30*time.Second, fmt.Sprintf("member %s reports the killed %s gone", p.id, victim.id), func() bool {
					_, ok := p.goneEvent(victim.id)
					return ok
				})
				ev, _ := p.goneEvent(victim.id)
				if ev.Event != "dead" {
					t.Errorf("member %s reports the killed member %s, want dead", p.id, ev.Event)
				}
				d := time.Unix(0, ev.At).Sub(killed)
				times = append(times, d)
				if d > detectionBound {
					t.Errorf("member %s reported the kill after %v, bound %v", p.id, d.Round(time.Millisecond), detectionBound)
				}
				// Nobody else died.
				for id := range p.goneIDs() {
					if id != victim.id {
						t.Errorf("member %s reports %s gone too", p.id, id)
					}
				}
			}
			slices.Sort(times)
			t.Logf("detection times at the %d others: %v (slowest %v)", len(times), round(times), round(times[len(times)-1:])[0])
		})
		if len(times) > 0 {
			all = append(all, times...)
			slowest = append(slowest, times[len(times)-1])
		}
	}
	if len(slowest) > 1 {
		t.Logf("%d runs: median of all %d detection times %v; slowest member per run %v, median %v",
			len(slowest), len(all), median(all).Round(time.Millisecond), round(slowest), median(slowest).Round(time.Millisecond))
	}
}

// TestProcessNoFalseDeathsUnderLoad starts 5 member processes, then makes
// each spin on as many goroutines as there are CPUs (-membership.spin), saturating the
// machine for -membership.soak, and fails if any member reports another
// gone. It logs how often members suspected and refuted meanwhile.
func TestProcessNoFalseDeathsUnderLoad(t *testing.T) {
	if *flagSoak <= 0 {
		t.Skip("a measurement: run with -membership.soak=20s on a quiet machine")
	}
	const n = 5
	procs := startProcCluster(t, n)
	for _, p := range procs {
		p.command(t, fmt.Sprintf("busy %d", *flagSpin))
	}
	for _, p := range procs {
		waitChan(t, p.busy, 10*time.Second, "busy goroutines started in "+p.id)
	}
	start := time.Now()
	deadline := start.Add(*flagSoak)
	for time.Now().Before(deadline) {
		for _, p := range procs {
			if gone := p.goneIDs(); len(gone) > 0 {
				for id, ev := range gone {
					t.Errorf("member %s reports %s %s after %v of load", p.id, id, ev.Event, time.Unix(0, ev.At).Sub(start).Round(time.Millisecond))
				}
			}
		}
		if t.Failed() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var suspected, refuted, declared int
	for _, p := range procs {
		suspected += p.count("suspected")
		refuted += p.count("refuted")
		declared += p.count("declared")
	}
	t.Logf("%v with %d spinning goroutines in each of %d members on %d CPUs: %d false deaths declared, %d suspicions raised, %d refuted",
		time.Since(start).Round(time.Millisecond), *flagSpin, n, runtime.NumCPU(), declared, suspected, refuted)
	if declared > 0 {
		t.Errorf("members declared %d live members dead", declared)
	}
}

func round(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
