#!/usr/bin/env bash
# make-tunnel-captures.sh records the two tunnel captures of testdata/
# from real overlays built with network namespaces, veth pairs and the
# kernel's own VXLAN devices (see testdata/README.md):
#
#   tunnel-tenants.pcap  three tenants whose connections have the same
#                        inner 4-tuple 10.0.0.1:45000 -> 10.0.0.2:20051: in
#                        VXLAN VNI 42 and VNI 43 between 192.168.100.1 and
#                        192.168.100.2, and in VNI 42 again between
#                        192.168.100.3 and 192.168.100.4 (UDP port 8472);
#                        captured on the
#                        underlay veth: three connections.
#   tunnel-mirror.pcap   one connection in VXLAN VNI 42 captured with
#                        tcpdump -i any on the host that has both the VXLAN
#                        device (the inner packets) and the underlay (the
#                        same packets encapsulated): one connection, every
#                        segment seen twice.
#
# GRE keys are not among them: the kernel this was made on has no GRE
# (CONFIG_NET_IPGRE is off; "ip link add type gre" says "Unknown device
# type"), only VXLAN.
#
# Needs root, ip, tcpdump and python3 (the client and server: a few lines
# of plain sockets, below). Nothing on the host is changed: every device
# lives in namespaces of this run, named with its pid, deleted on exit.
# Rerunning it changes the files (times, sequence numbers), so the golden
# outputs must be regenerated after it (go test -run 'TestGolden|TestTunnel' -update).
#
#   sudo scripts/make-tunnel-captures.sh               # into testdata/
#   sudo OUT_DIR=/tmp/caps scripts/make-tunnel-captures.sh
set -euo pipefail

cd "$(dirname "$0")/.."
out=${OUT_DIR:-testdata}
mkdir -p "$out"
work=$(mktemp -d)
sfx=$$
# Underlay hosts a and b, and one namespace per tenant and side.
ua=stun-ua-$sfx
ub=stun-ub-$sfx
tenants=(vx42 vx43 vx42b)
all_ns=("$ua" "$ub")
for t in "${tenants[@]}"; do
	all_ns+=("stun-$t-a-$sfx" "stun-$t-b-$sfx")
done
capture_pid=

