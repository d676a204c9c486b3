package workflows

import "time"

// WaitRuns waits for the runs handed to the workers (Drain does, and also
// saves the checkpoint: a test that must leave it unsaved waits with this).
func (s *Service) WaitRuns() { s.busy.Wait() }

// CheckpointCadence sets how often the follower saves its checkpoint and
// returns the function that puts the defaults back.
func CheckpointCadence(events int, every time.Duration) (restore func()) {
	n, d := checkpointEvents, checkpointEvery
	checkpointEvents, checkpointEvery = events, every
	return func() { checkpointEvents, checkpointEvery = n, d }
}
