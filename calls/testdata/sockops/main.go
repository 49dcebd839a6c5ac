// Command sockops is a test program: one TCP connection on loopback
// between a server and a client of its own, made with raw system calls,
// whose data or end goes through a call other than read/write/close,
// named by its first argument: plain (write, close), dup (data and FIN
// through dup and dup3 copies), closerange, exit (the exit closes),
// vector (writev, readv), peek and peekclose (MSG_PEEK), sendfile,
// splice, mmsg (sendmmsg, recvmmsg), linger (SO_LINGER 0), blockedexit (a
// thread still in accept() when the process exits), fastopen (TCP Fast
// Open, see fastOpen), fastopeninflight (see fastOpenInFlight). Compare a run with strace -f and tcpdump -i lo -nn.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "sockops: %s: %v\n", what, err)
		os.Exit(1)
	}
}

// pair makes a listener, connects a client to it and accepts: the client's
// and the server's descriptors, and the listener.
func pair() (cfd, sfd, ls int) {
	ls, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(err, "socket")
	must(unix.Bind(ls, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}), "bind")
	must(unix.Listen(ls, 8), "listen")
	sa, err := unix.Getsockname(ls)
	must(err, "getsockname")
	cfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(err, "client socket")
	must(unix.Connect(cfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: sa.(*unix.SockaddrInet4).Port}), "connect")
	sfd, _, err = unix.Accept4(ls, 0)
	must(err, "accept4")
	return cfd, sfd, ls
}

var blockedTid = make(chan int, 1)

// waitBlockedIn waits until thread tid is inside system call nr, as
// /proc/self/task/TID/syscall says (its first field is the number of the
// call the thread is blocked in).
func waitBlockedIn(tid, nr int) {
	path := fmt.Sprintf("/proc/self/task/%d/syscall", tid)
	stat := fmt.Sprintf("/proc/self/task/%d/stat", tid)
	for {
		b, err := os.ReadFile(path)
		must(err, "read "+path)
		// Asleep in the call, not merely stopped at its entry: a
		// tracee at its seccomp or syscall-entry stop reads as in the
		// call too (state t), before its tracer has seen the stop.
		if f := strings.Fields(string(b)); len(f) > 0 && f[0] == strconv.Itoa(nr) && taskState(stat) == 'S' {
			return
		}
		runtime.Gosched()
	}
}

// taskState is the state letter of /proc/…/stat (after the command's
// closing parenthesis).
func taskState(path string) byte {
	b, err := os.ReadFile(path)
	must(err, "read "+path)
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2]
	}
	return 0
}

func readAll(fd int) int {
	buf := make([]byte, 4096)
	total := 0
	for {
		n, err := unix.Read(fd, buf)
		if n <= 0 || err != nil {
			return total
		}
		total += n
	}
}

