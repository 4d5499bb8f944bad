package e2etest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server of the test's own, on a random loopback port,
// keeping nothing on disk.
type Redis struct {
	t    testing.TB
	Addr string
	Port int
	Proc *Process
	dir  string
}

// StartRedis starts redis-server (Debian's package: `make test` installs it)
// and returns when it answers PING.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed (make test installs it: apt-get install redis-server): %v", err)
	}
	r := &Redis{t: t, Port: FreePort(t), dir: t.TempDir()}
	r.Addr = "127.0.0.1:" + strconv.Itoa(r.Port)
	r.start()
	return r
}

func (r *Redis) start() {
	r.t.Helper()
	r.Proc = Start(r.t, "redis", "redis-server",
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--protected-mode", "no")
	WaitFor(r.t, "redis PING", 10*time.Second, func() bool { return r.Ping() == nil })
}

// Ping sends PING and reads the reply.
func (r *Redis) Ping() error {
	c, err := net.DialTimeout("tcp", r.Addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("redis PING: %q", line)
	}
	return nil
}

// Stop kills the server (SIGKILL: an outage, not a shutdown) and waits for it.
func (r *Redis) Stop() {
	r.t.Helper()
	_ = r.Proc.cmd.Process.Signal(syscall.SIGKILL)
	<-r.Proc.done
}

// Restart starts the server again on the same port, empty.
func (r *Redis) Restart() {
	r.t.Helper()
	r.start()
}
