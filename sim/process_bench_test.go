package sim

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The process benchmarks run the server in a child process (this test binary,
// re-executed with SIM_BENCH_SERVE set) with GOMAXPROCS=1, so the client's
// goroutines do not share the server's scheduler. Set SIM_BENCH_SERVER_CPU to
// pin the child with taskset, and run the parent on the other cores:
//
//	SIM_BENCH_SERVER_CPU=0 taskset -c 1 go test ./sim -run '^$' -bench Process -benchtime 5s
//
// That measures the simulator on one dedicated core over real loopback TCP.
// SIM_BENCH_CPUPROFILE=FILE writes the child's CPU profile.

const benchServeEnv = "SIM_BENCH_SERVE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(benchServeEnv); mode != "" {
		os.Exit(serveForBenchmark(mode))
	}
	os.Exit(m.Run())
}

// serveForBenchmark is the child process: it serves until killed.
func serveForBenchmark(mode string) int {
	var h http.Handler = http.HandlerFunc(baselineHandler)
	if mode == "sim" {
		cfg, err := Parse([]byte(benchConfig))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		s, err := New(cfg, Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		h = s
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if path := os.Getenv("SIM_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		go func() {
			<-sig
			pprof.StopCPUProfile()
			_ = f.Close()
			os.Exit(0)
		}()
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	_ = http.Serve(ln, h)
	return 0
}

// startServerProcess starts the child and returns its address and a stop
// function that kills it and returns the CPU time it used.
func startServerProcess(b *testing.B, mode string) (string, func() time.Duration) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	args := []string{exe, "-test.run=^$"}
	if cpu := os.Getenv("SIM_BENCH_SERVER_CPU"); cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), benchServeEnv+"="+mode, "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stopped := false
	stop := func() time.Duration {
		if stopped {
			return 0
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt) // lets a profiling child write its profile
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.Cleanup(func() { stop() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("server process: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if !ok {
		b.Fatalf("server process said %q", line)
	}
	return addr, stop
}

// rawClient is a minimal HTTP/1.1 keep-alive client, much cheaper than
// net/http's, so that the client is not what limits the figure.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte
	body []byte
}

func newRawClient(addr, path, body string) (*rawClient, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nApi-Key: k1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		path, addr, len(body), body)
	return &rawClient{conn: conn, r: bufio.NewReaderSize(conn, 8192), req: []byte(req), body: make([]byte, 0, 4096)}, nil
}

// do sends the request and reads one response; it returns the status code.
func (c *rawClient) do() (int, error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	status, n := 0, -1
	for first := true; ; first = false {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		s := strings.TrimRight(string(line), "\r\n")
		if first {
			if len(s) < 12 {
				return 0, fmt.Errorf("bad status line %q", s)
			}
			status, _ = strconv.Atoi(s[9:12])
			continue
		}
		if s == "" {
			break
		}
		if k, v, ok := strings.Cut(s, ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if n < 0 {
		return 0, fmt.Errorf("response without content-length")
	}
	if cap(c.body) < n {
		c.body = make([]byte, n)
	}
	_, err := io.ReadFull(c.r, c.body[:n])
	return status, err
}

func benchProcess(b *testing.B, mode string) {
	addr, stop := startServerProcess(b, mode)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := newRawClient(addr, chat("std"), benchBody)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.conn.Close()
		for pb.Next() {
			status, err := c.do()
			if err != nil || status != 200 {
				b.Errorf("status %d, err %v", status, err)
				return
			}
		}
	})
	b.StopTimer()
	cpu := stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	if cpu > 0 {
		// Requests per second of server CPU: what one fully used core serves.
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "req/s-per-server-core")
	}
}

func BenchmarkProcessChatStandard(b *testing.B) { benchProcess(b, "sim") }

func BenchmarkProcessBaseline(b *testing.B) { benchProcess(b, "baseline") }
