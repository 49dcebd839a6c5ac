#!/usr/bin/env bash
# make-veth-captures.sh records the testdata/veth-*.pcap files: real
# connections between two network namespaces joined by a veth pair, where
# nftables drops chosen segments so that the kernels themselves retransmit,
# cross and give up. testdata/README.md says what each file shows and how
# it compares with tshark.
#
# Needs root (namespaces, nftables, capture), ip, nft, tcpdump, python3,
# ethtool.
# CI does not run it: rerunning it changes every file (times, ports,
# ISNs), and the goldens must then be regenerated and checked again.
#
#   sudo testdata/make-veth-captures.sh                 # every file
#   sudo testdata/make-veth-captures.sh simopen         # only some
#   sudo OUT_DIR=/tmp/caps testdata/make-veth-captures.sh
set -euo pipefail

cd "$(dirname "$0")/.."
out=${OUT_DIR:-testdata}
mkdir -p "$out"
work=$(mktemp -d)
# Namespaces of our own: a (10.8.0.1, veth va) and b (10.8.0.2, veth vb).
# NS_PREFIX names them apart when two runs share the machine.
na=${NS_PREFIX:-socktrace-veth}-a nb=${NS_PREFIX:-socktrace-veth}-b
capture_pid=

cleanup() {
	if [[ -n $capture_pid ]]; then
		kill -INT "$capture_pid" 2>/dev/null || true
		wait "$capture_pid" 2>/dev/null || true
	fi
	ip netns del "$na" 2>/dev/null || true
	ip netns del "$nb" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

if [[ $(id -u) -ne 0 ]]; then
	echo "make-veth-captures.sh: run as root (it makes namespaces and captures)" >&2
	exit 1
fi
for cmd in ip nft tcpdump python3 ethtool; do
	command -v "$cmd" >/dev/null || { echo "make-veth-captures.sh: $cmd is not installed" >&2; exit 1; }
done

# The two ends of each scenario, with real sockets. Each mode prints
# nothing; the server touches READY once it listens.
cat >"$work/ends.py" <<'EOF'
import os, socket, sys, time

mode = sys.argv[1]


def listener(host, port, ready):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(int(os.environ.get('BACKLOG', '4')))
    open(ready, 'w').close()
    return s


if mode == 'simopen':
    # Bind LOCAL:LPORT, then connect to REMOTE:RPORT after DELAY s; both
    # ends run this, each naming the other: a simultaneous open.
    local, lport, remote, rport, delay = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind((local, lport))
    time.sleep(delay)
    c.connect((remote, rport))
    c.sendall(b'hello from ' + local.encode() + b'\n')
    c.recv(100)
    time.sleep(0.3 if lport % 2 == 0 else 0.31)
    c.shutdown(socket.SHUT_WR)
    while c.recv(100):
        pass
    c.close()
elif mode == 'hold-server':
    # Answer the request, then say nothing for HOLD s and close.
    host, port, ready, hold = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    s = listener(host, port, ready)
    c, _ = s.accept()
    c.recv(100)
    c.sendall(b'hello back from the server\n')
    time.sleep(hold)
    c.close()
    s.close()
elif mode == 'keepalive-client':
    # Keep-alive after 1 s of silence, a probe a second, 2 unanswered
    # probes and the kernel gives up.
    host, port = sys.argv[2], int(sys.argv[3])
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
    c.connect((host, port))
    c.sendall(b'hello from the client\n')
    c.recv(100)
    try:
        c.recv(100)
    except OSError as e:
        print('keepalive-client: recv:', e, file=sys.stderr)  # ETIMEDOUT
    time.sleep(0.05)
    c.close()
elif mode == 'close-server':
    # Answer, wait WAIT s, shut down, read to EOF, close.
    host, port, ready, wait = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    s = listener(host, port, ready)
    c, _ = s.accept()
    c.recv(100)
    c.sendall(b'hello back from the server\n')
    time.sleep(wait)
    c.shutdown(socket.SHUT_WR)
    while c.recv(100):
        pass
    c.close()
    s.close()
elif mode == 'close-client':
    host, port, wait = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    c = socket.socket()
    c.connect((host, port))
    c.sendall(b'hello from the client\n')
    c.recv(100)
    time.sleep(wait)
    c.shutdown(socket.SHUT_WR)
    while c.recv(100):
        pass
    c.close()
elif mode == 'sink-server':
    # Read to EOF, answer with the count, close.
    host, port, ready = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = listener(host, port, ready)
    c, _ = s.accept()
    n = 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        n += len(b)
    c.sendall(b'got %d bytes\n' % n)
    c.close()
    s.close()
elif mode == 'writes-client':
    # Each WRITE argument is one send() of that many bytes (a leading
    # word names its first bytes, as "LOST:100"), PAUSE s apart; then
    # shut down, read the answer to EOF, close.
    host, port, pause = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    c = socket.socket()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.connect((host, port))
    for w in sys.argv[5:]:
        word, _, n = w.rpartition(':')
        n = int(n)
        c.sendall((word.encode() + b'x' * n)[:n])
        time.sleep(pause)
    c.shutdown(socket.SHUT_WR)
    while c.recv(100):
        pass
    c.close()
elif mode == 'slow-server':
    # Read one request, say nothing for WAIT s, answer, read to EOF,
    # close.
    host, port, ready, wait = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    s = listener(host, port, ready)
    c, _ = s.accept()
    c.recv(100)
    time.sleep(wait)
    c.sendall(b'hello back from the server\n')
    while c.recv(100):
        pass
    c.close()
    s.close()
elif mode == 'slow-reader':
    # A receive buffer of SO_RCVBUF 2048 (the kernel doubles it), set
    # before listen() so that the accepted socket has it from its SYN-ACK
    # on; read nothing for WAIT s, then read to EOF and close.
    host, port, ready, wait = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.bind((host, port))
    s.listen(4)
    open(ready, 'w').close()
    c, _ = s.accept()
    time.sleep(wait)
    while c.recv(65536):
        pass
    c.close()
    s.close()
elif mode == 'bulk-client':
    # Send N bytes in one sendall(), shut down, read to EOF, close.
    host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    c = socket.socket()
    c.connect((host, port))
    c.sendall(b'x' * n)
    c.shutdown(socket.SHUT_WR)
    while c.recv(100):
        pass
    c.close()
elif mode == 'echo-server':
    # Echo what comes until EOF, close.
    host, port, ready = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = listener(host, port, ready)
    c, _ = s.accept()
    while True:
        b = c.recv(100)
        if not b:
            break
        c.sendall(b)
    c.close()
    s.close()
elif mode == 'ticker-client':
    # COUNT writes of 20 bytes, GAP s apart, each echo read; then close.
    host, port, count, gap = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    c = socket.socket()
    c.connect((host, port))
    for i in range(count):
        c.sendall(b'tick %14d\n' % i)
        c.recv(100)
        time.sleep(gap)
    c.close()
elif mode == 'syn-flood':
    # COUNT SYNs from raw sockets, source ports FIRST.., nothing more.
    import struct
    src, dst, port, first, count = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    def csum(b):
        if len(b) % 2:
            b += b'\0'
        s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
        while s >> 16:
            s = (s & 0xffff) + (s >> 16)
        return ~s & 0xffff
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    for i in range(count):
        sport = first + i
        # MSS 1460 only: no timestamps, so the cookie cannot carry options.
        hdr = struct.pack('!HHIIBBHHH', sport, port, 1000000 * (i + 1), 0, 6 << 4, 0x02, 64240, 0, 0) + struct.pack('!BBH', 2, 4, 1460)
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(hdr))
        hdr = hdr[:16] + struct.pack('!H', csum(pseudo + hdr)) + hdr[18:]
        r.sendto(hdr, (dst, 0))
        time.sleep(0.01)
