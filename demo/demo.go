package demo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
)

// Scenario is one built-in client/server conversation.
type Scenario struct {
	// Name is what --scenario takes, e.g. "half-close".
	Name string
	// Summary says in one line what the scenario does and what to watch
	// for on the wire.
	Summary string
	// SummaryKo is Summary in Korean, in the seed note's words.
	SummaryKo string
	// Connections is how many TCP connections the scenario attempts
	// (a refused attempt counts), so that a caller can tell when a
	// capture has seen all of them.
	Connections int
	// Datagrams says the scenario sends UDP (and provokes ICMP), so that
	// a capture must take more than TCP.
	Datagrams bool
	// OneHost says the scenario needs client and server on one host: a
	// self-connect is one socket talking to itself, which cannot be
	// split across a slow link's two namespaces (Options.ClientNS), and
	// whose packets would never cross the link if it ran on one end.
	OneHost bool

	run func(*runner) error
}

// scenarios is in the order Scenarios lists them: the default first, then
// from the simplest variation of it to the most surprising.
var scenarios = []Scenario{
	{
		Name:        "handshake",
		Summary:     "connect, one request and one reply; the client closes first, then the server",
		SummaryKo:   "연결 요청, 요청 하나와 응답 하나; 클라이언트가 먼저 소켓을 닫고, 이어서 서버가 닫습니다",
		Connections: 1,
		run:         runHandshake,
	},
	{
		Name:        "refused",
		Summary:     "connect to a port that is bound but not listening: the kernel answers the SYN with RST (ECONNREFUSED)",
		SummaryKo:   "결합(bind)만 하고 주시(listen)하지 않는 포트로 연결 요청: 커널이 SYN에 RST로 답합니다 (ECONNREFUSED)",
		Connections: 1,
		run:         runRefused,
	},
	{
		Name:        "abort",
		Summary:     "the client sets SO_LINGER 0 and closes: the kernel sends RST instead of FIN",
		SummaryKo:   "클라이언트가 SO_LINGER 0을 설정하고 소켓을 닫습니다: 커널이 FIN 대신 RST를 보냅니다",
		Connections: 1,
		run:         runAbort,
	},
	{
		Name:        "half-close",
		Summary:     "the client shuts down writing (SHUT_WR) after its request; the server still sends its reply, then both close",
		SummaryKo:   "클라이언트가 요청 뒤 쓰기 방향을 닫습니다(SHUT_WR); 서버는 그래도 응답을 보낸 뒤 양쪽이 소켓을 닫습니다",
		Connections: 1,
		run:         runHalfClose,
	},
	{
		Name:        "server-closes-first",
		Summary:     "the server closes first, so the server, not the client, ends in TIME_WAIT",
		SummaryKo:   "서버가 먼저 소켓을 닫으므로, 클라이언트가 아니라 서버가 TIME_WAIT로 끝납니다",
		Connections: 1,
		run:         runServerClosesFirst,
	},
	{
		Name:        "unread-data-close",
		Summary:     "the server closes with the client's request still unread: the kernel sends RST instead of FIN",
		SummaryKo:   "서버가 클라이언트의 요청을 읽지 않은 채 소켓을 닫습니다: 커널이 FIN 대신 RST를 보냅니다",
		Connections: 1,
		run:         runUnreadDataClose,
	},
	{
		Name:        "late-accept",
		Summary:     "the kernel completes the handshake while the server is not in accept(); accept() 200 ms later only dequeues it",
		SummaryKo:   "서버가 accept()에 들어가기 전에 커널이 핸드셰이크를 끝냅니다; 200 ms 뒤의 클라이언트 연결 수립 accept()는 큐에서 꺼내기만 합니다",
		Connections: 1,
		run:         runLateAccept,
	},
	{
		Name:        "self-connect",
		Summary:     "a socket bound to a port connects to that same port: a simultaneous open with itself",
		SummaryKo:   "포트에 결합한 소켓이 바로 그 포트로 연결 요청: 자기 자신과의 동시 열기",
		Connections: 1,
		OneHost:     true,
		run:         runSelfConnect,
	},
	{
		Name:        "port-in-use",
		Summary:     "a second bind() to a listening port fails (EADDRINUSE); after close, TIME_WAIT still holds the port until SO_REUSEADDR",
		SummaryKo:   "주시 중인 포트에 두 번째 결합 bind()는 실패합니다(EADDRINUSE); 소켓을 닫은 뒤에도 TIME_WAIT가 포트를 붙잡아 SO_REUSEADDR가 있어야 결합됩니다",
		Connections: 1,
		run:         runPortInUse,
	},
	{
		Name:        "shared-port",
		Summary:     "one listening socket, three clients: three accepted sockets share its port, told apart by the 4-tuple",
		SummaryKo:   "주시 소켓 하나, 클라이언트 셋: 수립된 소켓 셋이 그 포트를 함께 쓰고 4-튜플로 구별됩니다",
		Connections: 3,
		run:         runSharedPort,
	},
	{
		Name:        "udp",
		Summary:     "UDP: sendto/recvfrom with no handshake, no ACK, no FIN, boundaries kept; a connected UDP socket gets ICMP port unreachable, then ECONNREFUSED",
		SummaryKo:   "UDP: 핸드셰이크도 ACK도 FIN도 없는 sendto/recvfrom, 데이터그램 경계 유지; 연결된 UDP 소켓은 ICMP 포트 도달 불가를 받고 다음 호출이 ECONNREFUSED",
		Connections: 0,
		Datagrams:   true,
		run:         runUDP,
	},
	{
		Name:        "reuseport",
		Summary:     "two listening sockets of one process bind one port with SO_REUSEPORT; the kernel spreads four clients between them",
		SummaryKo:   "한 프로세스의 주시 소켓 둘이 SO_REUSEPORT로 한 포트에 결합합니다; 커널이 클라이언트 넷을 둘에게 나누어 줍니다",
		Connections: reusePortClients,
		run:         runReusePort,
	},
	{
		Name:        "backlog-full",
		Summary:     "listen(fd, 1) and no accept(): two handshakes fill the accept queue, the third client's SYN is dropped and retransmitted",
		SummaryKo:   "listen(fd, 1)에 accept()는 없음: 핸드셰이크 둘이 accept 큐를 채우고, 세 번째 클라이언트의 SYN은 버려져 재전송됩니다",
		Connections: backlogFullClients,
		run:         runBacklogFull,
	},
	{
		Name:        "send-buffer",
		Summary:     "write() returns before the peer's ACK (it only copies into the send buffer), and blocks when that buffer is full",
		SummaryKo:   "write()는 상대의 ACK 전에 반환합니다(송신 버퍼에 복사할 뿐); 그 버퍼가 가득 차면 블록됩니다",
		Connections: 1,
		run:         runSendBuffer,
	},
}