func main() {
	runtime.LockOSThread()
	mode := "plain"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if mode == "fastopen" {
		fastOpen()
		return
	}
	if mode == "fastopeninflight" {
		fastOpenInFlight()
		return
	}
	cfd, sfd, ls := pair()
	switch mode {
	case "plain":
		_, err := unix.Write(cfd, []byte("ping"))
		must(err, "write")
		must(unix.Close(cfd), "close")
		readAll(sfd)
		must(unix.Close(sfd), "close")
	case "dup":
		// The client's data and FIN go through a dup of its descriptor;
		// closing the original sends nothing.
		d, err := unix.Dup(cfd)
		must(err, "dup")
		must(unix.Close(cfd), "close original")
		_, err = unix.Write(d, []byte("ping"))
		must(err, "write")
		must(unix.Dup3(d, 100, 0), "dup3")
		must(unix.Close(d), "close dup")
		_, err = unix.Write(100, []byte("pong"))
		must(err, "write")
		must(unix.Close(100), "close dup3")
		readAll(sfd)
		must(unix.Close(sfd), "close")
	case "closerange":
		_, err := unix.Write(cfd, []byte("ping"))
		must(err, "write")
		must(unix.CloseRange(uint(cfd), uint(cfd), 0), "close_range")
		readAll(sfd)
		must(unix.Close(sfd), "close")
	case "exit":
		// The client's socket is closed by the exit, not by a call.
		_, err := unix.Write(cfd, []byte("ping"))
		must(err, "write")
		os.Exit(0)
	case "vector":
		_, err := unix.Writev(cfd, [][]byte{[]byte("pi"), []byte("ng")})
		must(err, "writev")
		buf := make([]byte, 2)
		_, err = unix.Readv(sfd, [][]byte{buf, make([]byte, 2)})
		must(err, "readv")
		must(unix.Close(cfd), "close")
		readAll(sfd)
		must(unix.Close(sfd), "close")
	case "peek":
		_, err := unix.Write(cfd, []byte("ping"))
		must(err, "write")
		buf := make([]byte, 4)
		_, _, err = unix.Recvfrom(sfd, buf, unix.MSG_PEEK)
		must(err, "recv peek")
		_, _, err = unix.Recvfrom(sfd, buf, 0)
		must(err, "recv")
		must(unix.Close(cfd), "close")
		readAll(sfd)
		must(unix.Close(sfd), "close")
	case "peekclose":
		// The server only peeks at the data and closes: the data is
		// unread, so the kernel resets the connection.
		_, err := unix.Write(cfd, []byte("ping"))
		must(err, "write")
		buf := make([]byte, 4)
		for {
			n, _, err := unix.Recvfrom(sfd, buf, unix.MSG_PEEK)
			must(err, "recv peek")
			if n == 4 {
				break
			}
		}
		must(unix.Close(sfd), "close")
		readAll(cfd)
		must(unix.Close(cfd), "close")
	case "blockedexit":
		// A thread blocked in accept() when the process exits: the call
		// never returns, and the exit closes the sockets.
		go func() {
			runtime.LockOSThread()
			blockedTid <- unix.Gettid()
			unix.Accept4(ls, 0)
		}()
		waitBlockedIn(<-blockedTid, unix.SYS_ACCEPT4)
		os.Exit(0)
	case "sendfile":
		f, err := os.Open("/proc/self/exe")
		must(err, "open")
		_, err = unix.Sendfile(cfd, int(f.Fd()), nil, 3000)
		must(err, "sendfile")
		must(unix.Close(cfd), "close")
		readAll(sfd)
		must(unix.Close(sfd), "close")
	case "splice":
		var p [2]int
		must(unix.Pipe(p[:]), "pipe")
		_, err := unix.Write(p[1], []byte("ping"))
		must(err, "write pipe")
		_, err = unix.Splice(p[0], nil, cfd, nil, 4, 0)
		must(err, "splice")
		must(unix.Close(cfd), "close")
		_, err = unix.Splice(sfd, nil, p[1], nil, 4, 0)
		must(err, "splice in")
		readAll(sfd)
		must(unix.Close(sfd), "close")
	case "mmsg":
		// sendmmsg/recvmmsg have no wrapper in x/sys: raw system calls.
		sendmmsg(cfd, "ping")
		recvmmsg(sfd)
		must(unix.Close(cfd), "close")
		readAll(sfd)
		must(unix.Close(sfd), "close")
	case "linger":
		must(unix.SetsockoptLinger(cfd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}), "linger")
		must(unix.Close(cfd), "close")
		readAll(sfd)
		must(unix.Close(sfd), "close")
	default:
		fmt.Fprintf(os.Stderr, "sockops: unknown mode %q\n", mode)
		os.Exit(2)
	}
	must(unix.Close(ls), "close listener")
}

// listener is a listening socket on 127.0.0.1, port chosen by the kernel;
// with fastOpen, the server side of TCP Fast Open is on for it.
func listener(fastOpen bool) (int, *unix.SockaddrInet4) {
	return listenerBacklog(fastOpen, 8)
}

// listenerBacklog is listener with the given listen() backlog.
func listenerBacklog(fastOpen bool, backlog int) (int, *unix.SockaddrInet4) {
	ls, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(err, "socket")
	if fastOpen {
		must(unix.SetsockoptInt(ls, unix.IPPROTO_TCP, unix.TCP_FASTOPEN, 8), "TCP_FASTOPEN")
	}
	must(unix.Bind(ls, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}), "bind")
	must(unix.Listen(ls, backlog), "listen")
	sa, err := unix.Getsockname(ls)
	must(err, "getsockname")
	return ls, sa.(*unix.SockaddrInet4)
}

