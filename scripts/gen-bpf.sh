#!/bin/sh
# Regenerates the eBPF recorder's compiled object and Go bindings
# (calls/recorder_bpfel.o, calls/recorder_bpfel.go) from calls/bpf/*.c with
# clang through bpf2go. Commit the result: builds and tests use the
# committed files and need no clang. TestBPFObjectUpToDate fails when they
# are stale.
#
# The object is reproducible for one clang version: the version used is
# pinned in calls/bpf/clang-version, and the test compares only when the
# installed clang is that version. To move to another clang, install it,
# run this script, update clang-version, and commit all three.
set -eu
cd "$(dirname "$0")/../calls"
command -v clang >/dev/null || { echo "gen-bpf.sh: clang is not installed (apt-get install clang llvm libbpf-dev)" >&2; exit 1; }
go generate ./
clang --version | sed -n 's/.*clang version \([0-9.]*\).*/\1/p' > bpf/clang-version
echo "regenerated calls/recorder_bpfel.{o,go} with clang $(cat bpf/clang-version)"
