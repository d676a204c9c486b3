//go:build !linux

package mailtest

import "os/exec"

// setParentDeath does nothing here: only Linux can tie a child's life to
// its parent's. Main stops the server when the tests end normally.
func setParentDeath(*exec.Cmd) {}
