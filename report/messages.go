package report

// Every sentence the reports print lives in a catalog, one per language,
// keyed by message ID, so that a translation is one map and a test can
// check that no language lacks a message another has. Messages are
// fmt.Sprintf formats; their verbs and argument order must agree across
// languages.

// Lang is an output language.
type Lang string

// The languages socktrace speaks.
const (
	English Lang = "en"
	Korean  Lang = "ko"
)

type msgID string

var catalogs = map[Lang]map[msgID]string{
	English: english,
	Korean:  korean,
}

// msg returns the format for id in lang, falling back to English.
func msg(lang Lang, id msgID) string {
	if s, ok := catalogs[lang][id]; ok {
		return s
	}
	return english[id]
}

var english = map[msgID]string{
	// Header and preface.
	"conn.header":            "Connection %d: %s → %s",
	"conn.ended":             "#%d ended:",
	"conn.scenario":          "demo scenario %s (socktrace scenarios lists them)",
	"loose.header":           "Calls on no connection (listening sockets, sockets that never connected)",
	"conn.client":            "client %s",
	"conn.server":            "server %s",
	"conn.roles.guess":       "(the capture began midstream, so which side is the client is a guess from the port numbers)",
	"conn.self":              "one socket connected to its own address and port: it is client and server at once",
	"port.wellknown":         "port %d is a well-known port (0–1023), reserved for %s",
	"port.wellknown.ns":      "port %d is a well-known port (0–1023): only a privileged process may bind it",
	"port.registered":        "port %d is a registered port (1024–49151)%s",
	"port.service":           ", commonly %s",
	"port.ephemeral":         "port %d is in the ephemeral range (%d–%d): the kernel picked it for the client when it called connect() without bind()",
	"port.ephemeral.default": "port %d is in Linux's default ephemeral range (%d–%d; the capturing host's own range is not known): likely picked by the kernel for the client when it called connect() without bind()",
	"port.dynamic":           "port %d is in the dynamic range (49152–65535)",
	"preface.ports":          "A port (0–65535) tells which process on a host gets the data. Well-known ports (0–1023) belong to standard services (80 HTTP, 443 HTTPS, 25 SMTP), registered ports (1024–49151) to known applications, and the kernel hands clients short-lived ephemeral ports (here %d–%d).",
	"preface.ports.default":  "A port (0–65535) tells which process on a host gets the data. Well-known ports (0–1023) belong to standard services (80 HTTP, 443 HTTPS, 25 SMTP), registered ports (1024–49151) to known applications, and the kernel hands clients short-lived ephemeral ports (Linux's default range is %d–%d; the range of the host that made this capture is not known).",
	"preface.socket":         "A socket is the endpoint of that communication: it is opened with an IP address, a port and a protocol (TCP here). Those three define it but do not identify it uniquely: every connection accepted on a listening port shares that port, and only the 4-tuple — client IP and port, server IP and port — tells them apart.",
	"preface.flows":          "The client's calls: socket() → connect() → send()/recv() → close(). The server's: socket() → bind() → listen() → accept() → send()/recv() → close(). Below, each segment says which call caused it; calls marked [inferred] were not seen, the segment implies them.",
	"preface.numbers":        "seq and ack are relative, as Wireshark shows them: counted from each side's initial sequence number (ISN), a random number chosen at connect() and listen() time, which is 0 here; tcpdump -S and --format json give the absolute numbers on the wire. A SYN and a FIN each take one sequence number though they carry no data, so the first data byte is 1. ack is the next byte expected.",

	// Column labels.
	"dir.c2s":           "client → server",
	"dir.s2c":           "server → client",
	"dir.self":          "socket → itself ",
	"state.change":      "%s %s → %s",
	"inferred":          " [inferred]",
	"state.nosocket":    "%s (no socket on the port): %s",
	"truncated.options": "(the snap length cut off part of the TCP options)",
	"truncated":         "(cut by the snap length: %d of %d payload bytes captured)",
	"late":              "Arrives after the connection finished: a straggler, such as a retransmission the other side no longer needed.",
	"payload":           "payload %s",
	"more.segments":     "… %d more data and ACK segments without state changes (use --format json to see every one)",
	"more.segments.cut": "… %d more segments with SYN, FIN or RST or a state change, past the limit a connection keeps (use --format json to see every one)",
	"more.calls":        "… %d more socket calls, past the limit a connection keeps (use --format json to see every one)",

	// Why each segment happened.
	"why.syn":                   "connect()%s: the client asks to connect; its kernel sends a SYN with its initial sequence number and connect() blocks until an answer comes.%s",
	"why.syn.self":              "connect()%s: the socket asks to connect to its own port; its kernel sends a SYN.%s",
	"why.synopts":               " Options: %s.",
	"why.synopts.tfo":           "TCP Fast Open with a %d-byte cookie (proof the client reached this server before, so data may ride on the SYN)",
	"why.synopts.tforeq":        "TCP Fast Open cookie request",
	"why.synrtx":                "No answer yet: the client's kernel sends the same SYN again (retransmission %d, %s after the first); connect() is still blocked.",
	"why.simsyn":                "The other side sent a SYN of its own: both called connect() at once (simultaneous open), so each answers the other's SYN.",
	"why.simsyn.self":           "The socket receives its own SYN: to TCP this is a simultaneous open, both ends at once, and it moves to SYN_RECEIVED.",
	"why.synack":                "The server's kernel answers for the listening socket: listen()%s made it take connection requests, and no accept() is needed for the handshake. It acknowledges the SYN and sends its own.%s",
	"why.synack.self":           "The socket answers its own SYN with SYN-ACK; receiving it completes its connect().",
	"why.handshakeack":          "The client's ACK completes the three-way handshake (connect() returned when the SYN-ACK arrived, one round trip). The connection now waits in the listen backlog; accept()%s returns a new socket for this 4-tuple while the listening socket stays on port %d.",
	"why.data":                  "The %s sends %d bytes (send()/write()%s); the other kernel buffers them until recv()/read() takes them.",
	"why.data.halfclose":        "The %s still sends %d bytes after receiving the other side's FIN: the connection is half-closed, one direction is finished, the other still carries data.",
	"why.rtx":                   "The %s sends bytes it sent before: the first copy was not acknowledged in time (retransmission).",
	"why.ooo":                   "The %s sends %d bytes that fill a gap below bytes it sent later: they were overtaken on the way, or their first copy was lost before the capture point (out of order, not a retransmission: the capture has no earlier copy).",
	"why.spurious":              "The %s sends again %d bytes the other side had already acknowledged: a spurious retransmission (a timer fired too early, or the ACK was slow to arrive).",
	"why.rst.ignored":           "The %s's RST has numbers the receiving kernel does not accept (RFC 9293, RFC 5961 §3: outside the receive window, or for a socket in SYN_SENT an ack other than its ISN+1): a forged or stale RST the kernel ignores. The connection goes on.",
	"why.keepalive":             "A keep-alive probe: the %s's kernel sends a segment one byte below its next sequence number, which the other side must answer with an ACK, to learn whether the peer is still there (SO_KEEPALIVE; Linux waits tcp_keepalive_time, 2 hours by default, of silence).",
	"why.note.synseq":           " Its ack=1: the SYN takes one sequence number though it carries no data.",
	"why.note.syndata":          " The SYN carries %d bytes of data (TCP Fast Open: data in the SYN saves a round trip).",
	"why.note.psh":              " PSH: the sender asks the receiver to hand the data to the application now; it marks the end of what one write() gave.",
	"why.note.zerowindow":       " Window 0: the %s's receive buffer is full (its program is not reading), so the other side must stop sending and probe until there is room.",
	"why.note.windowupdate":     " A window update: the %s's program read, its receive buffer has room again, and the other side may send.",
	"why.note.dupack":           " A duplicate ACK: the receiver still expects byte %d while later bytes arrive past a gap; three in a row make the sender retransmit at once (fast retransmit).",
	"why.note.delayedack":       " It comes %s after the segment it acknowledges, more than a round trip: likely a delayed ACK (a receiver waits, up to about 40 ms on Linux and 200 ms on some systems, hoping to send data along with the ACK).",
	"why.note.reordered":        " (Captured out of order: its timestamp is earlier than that of a segment captured before it, as happens when a multi-queue NIC time-stamps on several CPUs.)",
	"why.ack":                   "The %s's kernel acknowledges every byte before %d (an ACK number is the next byte expected).",
	"why.ack.fin":               "The %s's kernel acknowledges the FIN.",
	"why.note.finseq":           " Its ack=%d: a FIN takes one sequence number, as a SYN does.",
	"why.fin":                   "close() or shutdown(SHUT_WR)%s: the %s has nothing more to send, so its kernel sends FIN. The other side's read() will return 0 (end of data); it can still send.",
	"why.fin.second":            "close()%s: the %s, having read the end of data, closes too and its kernel sends its own FIN.",
	"why.fin.both":              "The %s sends its FIN before it has seen the other's: both closed at once (simultaneous close), and both will pass through CLOSING.",
	"why.fin.shutdown":          "shutdown(%s): the %s will send nothing more, so its kernel sends FIN; the socket stays open for reading. The other side's read() will return 0 (end of data); it can still send.",
	"why.fin.shutdown.inferred": "shutdown(SHUT_WR) [inferred]: the %s sends FIN yet later acknowledges data that arrives after it. A closed socket would answer that data with RST, so this side only shut down its sending.",
	"why.fin.close":             "close(): the %s closed its socket, so its kernel sends FIN. The other side's read() will return 0 (end of data); it can still send.",
	"why.rst.linger":            "close()%s with SO_LINGER 0 (set above) aborts the connection: the %s's kernel sends RST instead of FIN. Data in flight is discarded, and neither side enters TIME_WAIT.",
	"why.rst.unread":            "close()%s reset the connection: the %s closed with %d of the %d bytes it received still unread, so its kernel sends RST instead of FIN to say the data was lost. Neither side enters TIME_WAIT.",
	"why.rst.unread.some":       "close()%s reset the connection: no SO_LINGER 0 was seen, so the %s closed with data still unread (it received %d bytes): its kernel sends RST instead of FIN to say the data was lost. Neither side enters TIME_WAIT.",
	"why.rst":                   "close()%s reset the connection: the %s's kernel sent RST instead of FIN — SO_LINGER with a zero timeout, or close() with unread data in the receive buffer. Data in flight is discarded, and neither side enters TIME_WAIT.",
	"why.rst.refused":           "Nothing listens on port %d: the server's kernel answers the SYN with RST, and connect() fails with ECONNREFUSED (connection refused).",
	"why.timewait":              " The %s, which sent the first FIN (the active close), now waits in TIME_WAIT (2×MSL, 60 s on Linux) so that late segments of this connection cannot be taken for a new one on the same 4-tuple.",
	"why.closed":                " The %s's socket is now fully closed.",

	// Socket calls, seen by socktrace (the demo, a traced program).
	"call.enter":              "%s %s",
	"call.exit":               "%s returns %s after %s",
	"call.instant":            "%s → %s (%s)",
	"call.socket":             "socket() creates an endpoint that has no address yet; the kernel returns it as descriptor %d.",
	"call.setsockopt":         "setsockopt(%s) sets an option on the socket before it is used.",
	"call.setsockopt.linger0": "setsockopt(SO_LINGER 0): lingering on with a zero timeout. This socket's close() will not send FIN but RST, discarding unsent data, and the socket skips TIME_WAIT.",
	"call.bind.any":           "bind() to %s: port 0 asks the kernel to choose; it chose port %d.",
	"call.bind.inuse":         "bind() fails with EADDRINUSE: another socket already holds %s (SO_REUSEADDR on both would allow it only if none of them listens).",
	"call.bind.acces":         "bind() fails with EACCES: port %d is below 1024, and only a privileged process (CAP_NET_BIND_SERVICE) may bind it.",
	"call.fail":               "%s() fails with %s.",
	"call.failed":             "%s fails: %s, %s after it was called",
	"call.connect.refused":    "The non-blocking connect() has failed: a RST answered its SYN, so the program reads ECONNREFUSED with getsockopt(SO_ERROR) or from its next call. (socktrace takes the errno from that RST: reading it from the socket would take it from the program.)",
	"call.connect.timedout":   "The non-blocking connect() has failed: neither the SYN nor its retransmissions were answered, so the program reads ETIMEDOUT with getsockopt(SO_ERROR).",
	"call.connect.failed":     "The non-blocking connect() has failed; the program reads why with getsockopt(SO_ERROR).",
	"call.close.failed":       "close() releases the descriptor of a socket whose connect() failed: there is no connection, so nothing is sent.",
	"call.close.afterrst":     "close() releases the descriptor; the %s's RST had already ended the connection, so nothing is sent.",
	"call.close.linger0":      "close() with SO_LINGER 0: the kernel aborts the connection with RST instead of FIN and discards unsent data.",
	"call.close.afterfin":     "close() releases the descriptor; this side's FIN went out already (shutdown), so close() sends nothing new unless data arrives.",
	"call.bind":               "bind() ties the socket to %s: an IP address, a port and the protocol now define it.",
	"call.listen":             "listen() makes the socket passive: from now on the kernel answers SYNs for port %d itself and queues each finished handshake (the backlog) until accept() takes it.",
	"call.accept.wait":        "accept() waits for a connection from the backlog.",
	"call.accept":             "accept() returns descriptor %d, a new socket for %s ↔ %s; the listening socket stays on port %d. Many accepted sockets share that port; the 4-tuple tells them apart.",
	"call.accept.late":        "accept() returns descriptor %d, but the kernel had finished this handshake %s earlier: accept() only took it from the queue.",
	"call.connect":            "connect() to %s: the kernel gives the socket an ephemeral port if it has none and sends SYN; the call blocks until the handshake is answered.",
	"call.connect.ok":         "connect() returns 0: the SYN-ACK arrived, one round trip after the SYN.",
	"call.connect.inprogress": "The socket is non-blocking: connect() returns EINPROGRESS at once, the kernel sends the SYN and finishes the handshake in the background while the program waits in poll/epoll.",
	"call.connect.completed":  "The handshake has finished: the non-blocking connect() is complete and the socket is writable.",
	"call.completed":          "%s completes, %s after it was called",
	"call.connect.fail":       "connect() fails with %s.",
	"call.write":              "write() copies %d bytes into the kernel's send buffer and returns; TCP sends them on its own.",
	"call.read":               "read() returns %d bytes that had arrived in the receive buffer.",
	"call.read.eof":           "read() returns 0: end of data, the other side sent FIN.",
	"call.read.fail":          "read() fails with %s.",
	"call.shutdown":           "shutdown(%s): this side will send no more; the kernel sends FIN, but the socket can still read.",
	"call.close":              "close() releases the descriptor; the kernel ends the connection: FIN if all received data was read, RST otherwise or with SO_LINGER 0.",
	"call.close.listener":     "close() of the listening socket: no new connections on this port; connections already accepted go on.",
	"loose.clock":             "(times from the start of connection %d, on its clock)",
	"loose.on":                "on %s",
	"loose.scenario":          "scenario %s",
	"call.close.unbound":      "close() of a socket that never got an address: there is nothing to free.",
	"call.close.bound":        "close() of a socket that was bound but never listened or connected: port %d is free again.",

	// Connection summary.
	"sum.handshake.three-way":         "three-way handshake",
	"sum.handshake.simultaneous-open": "simultaneous open",
	"sum.handshake.refused":           "connection refused",
	"sum.handshake.unanswered":        "SYN never answered",
	"sum.handshake.midstream":         "seen midstream (the handshake happened before the capture)",
	"sum.close.graceful":              "graceful close (FIN both ways)",
	"sum.close.reset":                 "reset by the %s (RST)",
	"sum.close.half-closed":           "half-closed: only the %s sent FIN",
	"sum.close.open":                  "still open when the capture ended",
	"sum.close.none":                  "never established",
	"sum.firstfin":                    "the %s sent the first FIN",
	"sum.firstfin.close":              "the %s closed first",
	"sum.firstfin.shutdown":           "the %s shut down its sending first (shutdown(%s))",
	"sum.firstfin.both":               "both sides closed at once (simultaneous close)",
	"sum.timewait":                    "%s in TIME_WAIT",
	"sum.halfclose":                   "data sent after a FIN (half-close)",
	"sum.synrtx":                      "%d SYN retransmission(s)",
	"sum.midstream":                   "the capture began after the connection opened: states are inferred from what it shows",
	"sum.onedirection":                "the capture holds only one direction: the %s's segments are missing, its side is inferred from the other's ACKs",
	"sum.synackmissed":                "the SYN-ACK is not in the capture, but the client's ACK proves it arrived",
	"sum.rstignored":                  "%d RST(s) ignored: outside what the receiver accepts (forged or stale)",
	"sum.reordered":                   "some timestamps are out of order (capture reordering)",
	"sum.irtt":                        "initial RTT %s",
	"sum.bytes":                       "%d bytes client→server, %d bytes server→client, %d packets",
	"sum.zeek":                        "Zeek conn_state %s, history %s",
	"sum.states":                      "%s states: %s",
	"sum.kernel.states":               "%s states as the kernel reported them (eBPF): %s",
	"sum.kernel.agree":                "the kernel's states agree with the ones inferred from the packets",
	"sum.kernel.differ":               "the kernel's states differ from the ones inferred from the packets",
	"sum.kernel.note.timewait":        "Linux hands a connection entering TIME_WAIT to a small timewait socket: the kernel reports the full socket's CLOSE where the packets show TIME_WAIT (the 4-tuple stays reserved all the same)",
	"sum.kernel.note.reqsock":         "Linux keeps a half-open connection in a request socket of the listener, not in SYN_RECEIVED: the server's socket appears (SYN_RECV) only when the handshake's last ACK arrives",
	"sum.kernel.counts":               "kernel reports for the %s: %d retransmission(s), %d reset(s) sent, %d reset(s) received, %d socket error(s)",
	"side.client":                     "client",
	"side.server":                     "server",
	"side.both":                       "both sides",
	"side.self":                       "socket",

	// The report's last lines.
	"total.header":            "Summary",
	"total.connections":       "%d connection(s): %s",
	"total.packets":           "%d packets: %d TCP, %d other (not TCP, not shown), %d malformed (skipped)",
	"total.close.reset":       "reset (RST)",
	"total.close.half-closed": "half-closed",
	"total.dropped":           "%d packets dropped by the kernel",
	"total.calls.omitted":     "%d socket call(s) left out of this report: past the limits kept per connection, per socket and on no connection (--format json lists every call)",
	"total.evicted":           "%d connection(s) ended early because the connection table was full",
	"total.error":             "input ended with an error: %s",
	// Lessons of the seed note's claims (lessons.go).
	"call.setsockopt.reuseaddr": "setsockopt(SO_REUSEADDR) lets bind() take a port that a connection in TIME_WAIT still holds (if that connection's socket set it too); it never lets two sockets listen on one port. Servers set it so that they can restart at once.",
	"call.setsockopt.reuseport": "setsockopt(SO_REUSEPORT) lets several sockets bind and listen on the same address and port, if every one of them sets it (and they belong to one user): the kernel then spreads the incoming connections between them by a hash of each 4-tuple.",
	"call.setsockopt.quickack0": "setsockopt(TCP_QUICKACK 0) turns quick ACKs off: the kernel delays the ACK of data it receives (up to about 40 ms on Linux), hoping to send it along with a reply.",
	"call.setsockopt.buffer":    "setsockopt(%s) sets the size of this socket's buffer in the kernel (which doubles it for its own bookkeeping): a small buffer fills quickly.",
	"call.bind.timewait":        "bind() fails with EADDRINUSE although nothing listens on %s any more: the connection that closed first here waits in TIME_WAIT on that port, and the kernel refuses a port any socket still holds, TIME_WAIT included, unless both the new socket and the holder set SO_REUSEADDR. TIME_WAIT keeps the port for 2×MSL (60 s on Linux) so that late segments of the old connection cannot reach a new socket on the same 4-tuple.",
	"call.bind.reuse":           "bind() to %s succeeds although a connection still waits in TIME_WAIT on that port: this socket and the old connection's both set SO_REUSEADDR. Only a listening socket would still be in the way.",
	"call.listen.queues":        " With backlog %d the queues are tiny: the kernel keeps two queues for a listening socket, the SYN queue (handshakes under way) and the accept queue (finished handshakes waiting for accept(), which on Linux holds one more than the backlog). When the accept queue is full, the kernel drops new SYNs; the clients' kernels retransmit them, the first time after 1 s (then every second a few times on Linux 6.5 and later, tcp_syn_linear_timeouts, or after doubling waits on older kernels), while their connect() stays blocked.",
	"call.write.blocked":        "write() returns %d after blocking %s: the send buffer was full, because the peer's receive buffer was full too: its window had closed (down to a zero window) until its program read. write() returns once every byte is in the send buffer, not when the peer has acknowledged them.",
	"why.ack.delayed":           " It comes %s after the data: the receiver's kernel delayed it (delayed ACK). The sender's write() had returned long before: send() ends when the data is in the kernel's send buffer, not when the peer's answer comes back.",
}