elif mode == 'mptcp-server':
    host, port, ready = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_MPTCP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(4)
    open(ready, 'w').close()
    c, _ = s.accept()
    while True:
        b = c.recv(100)
        if not b:
            break
        c.sendall(b)
    c.close()
    s.close()
elif mode == 'mptcp-client':
    # Connect over MPTCP, wait for the second subflow, 2 exchanges, close.
    host, port, wait = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_MPTCP)
    c.connect((host, port))
    for i in range(2):
        c.sendall(b'hello from the client\n')
        c.recv(100)
        time.sleep(wait)
    c.shutdown(socket.SHUT_WR)
    while c.recv(100):
        pass
    c.close()
else:
    sys.exit('ends.py: unknown mode ' + mode)
EOF

setup() {
	ip netns del "$na" 2>/dev/null || true
	ip netns del "$nb" 2>/dev/null || true
	ip netns add "$na"
	ip netns add "$nb"
	ip link add va netns "$na" type veth peer name vb netns "$nb"
	ip -n "$na" addr add 10.8.0.1/24 dev va
	ip -n "$nb" addr add 10.8.0.2/24 dev vb
	for n in "$na" "$nb"; do ip -n "$n" link set lo up; done
	ip -n "$na" link set va up
	ip -n "$nb" link set vb up
}

