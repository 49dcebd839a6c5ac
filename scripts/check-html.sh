#!/usr/bin/env bash
# check-html.sh renders socktrace's HTML report in a real browser (Debian's
# chromium, headless) and saves a screenshot, so that a person — or CI —
# can see that the page renders, and docs/html-report.png stays current.
#
#   scripts/check-html.sh                          # testdata/handshake.pcap → docs/html-report.png
#   scripts/check-html.sh -o /tmp/shot.png testdata/refused.pcap
#   scripts/check-html.sh -o /tmp/shot.png report.html   # a page already written
#
# A capture is turned into HTML with `socktrace replay --html FILE` when the
# CLI has that flag, and otherwise with the report package's test writer
# (go test ./report -run TestHTMLWrite). report/html_test.go runs this
# script when chromium is installed and checks the screenshot it makes.
#
# Needs chromium (apt-get install -y chromium) and, for a capture, Go.
set -euo pipefail

cd "$(dirname "$0")/.."
png=docs/html-report.png
lang=en
while getopts "o:l:" opt; do
	case $opt in
	o) png=$OPTARG ;;
	l) lang=$OPTARG ;;
	*) echo "usage: $0 [-o SCREENSHOT.png] [-l en|ko] [CAPTURE | FILE.html]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
input=${1:-testdata/handshake.pcap}

browser=
for b in chromium chromium-browser; do
	if command -v "$b" >/dev/null; then browser=$b; break; fi
done
if [[ -z $browser ]]; then
	echo "check-html.sh: chromium is not installed (apt-get install -y chromium)" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case $input in
*.html)
	page=$(realpath "$input")
	;;
*)
	page=$work/report.html
	go build -o "$work/socktrace" .
	if "$work/socktrace" replay --help 2>&1 | grep -q -- '--html'; then
		# The path as given, relative to the project: it is the page's title.
		"$work/socktrace" replay --lang "$lang" --html "$page" "$input" >/dev/null
	else
		go test ./report -run '^TestHTMLWrite$' -count=1 \
			-args -html-out="$page" -html-capture="$(realpath "$input")" -html-lang="$lang" >/dev/null
	fi
	;;
esac
[[ -s $page ]] || { echo "check-html.sh: no HTML was written to $page" >&2; exit 1; }

# The page must stand alone: nothing fetched from anywhere.
if grep -Eiq 'https?://|src=|<link|@import|url\(' "$page"; then
	echo "check-html.sh: $page refers to something outside itself:" >&2
	grep -Eion 'https?://[^"<> ]*|src=[^ >]*|<link[^>]*|@import[^;]*|url\([^)]*\)' "$page" | head >&2
	exit 1
fi

mkdir -p "$(dirname "$png")"
rm -f "$png"
# No network, no first-run work, a profile of its own: the browser renders
# the one local file and exits.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--hide-scrollbars --user-data-dir="$work/profile" \
	--screenshot="$(realpath -m "$png")" --window-size=1200,900 "file://$page" \
	>"$work/browser.log" 2>&1 || { cat "$work/browser.log" >&2; exit 1; }
if [[ ! -s $png ]]; then
	echo "check-html.sh: $browser wrote no screenshot" >&2
	cat "$work/browser.log" >&2
	exit 1
fi
echo "check-html.sh: $input rendered by $browser: $png ($(stat -c %s "$png") bytes)"
