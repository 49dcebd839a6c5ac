package demo

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/internal/slowlink"
)

// runner holds the state of one run: the sockets it has open, the way to
// stop it, and where its events go.
type runner struct {
	parent   context.Context
	ctx      context.Context // done when the run must stop: see run
	stop     context.CancelCauseFunc
	scenario string
	opts     Options
	loop     netip.Addr // 127.0.0.1 or ::1, or the server's end of a slow link
	// clientLoop is the client's address: loop, or the client's end of a
	// slow link.
	clientLoop netip.Addr
	family     int // AF_INET or AF_INET6
	pid        int
	comm       string

	mu       sync.Mutex
	open     map[int]*sock // sockets made and not yet closed, by fd
	stopped  bool          // the watchdog has woken every blocked call
	finished bool          // the scenario ended; the watchdog must do nothing

	emitMu sync.Mutex // serializes calls to opts.Calls
}

// sock is one socket of the run and what is known of its addresses.
type sock struct {
	fd            int
	side          calls.Side
	local, remote netip.AddrPort
	closed        bool
	datagram      bool // a UDP socket
}

func newRunner(ctx context.Context, name string, opts Options) *runner {
	r := &runner{
		parent:   ctx,
		scenario: name,
		opts:     opts,
		loop:     netip.AddrFrom4([4]byte{127, 0, 0, 1}),
		family:   unix.AF_INET,
		pid:      os.Getpid(),
		comm:     processName(),
		open:     make(map[int]*sock),
	}
	if opts.IPv6 {
		r.loop = netip.IPv6Loopback()
		r.family = unix.AF_INET6
	}
	r.clientLoop = r.loop
	if opts.ServerAddr.IsValid() {
		r.loop = opts.ServerAddr
	}
	if opts.ClientAddr.IsValid() {
		r.clientLoop = opts.ClientAddr
	}
	return r
}

// processName is the name the kernel gives this process (what ps and
// tracing tools show as comm): "socktrace" when the socktrace command runs
// the demo, the test binary's name under go test.
func processName() string {
	b, err := os.ReadFile("/proc/self/comm")
	if name := strings.TrimSpace(string(b)); err == nil && name != "" {
		return name
	}
	return "socktrace"
}

// serverAddr is where the scenario's server binds.
func (r *runner) serverAddr() netip.AddrPort {
	return netip.AddrPortFrom(r.loop, uint16(r.opts.Port))
}

// run runs body and makes sure that, however it ends, no call stays
// blocked and no socket stays open.
//
// Blocking syscalls do not watch a context, so a watchdog does: when the
// run must stop (the caller cancelled, the run took longer than
// runTimeout, or one side failed and the other may be waiting for it), it
// shuts every open socket down. shutdown(SHUT_RDWR) wakes a blocked
// accept (EINVAL), read (EOF) and connect (error), which closing the fd
// from another thread would not do on Linux. The fds themselves are
// closed only by the goroutines that own them, under r.mu, so the
// watchdog never touches an fd number that has been closed and reused.
func (r *runner) run(body func(*runner) error) error {
	ctx, stop := context.WithCancelCause(r.parent)
	defer stop(nil)
	r.stop = stop
	ctx, cancel := context.WithTimeoutCause(ctx, runTimeout,
		fmt.Errorf("did not finish within %v", runTimeout))
	defer cancel()
	r.ctx = ctx

	watchdog := make(chan struct{})
	go func() {
		defer close(watchdog)
		<-ctx.Done()
		r.wakeAll()
	}()

	err := body(r)

	r.mu.Lock()
	r.finished = true
	stopped := r.stopped
	r.mu.Unlock()
	cancel()
	<-watchdog
	if lerr := r.closeLeftovers(); err == nil {
		err = lerr
	}
	if stopped {
		// Whatever the sides returned after being woken is a
		// consequence; the cause is what stopped the run.
		return context.Cause(ctx)
	}
	return err
}

// wakeAll shuts down every open socket so that every blocked call
// returns. It runs once, from the watchdog.
func (r *runner) wakeAll() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()

	var evs []calls.Event
	r.mu.Lock()
	if !r.finished {
		r.stopped = true
		for _, s := range r.open {
			ev := r.event(s.side, tid, calls.Shutdown, s, "SHUT_RDWR (stopping the run)")
			ev.Enter = now()
			err := unix.Shutdown(s.fd, unix.SHUT_RDWR)
			ev.Exit = now()
			setResult(&ev, 0, err)
			evs = append(evs, ev)
		}
	}
	r.mu.Unlock()
	for _, ev := range evs {
		r.emit(ev)
	}
}

// closeLeftovers closes what a side failed to close. Every side closes
// its own sockets, so finding one here is a bug in a scenario; it is
// closed all the same, so that nothing is left listening.
func (r *runner) closeLeftovers() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var fds []int
	for fd := range r.open {
		unix.Close(fd)
		fds = append(fds, fd)
	}
	clear(r.open)
	if len(fds) > 0 {
		return fmt.Errorf("internal error: fds %v were left open", fds)
	}
	return nil
}

// fail stops the run because a side failed with err. The first cause
// given wins; later ones are consequences of it.
func (r *runner) fail(err error) { r.stop(err) }

// role is one side of a scenario and what it does.
type role struct {
	side calls.Side
	do   func(*actor) error
}

// together runs the roles at the same time, each in its own goroutine on
// its own locked OS thread, and waits for all of them. When one fails,
// the run stops, which wakes the others.
func (r *runner) together(roles ...role) error {
	errs := make(chan error, len(roles))
	for _, ro := range roles {
		go func() {
			// One goroutine per OS thread for the whole role, so
			// the TID in every event is the thread that really made
			// the syscall.
			runtime.LockOSThread()
			ns := r.opts.ClientNS
			if ro.side == calls.Server {
				ns = r.opts.ServerNS
			}
			if ns == "" {
				defer runtime.UnlockOSThread()
			} else if err := slowlink.Enter(ns); err != nil {
				// The thread stays locked: Go ends it with this
				// goroutine rather than reuse it in another
				// namespace.
				r.fail(err)
				errs <- err
				return
			}
			a := &actor{r: r, side: ro.side, tid: unix.Gettid()}
			err := ro.do(a)
			if cerr := a.closeAll(); err == nil {
				err = cerr
			}
			if err != nil {
				r.fail(err)
			}
			errs <- err
		}()
	}
	var first error
	for range roles {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