# start_capture FILE FILTER [NETNS IFACE]: tcpdump on va in namespace a
# (or IFACE in NETNS; snap length 128: headers and the short payloads),
# started before anything is sent.
start_capture() {
	local file=$1 filter=$2 ns=${3:-$na} dev=${4:-va}
	rm -f "$out/$file"
	ip netns exec "$ns" tcpdump -Z root --immediate-mode -i "$dev" -s 128 -w "$out/$file" "$filter" 2>"$work/cap.log" &
	capture_pid=$!
	for _ in $(seq 100); do
		grep -qs "listening on" "$work/cap.log" && return 0
		sleep 0.05
	done
	echo "make-veth-captures.sh: capture not ready" >&2
	exit 1
}

# stop_capture: a TPACKET_V3 block is handed over when full or after its
# 1 s timeout; wait it out, then stop as a user does.
stop_capture() {
	sleep 1.2
	kill -INT "$capture_pid"
	wait "$capture_pid" || true
	capture_pid=
	echo "$1: $(tcpdump -r "$out/$1" 2>/dev/null | wc -l) packets; $(grep dropped "$work/cap.log")"
}

wait_ready() {
	for _ in $(seq 200); do
		[[ -e $1 ]] && return 0
		sleep 0.02
	done
	echo "make-veth-captures.sh: $1 never appeared" >&2
	exit 1
}

# simopen: a (port 6001) connects to b's port 6002; b's nftables drops
# that first SYN on input, after the capture on va saw it. 0.2 s later b
# connects from port 6002 to a's port 6001: a, still in SYN_SENT, takes
# b's SYN (SYN_RECEIVED) and answers with a SYN-ACK that repeats its ISN;
# b, in SYN_SENT, is established by it and ACKs. No socket listens.
make_simopen() {
	local file=veth-simopen.pcap
	setup
	ip netns exec "$nb" nft -f - <<-EOF
		table inet socktrace {
			chain input {
				type filter hook input priority 0; policy accept;
				tcp dport 6002 tcp flags & (syn | ack) == syn quota until 100 bytes counter drop
			}
		}
	EOF
	start_capture "$file" "tcp port 6001"
	ip netns exec "$na" python3 "$work/ends.py" simopen 10.8.0.1 6001 10.8.0.2 6002 0 &
	local a=$!
	sleep 0.2
	ip netns exec "$nb" python3 "$work/ends.py" simopen 10.8.0.2 6002 10.8.0.1 6001 0
	wait "$a"
	stop_capture "$file"
}

# keepalive-dead: the client sets keep-alive (1 s idle, 1 s apart, 2
# probes). 0.5 s after the exchange, b's nftables drops everything the
# server sends (output: the capture on a never sees it), so the probes go
# unanswered and the client's kernel resets the connection; its blocked
# recv() fails with ETIMEDOUT, and the close() after sends nothing.
make_keepalive_dead() {
	local file=veth-keepalive-dead.pcap ready=$work/ready.keepalive
	setup
	ip netns exec "$nb" python3 "$work/ends.py" hold-server 10.8.0.2 5003 "$ready" 6 &
	local s=$!
	wait_ready "$ready"
	start_capture "$file" "tcp port 5003"
	(
		sleep 0.5
		ip netns exec "$nb" nft -f - <<-EOF
			table inet socktrace {
				chain output {
					type filter hook output priority 0; policy accept;
					tcp sport 5003 counter drop
				}
			}
		EOF
	) &
	ip netns exec "$na" python3 "$work/ends.py" keepalive-client 10.8.0.2 5003
	wait "$s"
	stop_capture "$file"
}

