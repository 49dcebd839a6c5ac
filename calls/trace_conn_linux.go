//go:build linux && (amd64 || arm64)

package calls

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// connWatcher reports when non-blocking connects complete. It holds the
// tracer's duplicate of each socket whose connect returned EINPROGRESS,
// waits in epoll until the socket becomes writable — the kernel wakes
// writers when the handshake completes or fails — and then reports a
// second connect event with the state TCP_INFO gives.
//
// It runs in its own goroutine so that the completion time is taken when
// the kernel signals it, not at the traced program's next stop (Go's net
// package, for one, makes no traced call between connect and close).
type connWatcher struct {
	t      *Tracer
	epfd   int
	wake   [2]int // pipe; closing wake[1] ends run
	exited chan struct{}

	mu      sync.Mutex
	next    int32
	byID    map[int32]*watchedConn
	byFD    map[fdKey]int32
	stopped bool
}

type fdKey struct{ pid, fd int }

type watchedConn struct {
	key fdKey
	dup int
	ev  Event // the EINPROGRESS connect event, to be turned into "completed"
}

func newConnWatcher(t *Tracer) (*connWatcher, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	w := &connWatcher{t: t, epfd: epfd, exited: make(chan struct{}),
		byID: make(map[int32]*watchedConn), byFD: make(map[fdKey]int32)}
	if err := unix.Pipe2(w.wake[:], unix.O_CLOEXEC); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(w.wake[0]), Pad: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, w.wake[0], &ev); err != nil {
		unix.Close(epfd)
		unix.Close(w.wake[0])
		unix.Close(w.wake[1])
		return nil, err
	}
	go w.run()
	return w, nil
}

// watch takes ownership of dup, the tracer's duplicate of descriptor fd of
// process pid, whose connect returned EINPROGRESS. If the handshake has
// already ended (on loopback it often has by the time the tracer looks),
// it returns the completion event at once, for the caller to deliver
// after the connect event itself.
func (w *connWatcher) watch(pid, fd, dup int, ev Event) (done Event, ok bool) {
	c := &watchedConn{key: fdKey{pid, fd}, dup: dup, ev: ev}
	if done, ok := completion(c, time.Now()); ok {
		unix.Close(dup)
		return done, true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	key := c.key
	if w.stopped {
		unix.Close(dup)
		return Event{}, false
	}
	w.dropLocked(key, false)
	w.next++
	if w.next < 0 {
		w.next = 1
	}
	id := w.next
	// EPOLLONESHOT: one report is all we want; the watch is then removed.
	eev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(dup), Pad: id}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, dup, &eev); err != nil {
		unix.Close(dup)
		return Event{}, false
	}
	w.byID[id] = c
	w.byFD[key] = id
	return Event{}, false
}

// drop forgets the watch on descriptor fd of process pid, closing the
// duplicate. The tracer calls it at close entry. If the handshake has
// ended but the watcher goroutine has not reported it yet (it competes
// for a CPU with the traced program), the completion is reported now,
// before the close: its Exit is then later than the real completion,
// still an upper bound.
func (w *connWatcher) drop(pid, fd int) {
	w.mu.Lock()
	ev, ok := w.dropLocked(fdKey{pid, fd}, true)
	w.mu.Unlock()
	if ok {
		w.t.deliver(ev)
	}
}

// dropProc forgets every watch of process pid (exit, exec), reporting
// completions not yet reported as drop does.
func (w *connWatcher) dropProc(pid int) {
	var evs []Event
	w.mu.Lock()
	for key := range w.byFD {
		if key.pid == pid {
			if ev, ok := w.dropLocked(key, true); ok {
				evs = append(evs, ev)
			}
		}
	}
	w.mu.Unlock()
	for _, ev := range evs {
		w.t.deliver(ev)
	}
}

// dropLocked removes the watch of key. With report, it returns the
// completion event if the handshake has ended.
func (w *connWatcher) dropLocked(key fdKey, report bool) (Event, bool) {
	id, ok := w.byFD[key]
	if !ok {
		return Event{}, false
	}
	c := w.byID[id]
	delete(w.byFD, key)
	delete(w.byID, id)
	var ev Event
	if report {
		ev, ok = completion(c, time.Now())
	}
	// Remove the registration before closing: it belongs to the open
	// file description, which the program still holds.
	unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, c.dup, nil)
	unix.Close(c.dup)
	return ev, report && ok
}

// stop ends the watcher, drops every watch and waits for its goroutine,
// so that no event is delivered after it returns.
func (w *connWatcher) stop() {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		unix.Close(w.wake[1])
	}
	w.mu.Unlock()
	<-w.exited
}

func (w *connWatcher) run() {
	defer close(w.exited)
	defer func() {
		w.mu.Lock()
		for key := range w.byFD {
			w.dropLocked(key, false)
		}
		w.mu.Unlock()
		unix.Close(w.wake[0])
		unix.Close(w.epfd)
	}()
	events := make([]unix.EpollEvent, 16)
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		now := time.Now()
		for _, e := range events[:n] {
			if e.Pad == -1 {
				return // wake pipe closed
			}
			if ev, ok := w.ready(e.Pad, now); ok {
				w.t.deliver(ev)
			}
		}
	}
}

// TCP states (include/net/tcp_states.h) as TCP_INFO reports them.
const (
	tcpSynSent = 2
	tcpClose   = 7
)

// ready turns watch id into its completion event.
func (w *connWatcher) ready(id int32, now time.Time) (Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.byID[id]
	if c == nil {
		return Event{}, false // dropped meanwhile
	}
	ev, ok := completion(c, now)
	if !ok {
		// Spurious wake-up: still connecting. Re-arm.
		eev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(c.dup), Pad: id}
		if unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, c.dup, &eev) == nil {
			return Event{}, false
		}
		ev = c.ev
		ev.Exit, ev.Errno, ev.Result, ev.Detail = now, 0, -1, "failed"
	}
	w.dropLocked(c.key, false)
	return ev, true
}

// completion makes the completion event of c, observed at now; ok is
// false while the handshake is still under way (SYN_SENT).
func completion(c *watchedConn, now time.Time) (Event, bool) {
	info, err := unix.GetsockoptTCPInfo(c.dup, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err == nil && info.State == tcpSynSent {
		return Event{}, false
	}
	ev := c.ev
	ev.Exit = now
	ev.Errno = 0
	// CLOSE is both "refused or timed out" and, when the tracer looks
	// late (at close), "established, used and closed by both sides":
	// tell them apart by what only an established connection has, an
	// RTT sample from the SYN-ACK, or bytes.
	established := err == nil && (info.State != tcpClose ||
		info.Rtt > 0 || info.Bytes_received > 0 || info.Bytes_acked > 1)
	if established {
		ev.Result, ev.Detail = 0, "completed"
		if sa, err := unix.Getsockname(c.dup); err == nil {
			ev.Local = fromSockaddr(sa)
		}
	} else {
		ev.Result, ev.Detail = -1, "failed"
	}
	return ev, true
}
