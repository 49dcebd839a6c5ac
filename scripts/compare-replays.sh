#!/bin/bash
# compare-replays.sh OLD NEW [FORMAT...] — replay every capture of
# testdata/ and of tcpdump's tests (../shared/captures/tcpdump-tests) with
# two socktrace binaries and compare their output byte for byte: standard
# output, standard error and exit code, in each format (default: json
# text). A change meant to be invisible (a faster writer, a pipeline) must
# print "0 differences". Differing captures are listed; CAPTURES=FILE...
# replaces the list of captures (the big ones of docs/performance.md).
#
#	go build -o /tmp/old . (on main); go build -o /tmp/new .
#	scripts/compare-replays.sh /tmp/old /tmp/new
set -u
old=$1 new=$2
shift 2
formats=("$@")
[ ${#formats[@]} -eq 0 ] && formats=(json text)
cd "$(dirname "$0")/.."
if [ -n "${CAPTURES:-}" ]; then
	read -r -a files <<<"$CAPTURES"
else
	mapfile -t files < <(find testdata ../shared/captures/tcpdump-tests -type f \
		\( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' -o -name '*.pcap.gz' \) 2>/dev/null | sort)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
runs=0 diffs=0
for f in "${files[@]}"; do
	for fmt in "${formats[@]}"; do
		runs=$((runs + 1))
		"$old" replay --format "$fmt" "$f" >"$tmp/o.out" 2>"$tmp/o.err"
		echo "exit $?" >>"$tmp/o.err"
		"$new" replay --format "$fmt" "$f" >"$tmp/n.out" 2>"$tmp/n.err"
		echo "exit $?" >>"$tmp/n.err"
		if ! cmp -s "$tmp/o.out" "$tmp/n.out" || ! cmp -s "$tmp/o.err" "$tmp/n.err"; then
			diffs=$((diffs + 1))
			echo "differs: $fmt $f"
		fi
	done
done
echo "${#files[@]} captures, $runs replays, $diffs differences"
[ "$diffs" -eq 0 ]