cleanup() {
	if [[ -n $capture_pid ]]; then
		kill "$capture_pid" 2>/dev/null || true
		wait "$capture_pid" 2>/dev/null || true
	fi
	for n in "${all_ns[@]}"; do
		ip netns del "$n" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

if [[ $(id -u) -ne 0 ]]; then
	echo "make-tunnel-captures.sh: run as root (it makes network namespaces and captures)" >&2
	exit 1
fi
for cmd in ip tcpdump python3; do
	command -v "$cmd" >/dev/null || { echo "make-tunnel-captures.sh: $cmd is not installed" >&2; exit 1; }
done

# The server accepts one connection, reads the 22-byte request, writes the
# 27-byte reply and closes after the client's FIN; the client binds a fixed
# port, so that every tenant's connection has the same 4-tuple. The same
# bytes as the demo scenarios of the other testdata captures.
cat >"$work/peer.py" <<'EOF'
import os, socket, sys, time
role, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if role == "server":
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    open(sys.argv[4], "w").close()  # ready
    c, _ = ls.accept()
    req = b""
    while len(req) < 22:
        b = c.recv(64)
        if not b:
            break
        req += b
    c.sendall(b"hello back from the server\n")
    while c.recv(64):
        pass
    c.close()
else:
    # Every client connects, then waits until all have, so that the
    # tenants' connections overlap in the capture.
    barrier, n, me = sys.argv[5], int(sys.argv[6]), sys.argv[7]
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind((addr, 45000))
    c.connect((sys.argv[4], port))
    open(os.path.join(barrier, me), "w").close()
    for _ in range(200):
        if len(os.listdir(barrier)) >= n:
            break
        time.sleep(0.01)
    c.sendall(b"hello from the client\n")
    got = b""
    while len(got) < 27:
        b = c.recv(64)
        if not b:
            break
        got += b
    c.close()
EOF

in_ns() { ip netns exec "$@"; }

quiet_ns() { # no IPv6 (router and neighbour solicitations would only add noise)
	in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	in_ns "$1" ip link set lo up
}

# underlay: a veth pair between ua (192.168.100.1) and ub (192.168.100.2).
underlay() {
	ip netns add "$ua"
	ip netns add "$ub"
	quiet_ns "$ua"
	quiet_ns "$ub"
	ip link add "ul-$sfx" netns "$ua" type veth peer name "ul-$sfx" netns "$ub"
	in_ns "$ua" ip addr add 192.168.100.1/24 dev "ul-$sfx"
	in_ns "$ub" ip addr add 192.168.100.2/24 dev "ul-$sfx"
	# A second pair of tunnel endpoints on the same hosts.
	in_ns "$ua" ip addr add 192.168.100.3/24 dev "ul-$sfx"
	in_ns "$ub" ip addr add 192.168.100.4/24 dev "ul-$sfx"
	in_ns "$ua" ip link set "ul-$sfx" up
	in_ns "$ub" ip link set "ul-$sfx" up
}

# tunnel_dev NS NAME LOCAL REMOTE KIND: makes the tunnel device NAME in the
# underlay namespace NS (where its UDP socket stays).
tunnel_dev() {
	local ns=$1 name=$2 local=$3 remote=$4 kind=$5
	case $kind in
	vx42) in_ns "$ns" ip link add "$name" type vxlan id 42 local "$local" remote "$remote" dstport 4789 dev "ul-$sfx" ;;
	# The same VNI on another pair of endpoints must use another UDP port:
	# Linux keys its VXLAN devices by VNI per socket (4789 is taken by
	# VNI 42 already). 8472 is Linux's original VXLAN port.
	vx42b) in_ns "$ns" ip link add "$name" type vxlan id 42 local "$local" remote "$remote" dstport 8472 dev "ul-$sfx" ;;
	vx43) in_ns "$ns" ip link add "$name" type vxlan id 43 local "$local" remote "$remote" dstport 4789 dev "ul-$sfx" ;;
	esac
}

# start_capture FILE NS TCPDUMP-ARGS...: starts tcpdump in NS and waits
# until it says it is listening.
start_capture() {
	local file=$1 ns=$2
	shift 2
	# ip netns exec execs tcpdump: capture_pid is tcpdump's own pid (a
	# shell function in the background would be a subshell ignoring SIGINT).
	ip netns exec "$ns" tcpdump -Z root --immediate-mode -B 8192 -w "$file" "$@" 2>"$work/tcpdump.log" &
	capture_pid=$!
	for _ in $(seq 600); do
		grep -q "listening on" "$work/tcpdump.log" 2>/dev/null && return
		sleep 0.05
	done
	echo "make-tunnel-captures.sh: tcpdump did not start:" >&2
	cat "$work/tcpdump.log" >&2
	exit 1
}

# stop_capture: stops tcpdump and sets dropped to the packets it says it
# did not write (a starved tcpdump on a loaded machine once lost both
# copies of a FIN, and once all but the handshake: such a file is not the
# truth of what was sent).
stop_capture() {
	# The last ACK answers a FIN after its peer has exited: give it and
	# tcpdump a moment (the tests that replay these files do not depend on it).
	sleep 1
	kill -INT "$capture_pid"
	wait "$capture_pid" || true
	capture_pid=
	cat "$work/tcpdump.log" >&2
	# Dropped by the kernel, or matched by the filter but never written
	# (still in the ring when tcpdump was told to stop, as happens to a
	# starved tcpdump).
	local count captured received
	count() { sed -n "s/^\([0-9]*\) packets\{0,1\} $1.*/\1/p" "$work/tcpdump.log"; }
	captured=$(count captured) received=$(count "received by filter") dropped=$(count "dropped by kernel")
	dropped=$((${dropped:-0} + ${received:-0} - ${captured:-0}))
}
dropped=0

# delete_namespaces: removes every namespace of this run.
delete_namespaces() {
	for n in "${all_ns[@]}"; do
		ip netns del "$n" 2>/dev/null || true
	done
}

