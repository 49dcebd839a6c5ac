#!/usr/bin/env bash
# make-veth-captures.sh records the testdata/veth-*.pcap files: real
# connections between two network namespaces joined by a veth pair, where
# nftables drops chosen segments so that the kernels themselves retransmit,
# cross and give up. testdata/README.md says what each file shows and how
# it compares with tshark.
#
# Needs root (namespaces, nftables, capture), ip, nft, tcpdump, python3.
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
na=socktrace-veth-a nb=socktrace-veth-b
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
for cmd in ip nft tcpdump python3; do
	command -v "$cmd" >/dev/null || { echo "make-veth-captures.sh: $cmd is not installed" >&2; exit 1; }
done

# The two ends of each scenario, with real sockets. Each mode prints
# nothing; the server touches READY once it listens.
cat >"$work/ends.py" <<'EOF'
import socket, sys, time

mode = sys.argv[1]


def listener(host, port, ready):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(4)
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

# start_capture FILE FILTER: tcpdump on va in namespace a (snap length
# 128: headers and the short payloads), started before anything is sent.
start_capture() {
	local file=$1 filter=$2
	rm -f "$out/$file"
	ip netns exec "$na" tcpdump -Z root --immediate-mode -i va -s 128 -w "$out/$file" "$filter" 2>"$work/cap.log" &
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

all=(simopen keepalive_dead fin_lost)
if [[ $# -eq 0 ]]; then
	set -- "${all[@]}"
fi
for name in "$@"; do
	"make_${name//-/_}"
done
