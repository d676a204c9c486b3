package sqlite

import (
	"context"
	"os"
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
	// quietWAL is the WAL file size past which a quiet checkpointer cuts
	// the file to nothing (see quietTruncate).
	quietWAL int64 = 4 << 20
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
	writes := s.writes.Load()
	frames, copied, err := s.checkpointCounts()
	if err == nil && frames == copied && writes == s.lastWrites {
		s.quietTruncate()
	}
	s.lastWrites = writes
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
	frames, _, err := s.checkpointCounts()
	return frames, err
}

// checkpointCounts runs a passive checkpoint and reports the WAL's length
// in frames and how many of them are now in the database file.
func (s *Store) checkpointCounts() (frames, copied int, err error) {
	var busy int
	err = s.ck.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	return frames, copied, err
}

// quietTruncate cuts the WAL file to nothing once writes have stopped: a
// tick found every frame copied and nothing written since the tick before. A
// burst leaves the file at up to walLimit (journal_size_limit cuts it back
// only that far, so the next burst need not grow it again), which at rest
// is that much disk for nothing — 30 MiB beside a 35 MiB database after
// the peer benchmark's writes. A TRUNCATE checkpoint waits for readers
// still reading the WAL and blocks the writer meanwhile, so it runs with
// the writer held between batches and a busy timeout of zero: with a
// reader in the way it gives up at once, and a later quiet tick tries
// again.
func (s *Store) quietTruncate() {
	fi, err := os.Stat(s.path + "-wal")
	if err != nil || fi.Size() <= quietWAL {
		return
	}
	ctx := context.Background()
	c, err := s.ck.Conn(ctx)
	if err != nil {
		return
	}
	defer c.Close()
	s.ckPause.Lock()
	defer s.ckPause.Unlock()
	if _, err := c.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		return
	}
	defer c.ExecContext(ctx, `PRAGMA busy_timeout = 10000`)
	var busy, frames, copied int
	_ = c.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied)
}