// fastOpen makes three connections with sendto(fd, "ping", MSG_FASTOPEN,
// addr), the implicit connect of TCP Fast Open: to a listener with Fast
// Open on, first without a cookie (the SYN asks for one, the data follows
// the handshake), then with the cookie it gave (the data rides in the
// SYN and the SYN-ACK acknowledges it); then to a listener without Fast
// Open on the same address, with that cookie (the server takes the SYN
// but not its data, which the client sends again after the handshake).
// It needs net.ipv4.tcp_fastopen=3 (client and server): run it in a
// network namespace of its own with that set, not on a host, and a new
// one each time (a namespace keeps the cookies it was given):
//
//	ip netns add tfo; ip -n tfo link set lo up
//	ip netns exec tfo sysctl -w net.ipv4.tcp_fastopen=3
//	ip netns exec tfo socktrace run -- sockops fastopen
//
// Then a sendmsg with MSG_FASTOPEN to a closed port, refused. It checks
// with TCP_INFO that the kernel did as said, and fails when not.
func fastOpen() {
	tfo, tfoAddr := listener(true)
	plain, plainAddr := listener(false)
	for i, c := range []struct {
		ls      int
		addr    *unix.SockaddrInet4
		synData bool // the server acknowledged data in the SYN
	}{{tfo, tfoAddr, false}, {tfo, tfoAddr, true}, {plain, plainAddr, false}} {
		cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		must(err, "client socket")
		must(unix.Sendto(cfd, []byte("ping"), unix.MSG_FASTOPEN, c.addr), "sendto MSG_FASTOPEN")
		info, err := unix.GetsockoptTCPInfo(cfd, unix.IPPROTO_TCP, unix.TCP_INFO)
		must(err, "TCP_INFO")
		// TCPI_OPT_SYN_DATA: the SYN-ACK acknowledged data sent in the SYN.
		if got := info.Options&tcpiOptSynData != 0; got != c.synData {
			fmt.Fprintf(os.Stderr, "sockops: connection %d: data acknowledged in the SYN-ACK: %v, want %v (is net.ipv4.tcp_fastopen 3?)\n", i+1, got, c.synData)
			os.Exit(1)
		}
		sfd, _, err := unix.Accept4(c.ls, 0)
		must(err, "accept4")
		buf := make([]byte, 4)
		for n := 0; n < len(buf); {
			k, err := unix.Read(sfd, buf[n:])
			must(err, "read")
			if k == 0 {
				fmt.Fprintln(os.Stderr, "sockops: end of data before 4 bytes")
				os.Exit(1)
			}
			n += k
		}
		must(unix.Close(cfd), "close")
		readAll(sfd)
		must(unix.Close(sfd), "close")
	}
	must(unix.Close(tfo), "close listener")
	must(unix.Close(plain), "close listener")

	// Last, sendmsg with MSG_FASTOPEN to a port bound but not listening:
	// refused, so the socket never has a peer, and the address is only
	// in the msghdr.
	closed, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(err, "socket")
	must(unix.Bind(closed, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}), "bind")
	sa, err := unix.Getsockname(closed)
	must(err, "getsockname")
	cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(err, "client socket")
	if _, err := unix.SendmsgN(cfd, []byte("ping"), nil, sa, unix.MSG_FASTOPEN); err != unix.ECONNREFUSED {
		fmt.Fprintf(os.Stderr, "sockops: sendmsg MSG_FASTOPEN to a closed port: %v, want ECONNREFUSED\n", err)
		os.Exit(1)
	}
	must(unix.Close(cfd), "close")
	must(unix.Close(closed), "close")
}

// fastOpenInFlight: a Fast Open send on a non-blocking socket that holds
// the server's cookie returns the bytes it put in the SYN while the
// handshake is still on (SYN_SENT), unlike a connect(), which says
// EINPROGRESS. Here the handshake never ends: the listener's accept queue
// is full (backlog 0 and a connection not accepted), so it drops every
// SYN; the program closes the socket (SO_LINGER 0) in SYN_SENT. Then a
// non-blocking connect() on a new socket, whose struct sock the kernel
// most likely takes from the one just freed (the thread stays on one
// CPU), also closed in SYN_SENT. Three rounds. Needs
// net.ipv4.tcp_fastopen=3, as fastopen does.
func fastOpenInFlight() {
	var cpus unix.CPUSet
	must(unix.SchedGetaffinity(0, &cpus), "sched_getaffinity")
	for i := 0; i < 1024; i++ {
		if cpus.IsSet(i) {
			cpus.Zero()
			cpus.Set(i)
			break
		}
	}
	must(unix.SchedSetaffinity(0, &cpus), "sched_setaffinity")
	ls, addr := listenerBacklog(true, 0)
	// The cookie, from a first connection, accepted.
	cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(err, "client socket")
	must(unix.Sendto(cfd, []byte("ping"), unix.MSG_FASTOPEN, addr), "sendto MSG_FASTOPEN")
	sfd, _, err := unix.Accept4(ls, 0)
	must(err, "accept4")
	must(unix.Close(cfd), "close")
	must(unix.Close(sfd), "close")
	// A connection left in the accept queue fills it.
	q, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(err, "socket")
	must(unix.Connect(q, addr), "connect")
	abort := func(fd int, want string) {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		must(err, "TCP_INFO")
		if info.State != tcpSynSent {
			fmt.Fprintf(os.Stderr, "sockops: %s: state %d, want SYN_SENT\n", want, info.State)
			os.Exit(1)
		}
		must(unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}), "linger")
		must(unix.Close(fd), "close")
	}
	for range 3 {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		must(err, "socket")
		n, err := unix.SendmsgN(c, []byte("ping"), nil, addr, unix.MSG_FASTOPEN)
		if err != nil || n != 4 {
			fmt.Fprintf(os.Stderr, "sockops: non-blocking sendmsg MSG_FASTOPEN with a cookie: %d, %v; want 4 (is net.ipv4.tcp_fastopen 3?)\n", n, err)
			os.Exit(1)
		}
		abort(c, "Fast Open send")
		d, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		must(err, "socket")
		if err := unix.Connect(d, addr); err != unix.EINPROGRESS {
			fmt.Fprintf(os.Stderr, "sockops: non-blocking connect: %v, want EINPROGRESS\n", err)
			os.Exit(1)
		}
		abort(d, "connect")
	}
	must(unix.Close(q), "close")
	must(unix.Close(ls), "close listener")
}

// tcpSynSent is TCP_SYN_SENT (include/net/tcp_states.h), as TCP_INFO's
// tcpi_state gives it.
const tcpSynSent = 2

// tcpiOptSynData is TCPI_OPT_SYN_DATA (linux/tcp.h), which x/sys/unix lacks.
const tcpiOptSynData = 32
