#!/usr/bin/env bash
# make-captures.sh records testdata/*.pcap* from real sockets on loopback:
# each file is one run of a demo scenario (internal/scenariotool) captured
# by tcpdump, tshark or dumpcap. See testdata/README.md for what each file
# shows.
#
# Needs root (capture, network namespaces, nftables), tcpdump, tshark and
# Go. CI does not run it: the captures are committed, and rerunning it
# changes them (new times, ports, sequence numbers), so the golden outputs
# must be regenerated after it.
#
#   sudo testdata/make-captures.sh            # every file
#   sudo testdata/make-captures.sh abort ipv6 # only these (names below)
#   sudo OUT_DIR=/tmp/caps testdata/make-captures.sh   # elsewhere
set -euo pipefail

cd "$(dirname "$0")/.."
# OUT_DIR writes the files elsewhere, to try the script without touching
# the committed captures.
out=${OUT_DIR:-testdata}
mkdir -p "$out"
work=$(mktemp -d)
tool=$work/scenariotool
# Namespaces of our own, so that the settings the two netns captures need
# (a tiny ephemeral port range, an nftables rule) never touch the host.
ns_reuse=socktrace-port-reuse
ns_syn=socktrace-syn-retransmit
ns_udp=socktrace-udp
ns_icmp=socktrace-syn-icmp
ns_cross=socktrace-crossing
capture_pid=
# The socket calls each scenario made (scenariotool -v), kept outside
# testdata/ so that nothing but captures lands there: set CALLS_DIR to
# keep them.
calls=${CALLS_DIR:-$work}
mkdir -p "$calls"

