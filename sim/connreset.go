package sim

import (
	"fmt"
	"net"
	"net/http"
)

// reset cuts the connection with a TCP RST. With partial non-nil, it first
// sends a 200 status line, headers and the first half of partial. The ledger
// counts the reset before the peer can see it.
func (c *call) reset(partial []byte) {
	c.record("reset")
	conn, bw, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2, a recorder): abort the response instead.
		panic(http.ErrAbortHandler)
	}
	if partial != nil {
		_, _ = fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", len(partial))
		_ = c.w.Header().Write(bw)
		_, _ = bw.WriteString("\r\n")
		_, _ = bw.Write(partial[:len(partial)/2])
		_ = bw.Flush()
	}
	rst(conn)
}

// resetStream flushes what a stream wrote, then resets the connection. The
// caller has already counted the reset.
func (c *call) resetStream() error {
	rc := http.NewResponseController(c.w)
	if err := rc.Flush(); err != nil {
		return err
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // not hijackable (HTTP/2): abort the stream instead
	}
	rst(conn)
	return nil
}

// rst closes conn so the peer sees a reset, not a clean close.
func rst(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
