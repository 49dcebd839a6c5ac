// Command loopgen makes many short, real TCP connections on loopback as fast
// as it can, so that tcpdump can record a big capture of the kind socktrace
// must replay quickly and correctly: every connection is a full handshake, a
// small request, a small reply and a graceful close in which the client
// closes first and so keeps the TIME_WAIT. It is a tool for making benchmark
// captures (see scripts/bigcapture.sh), not part of socktrace's interface.
//
//	go run ./internal/loopgen -n 100000 -addr 127.0.0.1:0 -rate 0
//
// It makes one of two shapes of traffic (-shape):
//
//   - reuse (the default): at most -c connections in flight, meant to run
//     in a network namespace with a small ephemeral range, so each client
//     port is used again and again, one connection at a time;
//   - parallel: -clients clients (default 8), each making its connections
//     back to back with ports the kernel chooses from its whole range, as
//     a real load of parallel clients does: thousands of connections
//     overlap in a capture (most of them in TIME_WAIT), and each port is
//     reused a few times.
//
// Run the reuse shape inside a network namespace whose ephemeral range is small (say 1000
// ports) and whose net.ipv4.tcp_tw_reuse is 1: the kernel must hand out
// client ports that are still in TIME_WAIT, so each 4-tuple is used again
// and again: the case a capture analyser double-counts or merges when it
// keys connections on the 4-tuple alone.
//
// When every port in the range is in TIME_WAIT and too young to reuse
// (net.ipv4.tcp_tw_reuse_delay, 1 s by default), connect fails with
// EADDRNOTAVAIL; loopgen backs off briefly and tries again, and counts
// those retries rather than failing. Any other error is counted and makes
// the exit status 1, so a capture never silently holds fewer connections
// than asked for.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.N, "n", 100000, "number of connections to make")
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:0", "address the server listens on (port 0: the kernel chooses)")
	flag.Float64Var(&cfg.Rate, "rate", 0, "connections started per second (0: as fast as possible)")
	flag.IntVar(&cfg.InFlight, "c", 64, "connections in flight at most (shape reuse)")
	flag.StringVar(&cfg.Shape, "shape", "reuse", "traffic shape: reuse (bounded in flight, for a small port range) or parallel (-clients clients back to back)")
	flag.IntVar(&cfg.Clients, "clients", 8, "parallel clients (shape parallel)")
	flag.IntVar(&cfg.RequestLen, "req", 64, "request size in bytes")
	flag.IntVar(&cfg.ReplyLen, "reply", 128, "reply size in bytes")
	quiet := flag.Bool("q", false, "do not print progress every second")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := cfg.check(); err != nil {
		fmt.Fprintln(os.Stderr, "loopgen:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var progress io.Writer = os.Stderr
	if *quiet {
		progress = nil
	}
	st, err := run(ctx, cfg, progress)
	st.print(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopgen:", err)
		os.Exit(1)
	}
}

// config says what to generate.
type config struct {
	N          int     // connections to make
	Addr       string  // server listen address
	Rate       float64 // connections started per second; 0 means no limit
	InFlight   int     // bound on concurrent client connections
	RequestLen int     // bytes the client writes
	ReplyLen   int     // bytes the server writes back
	Shape      string  // "reuse" (or empty) or "parallel"
	Clients    int     // parallel clients, for the parallel shape
}

func (c config) check() error {
	switch {
	case c.N < 1:
		return fmt.Errorf("-n %d: need at least one connection", c.N)
	case c.Rate < 0:
		return fmt.Errorf("-rate %g: must be 0 (no limit) or positive", c.Rate)
	case c.InFlight < 1:
		return fmt.Errorf("-c %d: need at least one connection in flight", c.InFlight)
	case c.Shape != "" && c.Shape != "reuse" && c.Shape != "parallel":
		return fmt.Errorf("-shape %q: use reuse or parallel", c.Shape)
	case c.Shape == "parallel" && c.Clients < 1:
		return fmt.Errorf("-clients %d: need at least one client", c.Clients)
	case c.RequestLen < 1 || c.ReplyLen < 1:
		// Empty payloads would change the packet pattern (no data
		// segments), and the server would have nothing to wait for.
		return errors.New("-req and -reply must be at least 1 byte")
	}
	return nil
}

// stats is what a run did. The port counts let the caller check that
// ports really were reused as many times as intended.
type stats struct {
	Addr      string        // the address the server listened on
	Done      int64         // connections that completed the whole exchange
	Failed    int64         // connections that failed (client or server side)
	Retries   int64         // connects retried after EADDRNOTAVAIL
	Elapsed   time.Duration // from the first connect to the last close
	Ports     int           // distinct client ports used
	MinReuse  int64         // fewest connections on one client port
	MaxReuse  int64         // most connections on one client port
	FirstErrs []string      // the first few errors, for the report
}

func (s stats) print(w io.Writer) {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Done) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "loopgen: server %s: %d connections done, %d failed, %d connect retries (EADDRNOTAVAIL) in %.2f s (%.0f connections/s)\n",
		s.Addr, s.Done, s.Failed, s.Retries, s.Elapsed.Seconds(), rate)
	fmt.Fprintf(w, "loopgen: %d client ports used, each %d to %d times\n", s.Ports, s.MinReuse, s.MaxReuse)
	for _, e := range s.FirstErrs {
		fmt.Fprintln(w, "loopgen: error:", e)
	}
}