cleanup() {
	if [[ -n $capture_pid ]]; then
		kill -INT "$capture_pid" 2>/dev/null || true
		wait "$capture_pid" 2>/dev/null || true
	fi
	ip netns del "$ns_reuse" 2>/dev/null || true
	ip netns del "$ns_syn" 2>/dev/null || true
	ip netns del "$ns_udp" 2>/dev/null || true
	ip netns del "$ns_icmp" 2>/dev/null || true
	ip netns del "$ns_cross" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

if [[ $(id -u) -ne 0 ]]; then
	echo "make-captures.sh: run as root (it captures packets and makes network namespaces)" >&2
	exit 1
fi
for cmd in tcpdump tshark nft ip tc go; do
	command -v "$cmd" >/dev/null || { echo "make-captures.sh: $cmd is not installed" >&2; exit 1; }
done

CGO_ENABLED=0 go build -o "$tool" ./internal/scenariotool
CGO_ENABLED=0 go build -o "$work/crossclose" ./internal/crossclose

# start_capture LOGFILE READY-PATTERN CMD...: starts a capture in the
# background and waits until it says it is capturing, so that the first
# SYN of the scenario is not missed.
start_capture() {
	local log=$1 ready=$2
	shift 2
	"$@" 2>"$log" &
	capture_pid=$!
	for _ in $(seq 100); do
		if grep -qs "$ready" "$log"; then
			return 0
		fi
		if ! kill -0 "$capture_pid" 2>/dev/null; then
			echo "make-captures.sh: capture did not start: $*" >&2
			cat "$log" >&2
			exit 1
		fi
		sleep 0.05
	done
	echo "make-captures.sh: capture not ready after 5 s: $*" >&2
	exit 1
}

# stop_capture: lets the last packets reach the capture (a TPACKET_V3 ring
# hands a block over only when it is full or its 1 s timeout expires, and
# packets in a block not handed over are lost on SIGINT), then stops it
# the way a user does (SIGINT), so it writes out everything it has.
stop_capture() {
	sleep 1.2
	kill -INT "$capture_pid"
	wait "$capture_pid" || true
	capture_pid=
}

# The server ports (20001-20014) are fixed, so that a capture filter can
# pick each scenario out, and lie below the ephemeral range (32768-60999 by
# default): a client socket elsewhere on the machine can then never hold
# one (its TIME_WAIT would make bind fail with EADDRINUSE, even with
# SO_REUSEADDR, since the client did not set it).
#
# record FILE PORT [TCPDUMP-OPTION...] -- [SCENARIOTOOL-OPTION...]: runs
# scenariotool with -port PORT under `tcpdump -i lo 'tcp port PORT'`.
# The tool's call log goes to $calls/FILE.calls.
record() {
	local file=$1 port=$2
	shift 2
	local opts=()
	while [[ $1 != -- ]]; do
		opts+=("$1")
		shift
	done
	shift
	rm -f "$out/$file"
	start_capture "$work/$file.log" "listening on" \
		tcpdump -Z root --immediate-mode -i lo "${opts[@]}" -w "$out/$file" "tcp port $port"
	"$tool" -v -port "$port" "$@" 2>"$calls/$file.calls"
	stop_capture
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}

make_handshake() { record handshake.pcap 20001 -- -scenario handshake; }
make_refused() { record refused.pcap 20002 -- -scenario refused; }
make_abort() { record abort.pcap 20003 -- -scenario abort; }
make_half_close() { record half-close.pcap 20004 -- -scenario half-close; }
make_server_closes_first() { record server-closes-first.pcap 20005 -- -scenario server-closes-first; }
make_unread_data_close() { record unread-data-close.pcap 20006 -- -scenario unread-data-close; }
make_late_accept() { record late-accept.pcap 20007 -- -scenario late-accept; }
make_ipv6() { record ipv6.pcap 20008 -- -scenario handshake -ipv6; }
make_self_connect() { record self-connect.pcap 20009 -- -scenario self-connect; }
make_shared_port() { record shared-port.pcap 20014 -- -scenario shared-port; }
make_snaplen64() { record snaplen64.pcap 20010 -s 64 -- -scenario handshake; }
make_handshake_sll2() {
	# -i any captures in LINUX_SLL2 (cooked) form; the filter is the same.
	local file=handshake-sll2.pcap port=20012
	rm -f "$out/$file"
	start_capture "$work/$file.log" "listening on" \
		tcpdump -Z root --immediate-mode -i any -y LINUX_SLL2 -w "$out/$file" "tcp port $port"
	"$tool" -v -port "$port" -scenario handshake 2>"$calls/$file.calls"
	stop_capture
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}
make_handshake_ns() { record handshake-ns.pcap 20013 --time-stamp-precision=nano -- -scenario handshake; }
make_handshake_pcapng() {
	# tcpdump writes only pcap; tshark (through dumpcap) writes pcapng.
	local file=handshake.pcapng port=20011
	rm -f "$out/$file"
	start_capture "$work/$file.log" "Capturing on" \
		tshark -q -i lo -F pcapng -w "$out/$file" -f "tcp port $port"
	"$tool" -v -port "$port" -scenario handshake 2>"$calls/$file.calls"
	stop_capture
	# dumpcap makes its files readable by their owner only.
	chmod 644 "$out/$file"
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}

# make_port_reuse: 300 handshakes against one server port from an
# ephemeral range of only 10 ports, so every client port (and so every
# 4-tuple) is used about 30 times. The client closes first and its end
# waits in TIME_WAIT; with net.ipv4.tcp_tw_reuse=2 (the default: on for
# loopback) connect may take such a port again one second after its last
# segment, and until then it fails with EADDRNOTAVAIL, which scenariotool
# waits out.
make_port_reuse() {
	local file=port-reuse.pcap port=8080
	ip netns del "$ns_reuse" 2>/dev/null || true
	ip netns add "$ns_reuse"
	ip -n "$ns_reuse" link set lo up
	ip netns exec "$ns_reuse" sysctl -q -w net.ipv4.ip_local_port_range="40000 40009"
	ip netns exec "$ns_reuse" sysctl -q -w net.ipv4.tcp_tw_reuse=2
	rm -f "$out/$file"
	start_capture "$work/$file.log" "listening on" \
		ip netns exec "$ns_reuse" tcpdump -Z root --immediate-mode -i lo -w "$out/$file" "tcp port $port"
	ip netns exec "$ns_reuse" "$tool" -port "$port" -scenario handshake -n 300
	stop_capture
	ip netns del "$ns_reuse"
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}

# make_syn_retransmit: an nftables rule in a namespace drops the first
# SYN to the server port on input, after tcpdump has seen it (on lo,
# tcpdump sees a packet between output and input), so the capture has
# the lost SYN and, about 1 s later (the initial RTO), its retransmission.
# "quota until 100 bytes" matches while the rule has counted fewer than
# 100 bytes: the first SYN (60 bytes) matches, the second (120 in all)
# does not.
make_syn_retransmit() {
	local file=syn-retransmit.pcap port=8080
	ip netns del "$ns_syn" 2>/dev/null || true
	ip netns add "$ns_syn"
	ip -n "$ns_syn" link set lo up
	ip netns exec "$ns_syn" nft -f - <<-EOF
		table inet socktrace {
			chain input {
				type filter hook input priority 0; policy accept;
				tcp dport $port tcp flags & (syn | ack) == syn quota until 100 bytes counter drop
			}
		}
	EOF
	rm -f "$out/$file"
	start_capture "$work/$file.log" "listening on" \
		ip netns exec "$ns_syn" tcpdump -Z root --immediate-mode -i lo -w "$out/$file" "tcp port $port"
	ip netns exec "$ns_syn" "$tool" -v -port "$port" -scenario handshake 2>"$calls/$file.calls"
	stop_capture
	echo "nft rule after the run:"
	ip netns exec "$ns_syn" nft list table inet socktrace | grep counter
	ip netns exec "$ns_syn" nft delete table inet socktrace
	ip netns del "$ns_syn"
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}

# make_lessons: the scenarios that teach the seed note's claims (issue
# 15), written by socktrace itself so that the pcapng carries every
# socket call as a packet comment and replays with its calls.
make_lessons() {
	local file=lessons.pcapng port=20031
	CGO_ENABLED=0 go build -o "$work/socktrace" .
	rm -f "$out/$file"
	"$work/socktrace" --iface lo --port "$port" --format json \
		--scenario port-in-use,reuseport,backlog-full,send-buffer -w "$out/$file" >"$calls/$file.json"
	chmod 644 "$out/$file"
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}

# record_udp FILE PORT [SCENARIOTOOL-OPTION...]: the udp scenario in a
# namespace of its own, so that its loopback carries nothing else and
# the filter can take every UDP datagram and ICMP message: the datagram
# to the dead port goes to a port the kernel picked, which no port
# filter could name.
record_udp() {
	local file=$1 port=$2
	shift 2
	ip netns del "$ns_udp" 2>/dev/null || true
	ip netns add "$ns_udp"
	ip -n "$ns_udp" link set lo up
	rm -f "$out/$file"
	start_capture "$work/$file.log" "listening on" \
		ip netns exec "$ns_udp" tcpdump -Z root --immediate-mode -i lo -w "$out/$file" "udp or icmp or icmp6"
	ip netns exec "$ns_udp" "$tool" -v -port "$port" -scenario udp "$@" 2>"$calls/$file.calls"
	stop_capture
	ip netns del "$ns_udp"
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}
make_udp() { record_udp udp.pcap 20041; }
make_udp_ipv6() { record_udp udp-ipv6.pcap 20042 -ipv6; }

# make_syn_icmp: an nftables rule in a namespace answers the client's SYN
# with ICMP admin prohibited (as a firewall that rejects does), so
# connect() fails with EHOSTUNREACH instead of retransmitting the SYN.
make_syn_icmp() {
	local file=syn-icmp.pcap port=20043
	ip netns del "$ns_icmp" 2>/dev/null || true
	ip netns add "$ns_icmp"
	ip -n "$ns_icmp" link set lo up
	ip netns exec "$ns_icmp" nft -f - <<-EOF
		table inet socktrace {
			chain input {
				type filter hook input priority 0; policy accept;
				tcp dport $port tcp flags & (syn | ack) == syn counter reject with icmp type admin-prohibited
			}
		}
	EOF
	rm -f "$out/$file"
	start_capture "$work/$file.log" "listening on" \
		ip netns exec "$ns_icmp" tcpdump -Z root --immediate-mode -i lo -w "$out/$file" "tcp port $port or icmp"
	# The scenario fails (connect: no route to host): that is the point.
	ip netns exec "$ns_icmp" "$tool" -v -port "$port" -scenario handshake 2>"$calls/$file.calls" || true
	stop_capture
	ip netns exec "$ns_icmp" nft list table inet socktrace | grep counter
	ip netns del "$ns_icmp"
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}

# make_udp_pcapng: the udp scenario written by socktrace itself, so that
# the datagrams replay with the calls that sent and received them.
make_udp_pcapng() {
	local file=udp.pcapng port=20044
	CGO_ENABLED=0 go build -o "$work/socktrace" .
	rm -f "$out/$file"
	"$work/socktrace" --iface lo --port "$port" --format json --scenario udp -w "$out/$file" >"$calls/$file.json"
	chmod 644 "$out/$file"
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}

# crossing_ns: a namespace whose loopback queues (a token bucket of 2000
# bytes at 1 mbit/s, MTU 1500), for internal/crossclose: its filler
# datagrams use the bucket up, and the segments it sends right after wait
# in the queue (about 50 ms) until each side has sent what it sends, so
# that they cross. (netem, which would delay them plainly, is not in
# every kernel; tbf is.)
crossing_ns() {
	ip netns del "$ns_cross" 2>/dev/null || true
	ip netns add "$ns_cross"
	ip -n "$ns_cross" link set lo mtu 1500 up
	tc -n "$ns_cross" qdisc add dev lo root tbf rate 1mbit burst 2000 latency 1s
}

# record_crossing FILE PORT CASE: crossclose -case CASE under tcpdump in
# the crossing namespace.
record_crossing() {
	local file=$1 port=$2 case=$3
	crossing_ns
	rm -f "$out/$file"
	start_capture "$work/$file.log" "listening on" \
		ip netns exec "$ns_cross" tcpdump -Z root --immediate-mode -i lo -w "$out/$file" "tcp port $port"
	ip netns exec "$ns_cross" "$work/crossclose" -v -port "$port" -case "$case" 2>"$calls/$file.calls"
	stop_capture
	ip netns del "$ns_cross"
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}
make_simultaneous_close() { record_crossing simultaneous-close.pcap 20061 fins; }
make_fin_crosses_data() { record_crossing fin-crosses-data.pcap 20062 fin-data; }
make_fin_data_crosses_fin() { record_crossing fin-data-crosses-fin.pcap 20063 fin-corked; }

# make_simultaneous_close_run: the simultaneous close under socktrace run
# with the eBPF tracer, written by socktrace -w (its calls as comments),
# as the report that found the bug was made.
make_simultaneous_close_run() {
	local file=simultaneous-close-run.pcapng port=20064
	CGO_ENABLED=0 go build -o "$work/socktrace" .
	crossing_ns
	rm -f "$out/$file"
	ip netns exec "$ns_cross" "$work/socktrace" run --tracer ebpf --format json -w "$out/$file" -- \
		"$work/crossclose" -port "$port" -case fins >"$calls/$file.json"
	ip netns del "$ns_cross"
	chmod 644 "$out/$file"
	echo "$file: $(tcpdump -r "$out/$file" 2>/dev/null | wc -l) packets"
}

all=(handshake refused abort half-close server-closes-first unread-data-close late-accept
	ipv6 port-reuse syn-retransmit self-connect shared-port snaplen64 handshake-pcapng handshake-sll2
	handshake-ns lessons udp udp-ipv6 syn-icmp udp-pcapng simultaneous-close fin-crosses-data
	fin-data-crosses-fin simultaneous-close-run)
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
	names=("${all[@]}")
fi
for name in "${names[@]}"; do
	fn=make_${name//-/_}
	if ! declare -F "$fn" >/dev/null; then
		echo "make-captures.sh: unknown capture $name (known: ${all[*]})" >&2
		exit 2
	fi
	"$fn"
done
