package workflows

import (
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

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

// Followed is how far the runner has read the outbox.
func (s *Service) Followed() store.Cursor {
	s.rn.mu.Lock()
	defer s.rn.mu.Unlock()
	return s.rn.cursor
}