# with_retries NAME FUNCTION: runs a capture until tcpdump dropped nothing,
# five times at most, each in new namespaces.
with_retries() {
	local name=$1 f=$2
	for attempt in 1 2 3 4 5; do
		"$f" # not in a condition: set -e still ends the script on an error
		if [[ $dropped -eq 0 ]]; then
			delete_namespaces
			return
		fi
		echo "make-tunnel-captures.sh: tcpdump dropped packets of $name (attempt $attempt): capturing again" >&2
		delete_namespaces
	done
	echo "make-tunnel-captures.sh: tcpdump dropped packets of $name five times: the machine is too busy" >&2
	exit 3
}

# wait_ready FILE: waits for a server to say it listens.
wait_ready() {
	for _ in $(seq 600); do
		[[ -e $1 ]] && return
		sleep 0.05
	done
	echo "make-tunnel-captures.sh: a server did not start" >&2
	exit 1
}

# run_pairs NS-A NS-B...: a server in every NS-B, then the clients in every
# NS-A at the same time.
run_pairs() {
	local pids=() i=0
	while (($#)); do
		local a=$1 b=$2
		shift 2
		in_ns "$b" python3 "$work/peer.py" server 10.0.0.2 20051 "$work/ready-$i-$b" &
		pids+=($!)
		wait_ready "$work/ready-$i-$b"
		i=$((i + 1))
		clients+=("$a")
	done
	local barrier
	barrier=$(mktemp -d -p "$work")
	for a in "${clients[@]}"; do
		in_ns "$a" python3 "$work/peer.py" client 10.0.0.1 20051 10.0.0.2 "$barrier" "${#clients[@]}" "$a" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	clients=()
}
clients=()

tenants_capture() {
	underlay
	local pairs=()
	for t in "${tenants[@]}"; do
		local ta=stun-$t-a-$sfx tb=stun-$t-b-$sfx
		ip netns add "$ta"
		ip netns add "$tb"
		quiet_ns "$ta"
		quiet_ns "$tb"
		# The device is made in the underlay namespace and moved into the
		# tenant's: its encapsulated packets still leave by the underlay.
		local la=192.168.100.1 lb=192.168.100.2
		if [[ $t == vx42b ]]; then
			la=192.168.100.3 lb=192.168.100.4
		fi
		tunnel_dev "$ua" "t$t" "$la" "$lb" "$t"
		tunnel_dev "$ub" "t$t" "$lb" "$la" "$t"
		in_ns "$ua" ip link set "t$t" netns "$ta"
		in_ns "$ub" ip link set "t$t" netns "$tb"
		in_ns "$ta" ip addr add 10.0.0.1/24 dev "t$t"
		in_ns "$tb" ip addr add 10.0.0.2/24 dev "t$t"
		in_ns "$ta" ip link set "t$t" up
		in_ns "$tb" ip link set "t$t" up
		pairs+=("$ta" "$tb")
	done
	start_capture "$out/tunnel-tenants.pcap" "$ua" -i "ul-$sfx" 'udp port 4789 or udp port 8472'
	run_pairs "${pairs[@]}"
	stop_capture
}

mirror_capture() {
	underlay
	# The VXLAN devices stay in the underlay namespaces: a capture on
	# "any" there sees each segment on vxlan (plain) and on the veth
	# (encapsulated).
	tunnel_dev "$ua" "m42-$sfx" 192.168.100.1 192.168.100.2 vx42
	tunnel_dev "$ub" "m42-$sfx" 192.168.100.2 192.168.100.1 vx42
	in_ns "$ua" ip addr add 10.0.0.1/24 dev "m42-$sfx"
	in_ns "$ub" ip addr add 10.0.0.2/24 dev "m42-$sfx"
	in_ns "$ua" ip link set "m42-$sfx" up
	in_ns "$ub" ip link set "m42-$sfx" up
	start_capture "$out/tunnel-mirror.pcap" "$ua" -i any 'tcp port 20051 or udp port 4789'
	run_pairs "$ua" "$ub"
	stop_capture
}

with_retries tunnel-tenants.pcap tenants_capture
with_retries tunnel-mirror.pcap mirror_capture
echo "wrote $out/tunnel-tenants.pcap and $out/tunnel-mirror.pcap"
