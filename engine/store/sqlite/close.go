package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// closeWait bounds how long Close waits for connections still in use.
const closeWait = 10 * time.Second

// atCloseWait, when set, runs as Close starts waiting for connections
// still in use (a test releases the one it holds there).
var atCloseWait func()

// Close stops the writer, the checkpointer and the background jobs, closes
// the pools, and returns once no connection to the file is open.
//
// database/sql's Close does not wait for a connection in use, or for one
// being opened: a read still running on another goroutine would close its
// connection, or even open one — creating the -wal and -shm files — after
// Close returned. Waiting for them means that once Close returns the file
// is the caller's to copy or remove, and the last connection's checkpoint
// has run.
func (s *Store) Close() error {
	s.closing.Lock()
	if !s.closed {
		s.closed = true
		close(s.jobs)
	}
	s.closing.Unlock()
	s.stopBackground()
	s.background.Wait()
	<-s.writerEnd
	select {
	case <-s.ckStop:
	default:
		close(s.ckStop)
	}
	<-s.ckEnd
	s.reads.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	err := errors.Join(s.r.Close(), s.scan.Close(), s.ck.Close(), s.w.Close())
	return errors.Join(err, s.awaitConnections(closeWait))
}

// awaitConnections waits, up to limit, until the closed pools have no
// connection open.
func (s *Store) awaitConnections(limit time.Duration) error {
	if atCloseWait != nil {
		atCloseWait()
	}
	deadline := time.Now().Add(limit)
	for _, db := range []*sql.DB{s.r, s.scan, s.ck, s.w} {
		for db.Stats().OpenConnections > 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("sqlite: closed with %d connections still in use after %s", db.Stats().OpenConnections, limit)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// goBackground runs fn in its own goroutine unless the store is closing;
// Close cancels fn's context and waits for it.
func (s *Store) goBackground(fn func(ctx context.Context)) bool {
	s.closing.RLock()
	defer s.closing.RUnlock()
	if s.closed {
		return false
	}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		fn(s.backgroundCtx)
	}()
	return true
}