# fin-lost: the client shuts down first; b's nftables drops that FIN on
# input (the capture on a saw it leave). 50 ms later the server shuts down
# too, not knowing: its FIN acknowledges no FIN. The client, in
# FIN_WAIT_1, takes it (CLOSING) and ACKs; the server's FIN is acknowledged
# (FIN_WAIT_2); the client's FIN goes again at its retransmission timeout,
# and the server, in FIN_WAIT_2, ends in TIME_WAIT. Both end there.
make_fin_lost() {
	local file=veth-fin-lost.pcap ready=$work/ready.finlost
	setup
	ip netns exec "$nb" nft -f - <<-EOF
		table inet socktrace {
			chain input {
				type filter hook input priority 0; policy accept;
				tcp dport 5005 tcp flags & fin == fin quota until 60 bytes counter drop
			}
		}
	EOF
	ip netns exec "$nb" python3 "$work/ends.py" close-server 10.8.0.2 5005 "$ready" 0.1 &
	local s=$!
	wait_ready "$ready"
	start_capture "$file" "tcp port 5005"
	ip netns exec "$na" python3 "$work/ends.py" close-client 10.8.0.2 5005 0.05
	wait "$s"
	stop_capture "$file"
}

# tso: one send() of 300000 bytes with the veth's TSO/GSO on (its
# default): the capture at the sender sees the kernel's super-segments
# (up to 45 × 1448 bytes, PSH on many) before they are cut to MSS-sized
# ones; the server reads to EOF and answers with the count.
make_tso() {
	local file=veth-tso.pcap ready=$work/ready.tso
	setup
	ip netns exec "$na" ethtool -k va | grep -E '^(tcp-segmentation-offload|generic-segmentation-offload):'
	ip netns exec "$nb" python3 "$work/ends.py" sink-server 10.8.0.2 5006 "$ready" &
	local s=$!
	wait_ready "$ready"
	start_capture "$file" "tcp port 5006"
	ip netns exec "$na" python3 "$work/ends.py" writes-client 10.8.0.2 5006 0 :300000
	wait "$s"
	stop_capture "$file"
}

# gro: the same send() with TSO and GSO off on va (the sending kernel
# cuts MSS-sized segments itself) and GRO on at vb, captured at the
# receiver (vb, namespace b): GRO merges what arrives back into
# super-segments before the capture sees them.
make_gro() {
	local file=veth-gro.pcap ready=$work/ready.gro
	setup
	ip netns exec "$na" ethtool -K va tso off gso off
	ip netns exec "$nb" ethtool -K vb gro on
	ip netns exec "$nb" python3 "$work/ends.py" sink-server 10.8.0.2 5009 "$ready" &
	local s=$!
	wait_ready "$ready"
	start_capture "$file" "tcp port 5009" "$nb" vb
	ip netns exec "$na" python3 "$work/ends.py" writes-client 10.8.0.2 5009 0 :300000
	wait "$s"
	stop_capture "$file"
}

# capture-gap: three send()s 50 ms apart; the capture's filter leaves out
# the segment whose payload begins "LOST" (as a capture that drops
# packets would), though it went over the wire and the server ACKs it.
make_capture_gap() {
	local file=veth-capture-gap.pcap ready=$work/ready.gap
	setup
	ip netns exec "$nb" python3 "$work/ends.py" sink-server 10.8.0.2 5007 "$ready" &
	local s=$!
	wait_ready "$ready"
	# (A segment with less than 4 bytes of payload is kept before its
	# payload is read: a load past the packet's end rejects it.)
	start_capture "$file" "tcp port 5007 and (ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) < 4 or tcp[((tcp[12] & 0xf0) >> 2):4] != 0x4c4f5354)"
	ip netns exec "$na" python3 "$work/ends.py" writes-client 10.8.0.2 5007 0.05 hello:22 LOST:1000 bye:4
	wait "$s"
	stop_capture "$file"
}

