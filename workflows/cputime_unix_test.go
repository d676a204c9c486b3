//go:build unix

package workflows_test

import (
	"syscall"
	"time"
)

// cpuTime is the processor time this process has used (user and system,
// every thread): on a machine shared with other work, a benchmark's
// throughput moves with the others' load, its processor time per
// operation much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
