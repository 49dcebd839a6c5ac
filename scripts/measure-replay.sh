#!/usr/bin/env bash
# measure-replay.sh FILE [N]
#
# Measures `socktrace replay` on a big capture (made by scripts/bigcapture.sh)
# and compares it with tshark and tcptrace on the same file; the figures go
# into docs/performance.md. N is the number of connections the file was made
# from (default 100000): the script checks that socktrace finds every one.
#
# What it prints:
#   - the machine's load (uptime) before each timed run: the machine is
#     shared, so a figure means little without it;
#   - correctness: the JSON summary, the connection lines counted by
#     handshake, close, conn_state and packet count, the SYNs in the file
#     counted independently by tcpdump, and the first few connections that
#     are not three-way/graceful;
#   - for each tool, RUNS (default 2) timed runs: wall time, user and system
#     CPU, peak RSS (GNU time's "Maximum resident set size"), packets/s.
#
# Environment: RUNS=K timed runs of each (default 2); ST=PATH a socktrace
# binary to use instead of building one; SKIP="tshark tcptrace text" to leave
# some out. Besides JSON it times, side by side in one run: the bare
# gopacket decode loop (internal/gopacketloop, the floor), tcpdump -nn -r,
# and socktrace's text (the shape rule), text --explain none, diagram and an
# --html page, each with the size of what it wrote. SKIP may also name
# some out.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
	echo "usage: $0 FILE [N]" >&2
	exit 2
fi
file=$1
want=${2:-100000}
runs=${RUNS:-2}
skip=" ${SKIP:-} "
root=$(cd "$(dirname "$0")/.." && pwd)
[[ -x /usr/bin/time ]] || { echo "$0: GNU time missing: apt-get install time" >&2; exit 1; }
command -v jq >/dev/null || { echo "$0: jq missing: apt-get install jq" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Build from the last commit, not the work tree: others may be mid-change,
# and a figure should name the code it was measured on.
st=${ST:-}
if [[ -z $st ]]; then
	mkdir "$work/src"
	(cd "$root" && git archive HEAD) | tar -x -C "$work/src"
	(cd "$work/src" && CGO_ENABLED=0 go build -o "$work/socktrace" . && CGO_ENABLED=0 go build -o "$work/gopacketloop" ./internal/gopacketloop)
	st=$work/socktrace
	echo "# socktrace built from commit $(cd "$root" && git rev-parse --short HEAD)"
else
	echo "# socktrace: $st"
	(cd "$root" && CGO_ENABLED=0 go build -o "$work/gopacketloop" ./internal/gopacketloop)
fi
echo "# $(date -u +%FT%TZ) on $(nproc) cores, $(uname -r)"
echo "# file $file: $(stat -c %s "$file") bytes"

# --- correctness ---------------------------------------------------------
"$st" replay --format json "$file" >"$work/out.json"
summary=$(tail -n 1 "$work/out.json")
echo
echo "## correctness"
echo "summary: $summary"
packets=$(jq -r .packets <<<"$summary")
found=$(jq -r .connections <<<"$summary")
echo "connection lines by handshake, close, conn_state, packets:"
grep '"type":"connection"' "$work/out.json" |
	jq -r '[.handshake, .close, .conn_state, (.packets|tostring)] | join(" ")' |
	sort | uniq -c | sort -rn
good=$(grep '"type":"connection"' "$work/out.json" |
	jq -r 'select(.handshake == "three-way" and .close == "graceful") | .id' | wc -l)
# A SYN without ACK is a connection attempt (or a retransmission of one,
# which loopback does not produce): an independent count of connections.
syns=$(tcpdump -nn -r "$file" 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>/dev/null | wc -l)
echo "connections: $found found by socktrace, $good three-way/graceful; $syns SYNs in the file (tcpdump); $want made"
echo "not three-way/graceful (first 5):"
grep '"type":"connection"' "$work/out.json" |
	jq -c 'select(.handshake != "three-way" or .close != "graceful") | {id, client, start, handshake, close, conn_state, history, packets}' |
	head -n 5

# --- timing --------------------------------------------------------------
# timed LABEL OUT CMD...: runs CMD under GNU time with stdout to OUT and
# prints one line; callers add a note after it (no newline is printed).
timed() {
	local label=$1 out=$2
	shift 2
	local load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	/usr/bin/time -v -o "$work/time" "$@" >"$out" 2>/dev/null
	local wall user sys rss secs
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time")
	user=$(awk -F': ' '/User time/ {print $2}' "$work/time")
	sys=$(awk -F': ' '/System time/ {print $2}' "$work/time")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
	# The wall clock is h:mm:ss or m:ss.cc; make it seconds.
	secs=$(awk -F: '{s = 0; for (i = 1; i <= NF; i++) s = s*60 + $i; print s}' <<<"$wall")
	# Packets per second of wall time is the figure the issue asks for;
	# per second of CPU time (user + sys) is steadier on a shared machine.
	printf '%-24s load %-15s wall %7.2f s  user %6.2f s  sys %5.2f s  peak RSS %7.1f MiB  %9.0f packets/s (%.0f per CPU s)' \
		"$label" "$load" "$secs" "$user" "$sys" "$(awk -v k="$rss" 'BEGIN {print k/1024}')" \
		"$(awk -v p="$packets" -v s="$secs" 'BEGIN {print (s > 0 ? p/s : 0)}')" \
		"$(awk -v p="$packets" -v u="$user" -v s="$sys" 'BEGIN {print (u+s > 0 ? p/(u+s) : 0)}')"
}

# sized LABEL CMD...: timed, with stdout kept to print its size.
sized() {
	local label=$1
	shift
	timed "$label" "$work/out" "$@"
	echo "  output $(stat -c %s "$work/out") bytes"
	rm -f "$work/out"
}

echo
echo "## timing ($packets packets; $runs runs each)"
for i in $(seq "$runs"); do
	sized "gopacket loop #$i" "$work/gopacketloop" "$file"
	sized "tcpdump -nn -r #$i" tcpdump -nn -r "$file"
	sized "socktrace json #$i" "$st" replay --format json "$file"
	if [[ $skip != *" text "* ]]; then
		sized "socktrace text #$i" "$st" replay --format text "$file"
		sized "socktrace none #$i" "$st" replay --explain none "$file"
		sized "socktrace diagram #$i" "$st" replay --format diagram "$file"
		rm -f "$work/page.html"
		timed "socktrace html #$i" /dev/null "$st" replay --format json --html "$work/page.html" "$file"
		echo "  page $(stat -c %s "$work/page.html") bytes"
	fi
done
if [[ $skip != *" tshark "* ]] && command -v tshark >/dev/null; then
	for i in $(seq "$runs"); do
		timed "tshark -z conv,tcp #$i" "$work/tshark.out" tshark -r "$file" -q -z conv,tcp
		echo "  $(grep -c '<->' "$work/tshark.out" || true) conversations"
	done
fi
if [[ $skip != *" tcptrace "* ]] && command -v tcptrace >/dev/null; then
	for i in $(seq "$runs"); do
		timed "tcptrace -n #$i" "$work/tcptrace.out" tcptrace -n "$file"
		# One line per connection: "  12: a:port - b:port (a2b)  6>  4<  (complete)".
		echo "  $(grep -cE '^ *[0-9]+: ' "$work/tcptrace.out" || true) connections," \
			"$(grep -cE '^ *[0-9]+: .*\(complete\)' "$work/tcptrace.out" || true) complete"
	done
fi

if [[ $found -ne $want || $good -ne $want ]]; then
	echo "$0: socktrace found $found connections, $good of them three-way/graceful; $want were made" >&2
	exit 1
fi