// counters is shared by the client and server goroutines.
type counters struct {
	done, failed, retries atomic.Int64
	ports                 [65536]atomic.Int64

	mu   sync.Mutex
	errs []string
}

// fail counts a failed connection and keeps its error if it is among the
// first few: a storm of identical errors would only drown the first one.
func (c *counters) fail(side string, err error) {
	c.failed.Add(1)
	c.mu.Lock()
	if len(c.errs) < 5 {
		c.errs = append(c.errs, side+": "+err.Error())
	}
	c.mu.Unlock()
}

// run makes cfg.N connections to a server it runs itself and returns once
// every client and every server-side connection has finished. Progress, if
// not nil, gets a line a second.
func run(ctx context.Context, cfg config, progress io.Writer) (stats, error) {
	if err := cfg.check(); err != nil {
		return stats{}, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return stats{}, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	addr := ln.Addr().String()
	var c counters

	// Server: one goroutine per accepted connection, as a real server
	// would have; they are few at a time because the clients are bounded.
	var serverWG sync.WaitGroup
	serverWG.Add(1)
	go func() {
		defer serverWG.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					c.fail("accept", err)
				}
				return
			}
			serverWG.Add(1)
			go func() {
				defer serverWG.Done()
				if err := serve(conn, cfg); err != nil {
					c.fail("server", err)
				}
			}()
		}
	}()

	var stopProgress chan struct{}
	var progressDone sync.WaitGroup
	start := time.Now()
	if progress != nil {
		stopProgress = make(chan struct{})
		progressDone.Add(1)
		go func() {
			defer progressDone.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					fmt.Fprintf(progress, "loopgen: %d/%d done, %d failed, %d retries, %.0f s\n",
						c.done.Load(), cfg.N, c.failed.Load(), c.retries.Load(), time.Since(start).Seconds())
				}
			}
		}()
	}

	// Clients: a semaphore bounds how many are in flight, and the pacer
	// (when -rate is set) spaces their starts evenly from the first one,
	// so a slow moment is caught up rather than lost.
	inFlight := cfg.InFlight
	if cfg.Shape == "parallel" {
		// Parallel clients are a bound of Clients in flight: each client
		// starts its next connection as soon as its last one closed.
		inFlight = cfg.Clients
	}
	sem := make(chan struct{}, inFlight)
	var clientWG sync.WaitGroup
	dialer := net.Dialer{KeepAlive: -1} // no keepalive probes: the connections are short
	var interrupted error