# dsack: b's nftables drops the server's first pure ACK (output: the
# capture never sees it), the ACK of the client's request; the client's
# kernel sends the request again (tail loss probe or timeout), the server
# already has it and says so with a D-SACK block in its next ACK.
make_dsack() {
	local file=veth-dsack.pcap ready=$work/ready.dsack
	setup
	ip netns exec "$nb" nft -f - <<-EOF
		table inet socktrace {
			chain output {
				type filter hook output priority 0; policy accept;
				tcp sport 5008 tcp flags & (syn | ack | fin | rst | psh) == ack quota until 60 bytes counter drop
			}
		}
	EOF
	ip netns exec "$nb" python3 "$work/ends.py" slow-server 10.8.0.2 5008 "$ready" 0.6 &
	local s=$!
	wait_ready "$ready"
	start_capture "$file" "tcp port 5008"
	ip netns exec "$na" python3 "$work/ends.py" writes-client 10.8.0.2 5008 0.3 hello:22
	wait "$s"
	stop_capture "$file"
}

# sack-loss: three send()s of 1000 bytes 10 ms apart; b's nftables drops
# the second (its payload begins "DROP") on input, after the capture on a
# saw it leave: a real loss. The server's ACK of the third carries a SACK
# block, and the client sends the second again.
make_sack_loss() {
	local file=veth-sack-loss.pcap ready=$work/ready.sack
	setup
	ip netns exec "$nb" nft -f - <<-EOF
		table inet socktrace {
			chain input {
				type filter hook input priority 0; policy accept;
				tcp dport 5010 @ih,0,32 0x44524f50 quota until 1100 bytes counter drop
			}
		}
	EOF
	ip netns exec "$nb" python3 "$work/ends.py" sink-server 10.8.0.2 5010 "$ready" &
	local s=$!
	wait_ready "$ready"
	start_capture "$file" "tcp port 5010"
	ip netns exec "$na" python3 "$work/ends.py" writes-client 10.8.0.2 5010 0.01 one:1000 DROP:1000 three:1000
	wait "$s"
	stop_capture "$file"
}

# no_offload: segments as they go on a wire, not TSO/GSO super-segments
# (veth offloads by default) nor GRO merges before nftables counts them.
no_offload() {
	ip netns exec "$na" ethtool -K va tso off gso off gro off >/dev/null
	ip netns exec "$nb" ethtool -K vb tso off gso off gro off >/dev/null
}

# zero-window: the server's accepted socket has SO_RCVBUF 2048 and reads
# nothing for 1.5 s; the client sends 12000 bytes at once. The window
# closes, the client's kernel probes it (persist timer) and sends the
# rest once the reader drains the buffer and the window opens again.
make_zero_window() {
	local file=veth-zero-window.pcap ready=$work/ready.zw
	setup
	no_offload
	ip netns exec "$nb" python3 "$work/ends.py" slow-reader 10.8.0.2 5011 "$ready" 1.5 &
	local s=$!
	wait_ready "$ready"
	start_capture "$file" "tcp port 5011"
	ip netns exec "$na" python3 "$work/ends.py" bulk-client 10.8.0.2 5011 12000
	wait "$s"
	stop_capture "$file"
}

# syn-cookie: a flood of 4 SYNs (raw socket in a, source ports 7001-7004,
# no options but MSS) at a listener of backlog 1; a's nftables drops their
# SYN-ACKs on input (after the capture), so a's kernel does not reset them
# and they stay half-open. tcp_syncookies=1 (Linux's default): the first
# two get request sockets (SYN-ACKs retransmitted at 1 s), then the queue
# is full and the kernel answers with SYN cookies and keeps nothing. A
# real client then connects: its SYN-ACK is a cookie, its ACK makes the
# socket, and the exchange and close are as usual.
make_syn_cookie() {
	local file=veth-syn-cookie.pcap ready=$work/ready.sc
	setup
	ip netns exec "$nb" sysctl -qw net.ipv4.tcp_syncookies=1
	ip netns exec "$na" nft -f - <<-EOF
		table inet socktrace {
			chain input {
				type filter hook input priority 0; policy accept;
				tcp sport 5013 tcp dport 7001-7004 counter drop
			}
		}
	EOF
	BACKLOG=1 ip netns exec "$nb" python3 "$work/ends.py" close-server 10.8.0.2 5013 "$ready" 0.05 &
	local s=$!
	wait_ready "$ready"
	start_capture "$file" "tcp port 5013"
	ip netns exec "$na" python3 "$work/ends.py" syn-flood 10.8.0.1 10.8.0.2 5013 7001 4
	ip netns exec "$na" python3 "$work/ends.py" close-client 10.8.0.2 5013 0.05
	wait "$s"
	stop_capture "$file"
	ip netns exec "$nb" nstat -az TcpExtSyncookiesSent TcpExtSyncookiesRecv TcpExtListenOverflows | tail -n +2
}

