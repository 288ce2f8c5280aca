//go:build unix

package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// detach makes cmd's process the leader of a new session, so that it
// outlives the terminal and the process that started it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// processAlive reports whether pid runs (a zombie, which has exited but was
// not reaped yet, does not).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// On Linux, /proc tells a zombie apart; elsewhere assume it runs.
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// isNodeProcess reports whether pid looks like a node this CLI started
// (its command line has --block), so that a process ID the system reused
// for another program is not signalled. Without /proc it trusts the pid.
func isNodeProcess(pid int) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return true
	}
	for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
		if string(arg) == "--block" {
			return true
		}
	}
	return false
}

// terminate asks pid to stop (SIGTERM).
func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }

// kill stops pid at once (SIGKILL).
func kill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// stopSignals are the signals a node process stops on.
func stopSignals() []os.Signal { return []os.Signal{syscall.SIGTERM, os.Interrupt} }