dispatch:
	for i := 0; i < cfg.N; i++ {
		// Checked first: a select with several ready cases picks one at
		// random, and a cancelled run should start nothing more.
		if err := ctx.Err(); err != nil {
			interrupted = err
			break
		}
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					interrupted = ctx.Err()
					break dispatch
				case <-time.After(d):
				}
			}
		}
		select {
		case <-ctx.Done():
			interrupted = ctx.Err()
			break dispatch
		case sem <- struct{}{}:
		}
		clientWG.Add(1)
		go func() {
			defer clientWG.Done()
			defer func() { <-sem }()
			port, err := client(ctx, &dialer, addr, cfg, &c.retries)
			if err != nil {
				c.fail("client", err)
				return
			}
			c.ports[port].Add(1)
			c.done.Add(1)
		}()
	}
	clientWG.Wait()
	elapsed := time.Since(start)
	// Every client has seen its reply and closed; the server side of each
	// connection ends when it reads that close, so closing the listener now
	// loses nothing.
	ln.Close()
	serverWG.Wait()
	if stopProgress != nil {
		close(stopProgress)
		progressDone.Wait()
	}

	st := stats{
		Addr:    addr,
		Done:    c.done.Load(),
		Failed:  c.failed.Load(),
		Retries: c.retries.Load(),
		Elapsed: elapsed,
	}
	for p := range c.ports {
		n := c.ports[p].Load()
		if n == 0 {
			continue
		}
		if st.Ports == 0 || n < st.MinReuse {
			st.MinReuse = n
		}
		if n > st.MaxReuse {
			st.MaxReuse = n
		}
		st.Ports++
	}
	c.mu.Lock()
	st.FirstErrs = c.errs
	c.mu.Unlock()

	switch {
	case interrupted != nil:
		return st, fmt.Errorf("interrupted after %d connections: %w", st.Done, interrupted)
	case st.Failed > 0:
		return st, fmt.Errorf("%d of %d connections failed", st.Failed, cfg.N)
	}
	return st, nil
}

// client makes one connection: connect, write the request, read the whole
// reply, close. It closes first, so its side goes through FIN_WAIT_1,
// FIN_WAIT_2 and TIME_WAIT. It returns the local port it was given.
func client(ctx context.Context, d *net.Dialer, addr string, cfg config, retries *atomic.Int64) (int, error) {
	var conn net.Conn
	backoff := 100 * time.Microsecond
	for {
		var err error
		conn, err = d.DialContext(ctx, "tcp", addr)
		if err == nil {
			break
		}
		// Every ephemeral port is taken by a TIME_WAIT younger than
		// tcp_tw_reuse_delay: wait for one to age. This is the
		// expected steady state with a small port range, not a failure.
		if !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return 0, err
		}
		retries.Add(1)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Millisecond)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.TCPAddr).Port

	req := make([]byte, cfg.RequestLen)
	for i := range req {
		req[i] = 'a' + byte(i%26)
	}
	if _, err := conn.Write(req); err != nil {
		return port, fmt.Errorf("write request: %w", err)
	}
	reply := make([]byte, cfg.ReplyLen)
	if _, err := io.ReadFull(conn, reply); err != nil {
		return port, fmt.Errorf("read reply: %w", err)
	}
	if err := conn.Close(); err != nil {
		return port, fmt.Errorf("close: %w", err)
	}
	return port, nil
}

// serve is the server's side of one connection: read the request, write the
// reply, then wait for the client's FIN before closing, so the client is
// the one that closes first and the server goes CLOSE_WAIT → LAST_ACK
// without a TIME_WAIT of its own.
func serve(conn net.Conn, cfg config) error {
	defer conn.Close()
	req := make([]byte, cfg.RequestLen)
	if _, err := io.ReadFull(conn, req); err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	reply := make([]byte, cfg.ReplyLen)
	for i := range reply {
		reply[i] = 'A' + byte(i%26)
	}
	if _, err := conn.Write(reply); err != nil {
		return fmt.Errorf("write reply: %w", err)
	}
	// The client sends nothing more; the next read is its FIN. Anything
	// else means the exchange did not go as planned.
	var one [1]byte
	n, err := conn.Read(one[:])
	switch {
	case n > 0:
		return errors.New("client sent more than the request")
	case err == nil || !errors.Is(err, io.EOF):
		return fmt.Errorf("waiting for the client's close: %v", err)
	}
	return conn.Close()
}