# ecn: net.ipv4.tcp_ecn=1 on both sides (ECN asked for and accepted). a's
# nftables marks the client's second data segment CE on output (before
# the capture), as a congested router would; the server echoes ECE until
# the client answers with CWR. The client writes 4 × 1000 bytes with
# TCP_NODELAY: the output hook sees a TCP skb before GSO cuts it into
# segments, so one write must be one segment for one mark.
make_ecn() {
	local file=veth-ecn.pcap ready=$work/ready.ecn
	setup
	no_offload
	ip netns exec "$na" sysctl -qw net.ipv4.tcp_ecn=1
	ip netns exec "$nb" sysctl -qw net.ipv4.tcp_ecn=1
	ip netns exec "$na" nft -f - <<-EOF
		table ip socktrace {
			chain output {
				type filter hook output priority 0; policy accept;
				tcp dport 5015 meta length > 500 numgen inc mod 100000 == 1 ip ecn set ce counter
			}
		}
	EOF
	ip netns exec "$nb" python3 "$work/ends.py" sink-server 10.8.0.2 5015 "$ready" &
	local s=$!
	wait_ready "$ready"
	start_capture "$file" "tcp port 5015"
	ip netns exec "$na" python3 "$work/ends.py" writes-client 10.8.0.2 5015 0.005 1000 1000 1000 1000
	wait "$s"
	stop_capture "$file"
}

# midstream: 40 ticks of 20 bytes, 0.1 s apart, each echoed; the capture
# starts 0.5 s after the connection and stops ~1.3 s later, long before
# the close: no handshake, no FIN.
make_midstream() {
	local file=veth-midstream.pcap ready=$work/ready.ms
	setup
	ip netns exec "$nb" python3 "$work/ends.py" echo-server 10.8.0.2 5017 "$ready" &
	local s=$!
	wait_ready "$ready"
	ip netns exec "$na" python3 "$work/ends.py" ticker-client 10.8.0.2 5017 40 0.1 &
	local c=$!
	sleep 0.5
	start_capture "$file" "tcp port 5017"
	sleep 0.1
	stop_capture "$file"
	wait "$c"
	wait "$s"
}

# mptcp: an MPTCP connection (IPPROTO_MPTCP sockets) from 10.8.0.1; a's
# path manager adds a second subflow from 10.8.0.3 (MP_JOIN). Two
# exchanges 0.3 s apart, then a shutdown and close. Each subflow is a
# TCP connection on the wire.
make_mptcp() {
	local file=veth-mptcp.pcap ready=$work/ready.mp
	setup
	ip -n "$na" addr add 10.8.0.3/24 dev va
	for n in "$na" "$nb"; do
		ip netns exec "$n" sysctl -qw net.mptcp.enabled=1
		ip -n "$n" mptcp limits set subflows 2 add_addr_accepted 2
	done
	ip -n "$na" mptcp endpoint add 10.8.0.3 dev va subflow
	ip netns exec "$nb" python3 "$work/ends.py" mptcp-server 10.8.0.2 5019 "$ready" &
	local s=$!
	wait_ready "$ready"
	start_capture "$file" "tcp port 5019"
	ip netns exec "$na" python3 "$work/ends.py" mptcp-client 10.8.0.2 5019 0.3
	wait "$s"
	stop_capture "$file"
}

all=(simopen keepalive_dead fin_lost tso gro capture_gap dsack sack_loss zero_window syn_cookie ecn midstream mptcp)
if [[ $# -eq 0 ]]; then
	set -- "${all[@]}"
fi
for name in "$@"; do
	"make_${name//-/_}"
done
