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
// process pid, whose connect returned EINPROGRESS.
func (w *connWatcher) watch(pid, fd, dup int, ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := fdKey{pid, fd}
	if w.stopped {
		unix.Close(dup)
		return
	}
	w.dropLocked(key)
	w.next++
	if w.next < 0 {
		w.next = 1
	}
	id := w.next
	// EPOLLONESHOT: one report is all we want; the watch is then removed.
	eev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(dup), Pad: id}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, dup, &eev); err != nil {
		unix.Close(dup)
		return
	}
	w.byID[id] = &watchedConn{key: key, dup: dup, ev: ev}
	w.byFD[key] = id
}

// drop forgets the watch on descriptor fd of process pid, closing the
// duplicate. The tracer calls it at close entry.
func (w *connWatcher) drop(pid, fd int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropLocked(fdKey{pid, fd})
}

// dropProc forgets every watch of process pid (exit, exec).
func (w *connWatcher) dropProc(pid int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for key := range w.byFD {
		if key.pid == pid {
			w.dropLocked(key)
		}
	}
}

func (w *connWatcher) dropLocked(key fdKey) {
	id, ok := w.byFD[key]
	if !ok {
		return
	}
	c := w.byID[id]
	delete(w.byFD, key)
	delete(w.byID, id)
	// Remove the registration before closing: it belongs to the open
	// file description, which the program still holds.
	unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, c.dup, nil)
	unix.Close(c.dup)
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
			w.dropLocked(key)
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
	tcpEstablished = 1
	tcpSynSent     = 2
	tcpClose       = 7
)

// ready turns watch id into its completion event.
func (w *connWatcher) ready(id int32, now time.Time) (Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.byID[id]
	if c == nil {
		return Event{}, false // dropped meanwhile
	}
	info, err := unix.GetsockoptTCPInfo(c.dup, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err == nil && info.State == tcpSynSent {
		// Spurious wake-up: still connecting. Re-arm.
		eev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(c.dup), Pad: id}
		if unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, c.dup, &eev) == nil {
			return Event{}, false
		}
	}
	ev := c.ev
	ev.Exit = now
	ev.Errno = 0
	if err == nil && info.State != tcpClose {
		ev.Result, ev.Detail = 0, "completed"
		if sa, err := unix.Getsockname(c.dup); err == nil {
			ev.Local = fromSockaddr(sa)
		}
	} else {
		ev.Result, ev.Detail = -1, "failed"
	}
	w.dropLocked(c.key)
	return ev, true
}
