package server

import (
	"io"
	"net"
	"sync/atomic"
	"time"
)

// A request whose body is over the limit is answered with 413 at once and
// the connection is closed. Closing a TCP socket with unread data in its
// receive buffer sends a reset, and a reset that reaches the client before
// it read the answer destroys the answer: Python's urllib, which sends the
// whole body before reading, saw ECONNRESET; Go's net/http at 10 MB too.
// So a connection marked by the 413 drains (reads and discards) what the
// client still sends, within a byte and time budget, after the answer went
// out and before it closes — as Go's own HTTP server does.
const (
	drainBytes = 64 << 20
	drainTime  = 5 * time.Second
)

type drainListener struct{ net.Listener }

func (l drainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &drainConn{Conn: c}, nil
}

type drainConn struct {
	net.Conn
	drain atomic.Bool
}

// markDrain asks the connection to drain before it closes.
func markDrain(c net.Conn) {
	if dc, ok := c.(*drainConn); ok {
		dc.drain.Store(true)
	}
}

func (c *drainConn) Close() error {
	if c.drain.Load() {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
			// The answer is flushed; a FIN tells the client it is whole.
			_ = cw.CloseWrite()
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(drainTime))
		_, err := io.CopyN(io.Discard, c.Conn, drainBytes)
		_ = err // EOF once the client is done, a timeout otherwise: both end the drain
	}
	return c.Conn.Close()
}
