//go:build !unix

package cli

import (
	"errors"
	"os"
	"os/exec"
)

var errUnsupported = errors.New("background nodes need a Unix system; use start --block")

func detach(*exec.Cmd)           {}
func processAlive(pid int) bool  { p, err := os.FindProcess(pid); return err == nil && p != nil }
func isNodeProcess(pid int) bool { return true }
func terminate(pid int) error    { return errUnsupported }
func kill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func stopSignals() []os.Signal { return []os.Signal{os.Interrupt} }
