package mailtest

import (
	"os/exec"
	"syscall"
)

// setParentDeath has the kernel kill Mailpit when the test binary dies
// without running its cleanup (a panic, a timeout, kill -9), so no server is
// left behind holding a port.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
