package slowlink

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/var/run/netns"

// Link is a slow link between a client namespace and a server namespace.
type Link struct {
	Client, Server         netip.Addr // the two ends' addresses
	ClientNS, ServerNS     string     // the namespaces' names
	ClientIface, ServerIfc string     // the TUN devices, one in each namespace

	cfg     Config
	tuns    [2]*os.File
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	st      stats
	closing sync.Once
}

// Create removes what killed earlier runs left, then makes the two
// namespaces, a TUN device in each, their addresses, and starts the
// relay. Close undoes all of it; on an error, Create has undone what it
// did.
func Create(cfg Config) (*Link, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := CleanStale(); err != nil {
		return nil, err
	}
	pid := os.Getpid()
	l := &Link{
		cfg:         cfg,
		ClientNS:    fmt.Sprintf("%s%d-client", Prefix, pid),
		ServerNS:    fmt.Sprintf("%s%d-server", Prefix, pid),
		ClientIface: fmt.Sprintf("slc%d", pid),
		ServerIfc:   fmt.Sprintf("sls%d", pid),
		Client:      ClientAddr4,
		Server:      ServerAddr4,
	}
	if cfg.IPv6 {
		l.Client, l.Server = ClientAddr6, ServerAddr6
	}
	if err := l.setup(); err != nil {
		l.teardown()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	half := cfg.RTT / 2
	for i, j := range [2]int{1, 0} {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			relay(ctx, l.tuns[i], l.tuns[j], half, lossFunc(cfg.Loss), &l.st)
		}()
	}
	return l, nil
}

func (l *Link) setup() error {
	for k, ns := range []string{l.ClientNS, l.ServerNS} {
		if err := ip("netns", "add", ns); err != nil {
			return err
		}
		if err := ip("-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
		iface := []string{l.ClientIface, l.ServerIfc}[k]
		var tun *os.File
		err := InNamespace(ns, func() error {
			var err error
			tun, err = openTUN(iface)
			return err
		})
		if err != nil {
			return err
		}
		l.tuns[k] = tun
		addr := []netip.Addr{l.Client, l.Server}[k]
		prefix := "/24"
		args := []string{"-n", ns, "addr", "add"}
		if l.cfg.IPv6 {
			prefix = "/64"
			args = append(args, addr.String()+prefix, "dev", iface, "nodad")
		} else {
			args = append(args, addr.String()+prefix, "dev", iface)
		}
		if err := ip(args...); err != nil {
			return err
		}
		if err := ip("-n", ns, "link", "set", iface, "up"); err != nil {
			return err
		}
	}
	return nil
}

// ip runs the ip command of iproute2.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("slow link: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// openTUN makes the TUN device name in the calling thread's namespace and
// returns it, non-blocking so that reads wait in Go's poller and Close
// wakes them.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("slow link: open /dev/net/tun: %w", err)
	}
	var req [unix.IFNAMSIZ + 64]byte
	copy(req[:unix.IFNAMSIZ-1], name)
	*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TUN | unix.IFF_NO_PI
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.TUNSETIFF), uintptr(unsafe.Pointer(&req[0]))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("slow link: TUNSETIFF %s: %w", name, errno)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

// InNamespace runs f on a thread moved into the named namespace, and moves
// the thread back after. If moving back fails, the thread is left locked,
// so that Go ends it instead of reusing it in the wrong namespace.
func InNamespace(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("slow link: %w", err)
			return
		}
		defer self.Close()
		if err := Enter(ns); err != nil {
			errc <- err
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("slow link: back to the first namespace: %w", err))
			return // the thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Enter moves the calling thread into the named namespace. The caller
// must hold the thread (runtime.LockOSThread) and never hand it back to
// Go's scheduler while it is there.
func Enter(ns string) error {
	f, err := os.Open(netnsDir + "/" + ns)
	if err != nil {
		return fmt.Errorf("slow link: %w", err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("slow link: enter namespace %s: %w", ns, err)
	}
	return nil
}

// Stats says what the relay did so far.
func (l *Link) Stats() Stats { return l.st.snapshot() }

// Settle waits until the link holds no packet: what was sent before it
// was called has reached the other end, and what that end answered at
// once has come back. It waits at least half a round trip, so that a
// packet sent just before the call, not yet read from its TUN device, is
// waited for too; it returns early when ctx is done, and after a round
// trip and a second on a link that never falls quiet.
func (l *Link) Settle(ctx context.Context) {
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		since := time.Since(start)
		if since >= l.cfg.RTT+time.Second || since >= l.cfg.RTT/2 && l.st.held.Load() == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Close stops the relay and removes the namespaces, which removes the
// TUN devices with them. It is safe to call more than once.
func (l *Link) Close() error {
	var err error
	l.closing.Do(func() {
		if l.cancel != nil {
			l.cancel()
		}
		err = l.teardown()
		l.wg.Wait()
	})
	return err
}

func (l *Link) teardown() error {
	for _, f := range l.tuns {
		if f != nil {
			f.Close()
		}
	}
	var errs []error
	for _, ns := range []string{l.ClientNS, l.ServerNS} {
		if _, err := os.Stat(netnsDir + "/" + ns); err == nil {
			errs = append(errs, delNetns(ns))
		}
	}
	return errors.Join(errs...)
}

// CleanStale removes the namespaces of earlier runs whose process is
// gone (killed with SIGKILL, say, so that it could not clean up).
func CleanStale() error {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("slow link: %w", err)
	}
	var errs []error
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), Prefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		errs = append(errs, delNetns(e.Name()))
	}
	return errors.Join(errs...)
}

// delNetns deletes the namespace ns. One already gone is not an error:
// two runs cleaning up the same stale namespaces at once both try (a
// test's run once failed on "Cannot remove namespace file … No such file
// or directory").
func delNetns(ns string) error {
	err := ip("netns", "del", ns)
	if err != nil {
		if _, statErr := os.Stat(netnsDir + "/" + ns); errors.Is(statErr, os.ErrNotExist) {
			return nil
		}
	}
	return err
}

// alive reports whether a process pid exists.
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Namespaces lists the namespaces of this package that exist now, for
// tests and for saying what is left.
func Namespaces() []string {
	ents, _ := os.ReadDir(netnsDir)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), Prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}
