package sqlite

import (
	"time"
)

// Checkpoint tuning; variables so that a test can make them small.
var (
	// checkpointEvery is how often WAL frames are copied back into the
	// database file, beside the writer rather than inside its commits.
	checkpointEvery = 100 * time.Millisecond
	// restartFrames is the WAL length in frames (a page each: 16 MiB at
	// 8 KiB pages) beyond which the checkpointer makes the WAL start over.
	// At 4,000 creates/s the writer adds ~80 MB of frames a second: with
	// 64 MiB and a tick every 500 ms the WAL reached 190 MB before it
	// started over; 16 MiB and 100 ms keep it under walLimit.
	restartFrames = 2048
	// restartTail is how many frames may still be waiting when the
	// checkpointer holds the writer to copy them.
	restartTail = 512
	// walLimit is the size the WAL file is cut back to when it starts
	// over (journal_size_limit): without it the file keeps the size of its
	// longest run.
	walLimit = 64 << 20
)

// checkpointer runs checkpointTick every checkpointEvery until Close.
func (s *Store) checkpointer() {
	defer close(s.ckEnd)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ckStop:
			return
		case <-t.C:
			s.checkpointTick()
		}
	}
}

// checkpointTick runs passive checkpoints: they never block the writer or
// readers. But under a steady stream of writes a passive checkpoint never
// quite catches up (frames arrive while it copies), and SQLite starts the
// WAL over only when a write begins with every frame back in the database.
// The WAL would grow for as long as the writes last, each frame extending
// the file and every page lookup searching a longer WAL index. So once the
// WAL is long, the tick copies again until what arrived during its last
// pass is small, then copies that last tail with the writer held between
// two batches (ckPause): the next write starts the WAL over.
//
// It reports whether it held the writer, and whether that last checkpoint
// copied every frame (which is what lets the next write start over).
func (s *Store) checkpointTick() (held, complete bool) {
	frames, err := s.checkpoint()
	if err != nil || frames < restartFrames {
		return false, false // short enough, or busy: the next tick looks again
	}
	// Each pass copies what arrived during the one before; a few passes
	// leave a short tail, which is copied with the writer held.
	for range 4 {
		next, err := s.checkpoint()
		if err != nil {
			break
		}
		grew := next - frames
		frames = next
		if grew < restartTail {
			break
		}
	}
	s.ckPause.Lock()
	defer s.ckPause.Unlock()
	var busy, log, done int
	if err := s.ck.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
		return true, false
	}
	return true, busy == 0 && done == log
}

// checkpoint runs a passive checkpoint and reports the WAL's length in
// frames when it began.
func (s *Store) checkpoint() (int, error) {
	var busy, frames, done int
	err := s.ck.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done)
	return frames, err
}
