#!/usr/bin/env bash
# bigcapture.sh OUT.pcap [N]
#
# Records a big capture of N (default 100000) short, real TCP connections on
# loopback, about 10 packets each, with client ports reused many times: the
# file socktrace's replay is measured on (docs/performance.md).
#
# It runs in a network namespace of its own, so that the settings below touch
# nothing else on the machine:
#   net.ipv4.ip_local_port_range = 40000 40999  only 1000 client ports, so
#                                               100000 connections use each
#                                               port about 100 times;
#   net.ipv4.tcp_tw_reuse = 1                   connect may take a port whose
#                                               last connection to the same
#                                               server is still in TIME_WAIT.
# tcpdump records the namespace's lo; internal/loopgen makes the
# connections; tcpdump's own drop count is printed at the end, and the script
# fails if it is not zero, because a capture with holes would not have N
# complete connections in it.
#
# SHAPE=parallel makes the other shape of traffic measured in
# docs/performance.md (issue 14): 8 parallel clients (CLIENTS) with the
# kernel's own port range and TIME_WAIT reuse settings (the namespace keeps
# its defaults: 32768-60999, tcp_tw_reuse=2), so thousands of connections
# overlap in capture time and each port is reused a few times.
#
# Environment:
#   SHAPE=S             reuse (default, as above) or parallel.
#   CLIENTS=P           parallel clients for SHAPE=parallel (default 8).
#   RATE=R              start at most R connections per second (loopgen -rate;
#                       default 0, no limit): lower it if tcpdump drops.
#   INFLIGHT=C          connections in flight at most (default 64).
#   TW_REUSE_DELAY_MS=D set net.ipv4.tcp_tw_reuse_delay in the namespace
#                       (Linux 6.14+; the kernel default, 1000 ms, caps the rate
#                       at about 1000 connections/s with 1000 ports; lower
#                       makes the run faster, and the kernel then reuses fewer
#                       ports more often).
#   SERVER=ADDR         server address (default 127.0.0.1:8080, outside the
#                       client port range).
#
# Needs root (network namespaces, tcpdump). Never put the output in the
# repository: 100000 connections make about 110 MB, 1000000 about 1.1 GB.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
	echo "usage: $0 OUT.pcap [N]" >&2
	exit 2
fi
out=$1
n=${2:-100000}
rate=${RATE:-0}
inflight=${INFLIGHT:-64}
server=${SERVER:-127.0.0.1:8080}
shape=${SHAPE:-reuse}
clients=${CLIENTS:-8}
case $shape in
reuse | parallel) ;;
*) echo "$0: SHAPE=$shape: use reuse or parallel" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)

for tool in ip tcpdump go; do
	command -v "$tool" >/dev/null || { echo "$0: $tool not found" >&2; exit 1; }
done
if [[ $(id -u) -ne 0 ]]; then
	echo "$0: needs root (ip netns, tcpdump); run it with sudo" >&2
	exit 1
fi

ns=socktrace-bigcap-$$
work=$(mktemp -d)
tcpdump_pid=
cleanup() {
	if [[ -n $tcpdump_pid ]] && kill -0 "$tcpdump_pid" 2>/dev/null; then
		kill -INT "$tcpdump_pid" 2>/dev/null || true
		wait "$tcpdump_pid" 2>/dev/null || true
	fi
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# Build first: `go run` inside the namespace would count the compile in the
# capture's time and need the module cache there.
(cd "$root" && go build -o "$work/loopgen" ./internal/loopgen)

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
if [[ $shape == reuse ]]; then
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="40000 40999"
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1
fi
if [[ -n ${TW_REUSE_DELAY_MS:-} ]]; then
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse_delay="$TW_REUSE_DELAY_MS"
fi
echo "namespace $ns: $(ip netns exec "$ns" sysctl -n net.ipv4.ip_local_port_range | tr '\t' ' ') ports," \
	"tcp_tw_reuse=$(ip netns exec "$ns" sysctl -n net.ipv4.tcp_tw_reuse)," \
	"tcp_tw_reuse_delay=$(ip netns exec "$ns" sysctl -n net.ipv4.tcp_tw_reuse_delay 2>/dev/null || echo n/a) ms" >&2

# -Z root: tcpdump would otherwise drop to its own user before opening OUT,
# which fails for directories that user cannot write.
ip netns exec "$ns" tcpdump -i lo -w "$out" -s 262144 -B 65536 -Z root 'tcp' 2>"$work/tcpdump.err" &
tcpdump_pid=$!
# tcpdump says "listening on lo" once its socket is bound and the filter set;
# packets before that would be lost.
for _ in $(seq 100); do
	grep -q 'listening on' "$work/tcpdump.err" 2>/dev/null && break
	kill -0 "$tcpdump_pid" 2>/dev/null || { cat "$work/tcpdump.err" >&2; exit 1; }
	sleep 0.1
done
grep -q 'listening on' "$work/tcpdump.err" || { echo "$0: tcpdump did not start" >&2; cat "$work/tcpdump.err" >&2; exit 1; }

status=0
ip netns exec "$ns" "$work/loopgen" -n "$n" -addr "$server" -rate "$rate" -c "$inflight" \
	-shape "$shape" -clients "$clients" || status=$?

# tcpdump (not in immediate mode) gets packets from the kernel's ring a
# block at a time, and a block is handed over when full or when libpcap's
# 1000 ms timeout retires it. On SIGINT tcpdump stops without reading the
# block still being filled, and does not count what it held as dropped: a
# first version waited 0.5 s here and lost the last ~600 packets of each
# file with "0 packets dropped". Wait out the timeout.
sleep 2
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
tcpdump_pid=
cat "$work/tcpdump.err" >&2
dropped=$(awk '/packets dropped by kernel/ {print $1}' "$work/tcpdump.err")
ifdropped=$(awk '/packets dropped by interface/ {print $1}' "$work/tcpdump.err")
echo "tcpdump: ${dropped:-?} packets dropped by kernel, ${ifdropped:-0} by interface; file $out, $(stat -c %s "$out") bytes" >&2
# On lo the kernel passes every packet to the filter twice (the outgoing
# and the incoming copy) and libpcap keeps one, so "received by filter" is
# exactly twice "captured" unless packets were lost without being counted.
captured=$(awk '/packets captured/ {print $1}' "$work/tcpdump.err")
received=$(awk '/packets received by filter/ {print $1}' "$work/tcpdump.err")
lost=$(( ${received:-0} / 2 - ${captured:-0} ))
if [[ $lost -ne 0 ]]; then
	echo "$0: tcpdump received $received copies by filter but captured $captured packets: $lost packets not written" >&2
	exit 1
fi

if [[ $status -ne 0 ]]; then
	echo "$0: loopgen failed (exit $status); the capture is incomplete" >&2
	exit 1
fi
if [[ ${dropped:-1} != 0 || ${ifdropped:-0} != 0 ]]; then
	echo "$0: tcpdump dropped packets; run again with a lower RATE (now ${rate:-0})" >&2
	exit 1
fi