// Scenarios returns every built-in scenario, the default ("handshake")
// first. The slice is a copy; changing it changes nothing here.
func Scenarios() []Scenario {
	return append([]Scenario(nil), scenarios...)
}

// Lookup returns the scenario with the given name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Names returns the scenario names in order, for messages and flag help.
func Names() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.Name
	}
	return names
}

// Options control a run.
type Options struct {
	// IPv6 runs the scenario on ::1 instead of 127.0.0.1.
	IPv6 bool
	// Port is the server's port (for refused, the port nobody listens on;
	// for self-connect, the port the socket binds and connects to). 0 lets
	// the kernel choose a free one, which is what tests should do.
	Port int
	// Calls, if not nil, receives every socket call of the run as it
	// returns. Run calls it from the scenario's goroutines but never
	// concurrently (calls are serialized), so it needs no locking of its
	// own; it should return quickly, because the next call of the
	// scenario waits for it. Events arrive roughly in the order the calls
	// returned: sort by Enter for a timeline. Every call is delivered
	// before Run returns.
	Calls func(calls.Event)
	// ClientNS and ServerNS, when set, name the network namespaces
	// (under /var/run/netns) the client's and the server's threads move
	// into: the two ends of a slow link (internal/slowlink). ServerAddr
	// and ClientAddr are then the two ends' addresses.
	ClientNS, ServerNS     string
	ClientAddr, ServerAddr netip.Addr
}

// runTimeout bounds a whole run. A scenario normally finishes in well under
// a second (a retransmitted SYN adds one); the bound only matters when
// something went wrong, and then every blocked call is woken and the run
// fails instead of hanging. A variable only so that a test can shorten it.
var runTimeout = 10 * time.Second

// Run runs the named scenario to its end on loopback and returns nil when
// every call did what the scenario expects (including the errors it
// provokes, such as ECONNREFUSED for refused).
//
// Cancelling ctx stops the run promptly: every blocked call is woken (by
// shutting its socket down, which may put a FIN or RST on the wire), every
// socket is closed, and Run returns an error that wraps ctx.Err(). Run
// never leaves a socket open or listening, whatever happens.
//
// When Options.Port is set and already taken, Run returns a
// *PortInUseError.
func Run(ctx context.Context, name string, opts Options) error {
	sc, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return fmt.Errorf("port %d is out of range: use 1-65535, or 0 to let the kernel choose", opts.Port)
	}
	if sc.OneHost && (opts.ClientNS != "" || opts.ServerNS != "") {
		return fmt.Errorf("scenario %s runs on one host: it cannot run across a slow link", sc.Name)
	}
	r := newRunner(ctx, sc.Name, opts)
	err := r.run(sc.run)
	var inUse *PortInUseError
	if err == nil || errors.As(err, &inUse) {
		// A PortInUseError already says all there is to say.
		return err
	}
	return fmt.Errorf("scenario %s: %w", sc.Name, err)
}

// PortInUseError says that the port asked for with Options.Port is taken.
// It wraps unix.EADDRINUSE.
type PortInUseError struct {
	Addr netip.AddrPort
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d is already in use on %s; choose another with --port or omit it",
		e.Addr.Port(), e.Addr.Addr())
}

func (e *PortInUseError) Unwrap() error { return unix.EADDRINUSE }
