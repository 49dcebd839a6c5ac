#!/usr/bin/env bash
# measure-run-overhead.sh [ROUNDS] [N]
#
# What `socktrace run` costs a program while it runs, apart by part
# (issue 12; figures in docs/performance.md). calls/testdata/conns makes N
# (default 4000) loopback connections one after another and writes its own
# time (ELAPSED_FILE) and its own CPU time (CPU_FILE: user and system, the
# kernel's work in its context included, so the capture's and the
# recorder's costs in the program's system calls and softirqs count). Each
# round runs, interleaved:
#
#   plain     the program alone
#   tcpdump   beside `tcpdump -i any -w /dev/null` (the cost of a packet
#             capture alone; skipped without tcpdump)
#   run       under `socktrace run --tracer ebpf` (the recorder with its
#             in-kernel capture, and socktrace's own work; socktrace
#             yields the CPU, yield.go)
#   run-afpacket  the same with a packet socket (--capture afpacket)
#   run-nice0 the same as run with socktrace kept at its normal priority
#             (ST_NO_YIELD=1), to see what yielding buys
#
# and the medians of ROUNDS (default 10) rounds are printed as ratios to
# plain. The machine's load (uptime) is printed first and last: on a
# shared 2-core machine a figure means little without it.
#
# PIN=1 pins the program to CPU 0 with GOMAXPROCS=1 and socktrace (or
# tcpdump) to CPU 1: the program's CPU time is then its own work and the
# kernel's in its context, without the Go scheduler's spinning or
# competition for a core, which move with whatever else runs. That is the
# figure to attribute costs with; the unpinned one is what a user sees.
set -euo pipefail
rounds=${1:-10}
n=${2:-4000}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/socktrace" . && go build -o "$work/conns" ./calls/testdata/conns)
uptime
prog=("$work/conns" "$n")
tracer=()
if [ "${PIN:-}" = 1 ]; then
	prog=(taskset -c 0 "$work/conns" "$n")
	tracer=(taskset -c 1)
	export GOMAXPROCS=1
fi
one() { # name cmd...
	local name=$1
	shift
	rm -f "$work/elapsed" "$work/cpu"
	ELAPSED_FILE=$work/elapsed CPU_FILE=$work/cpu "$@" >/dev/null 2>"$work/err" || {
		echo "$name failed:" >&2
		tail -3 "$work/err" >&2
		return
	}
	echo "$name $(cat "$work/elapsed") $(cat "$work/cpu")" >>"$work/results"
}
for ((r = 0; r < rounds; r++)); do
	one plain "${prog[@]}"
	if command -v tcpdump >/dev/null; then
		"${tracer[@]}" tcpdump -i any -w /dev/null -B 8192 2>/dev/null &
		td=$!
		sleep 0.5 # tcpdump prints nothing when it has started; give it time
		one tcpdump "${prog[@]}"
		kill "$td"
		wait "$td" 2>/dev/null || true
	fi
	one run "${tracer[@]}" "$work/socktrace" run --tracer ebpf -- "${prog[@]}"
	one run-afpacket "${tracer[@]}" "$work/socktrace" run --tracer ebpf --capture afpacket -- "${prog[@]}"
	ST_NO_YIELD=1 one run-nice0 "${tracer[@]}" "$work/socktrace" run --tracer ebpf -- "${prog[@]}"
done
uptime
python3 - "$work/results" <<'PY'
import collections, statistics, sys
d = collections.defaultdict(lambda: ([], []))
order = []
for line in open(sys.argv[1]):
    name, wall, cpu = line.split()
    if name not in d:
        order.append(name)
    d[name][0].append(int(wall) / 1e6)
    d[name][1].append(int(cpu) / 1e6)
base = statistics.median(d["plain"][0]), statistics.median(d["plain"][1])
print("%-13s %3s  %-22s %-22s" % ("", "n", "own time (median)", "own CPU (median)"))
for k in order:
    w, c = statistics.median(d[k][0]), statistics.median(d[k][1])
    print("%-13s %3d  %7.1f ms  %5.2fx     %7.1f ms  %5.2fx" % (k, len(d[k][0]), w, w / base[0], c, c / base[1]))
PY
