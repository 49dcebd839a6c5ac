#!/usr/bin/env bash
# vm-test.sh [calls.test flags...]
#
# Runs the calls package's tests (default: the eBPF recorder's, verbose)
# as root in a virtual machine with a stock Debian kernel, under qemu's
# software emulation, and exits with their status. It is for what this
# project's own machine cannot run: another kernel. With Debian 12's 6.1
# (KERNEL_PKG=linux-image-6.1.0-57-cloud-amd64-unsigned) the recorder
# loads its compat object (no bpf_rdonly_cast before 6.2). Not part of
# CI: the emulated machine is 10-50 times slower, its timings are no
# guide to real hardware's, and its busybox has no python3 and no
# `ip netns` (the tests that need them skip or fail there).
#
#   scripts/vm-test.sh                                   # the recorder's tests
#   KERNEL_PKG=linux-image-6.1.0-57-cloud-amd64-unsigned VM_WORK=/tmp/vm61 scripts/vm-test.sh
#   scripts/vm-test.sh -test.run '^$' -test.bench RecordPerCall -test.benchtime 3x
#
# Needs qemu-system-x86 and busybox-static (apt-get install), and fetches
# a Debian kernel package with apt-get download (KERNEL_PKG, default the
# newest linux-image-*-cloud-amd64-unsigned) into VM_WORK (default
# /tmp/socktrace-vm; one directory per kernel: the kernel is fetched
# once). The guest has no Go: the test programs are built here, and a
# stand-in `go` copies them where the tests build them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${VM_WORK:-/tmp/socktrace-vm}
need() { command -v "$1" >/dev/null || { echo "vm-test.sh: no $1 (apt-get install $2)" >&2; exit 1; }; }
need qemu-system-x86_64 qemu-system-x86
need busybox busybox-static
busybox=$(command -v busybox)
if ! file -L "$busybox" | grep -q 'statically linked'; then
	echo "vm-test.sh: $busybox is not static (apt-get install busybox-static)" >&2
	exit 1
fi
mkdir -p "$work"
if [ ! -e "$work/vmlinuz" ]; then
	pkg=${KERNEL_PKG:-$(apt-cache search --names-only '^linux-image-[0-9][0-9.+a-z-]*-cloud-amd64-unsigned$' | cut -d' ' -f1 | sort -V | tail -1)}
	[ -n "$pkg" ] || { echo "vm-test.sh: no kernel package found (apt-get update?)" >&2; exit 1; }
	(cd "$work" && rm -rf k ./*.deb && apt-get download "$pkg" && dpkg-deb -x ./*.deb k && cp k/boot/vmlinuz-* vmlinuz)
fi
img=$work/initrd
rm -rf "$img"
mkdir -p "$img"/{bin,prebuilt,proc,sys,dev,tmp,work}
cp "$busybox" "$img/bin/busybox"
for a in sh mount ip cp cat poweroff true; do ln -s busybox "$img/bin/$a"; done
cat >"$img/bin/go" <<'GO'
#!/bin/sh
# `go build -o BIN ./testdata/NAME` (GOARCH=386 too): the programs are prebuilt.
out= pkg=
while [ $# -gt 0 ]; do
	case "$1" in -o) out=$2; shift ;; ./testdata/*) pkg=${1#./testdata/} ;; esac
	shift
done
exec cp "/prebuilt/$pkg$GOARCH" "$out"
GO
chmod +x "$img/bin/go"
cd "$root/calls"
for d in testdata/*/; do
	name=$(basename "$d")
	[ -e "$d/main.go" ] && CGO_ENABLED=0 go build -o "$img/prebuilt/$name" "./$d"
done
CGO_ENABLED=0 GOARCH=386 go build -o "$img/prebuilt/blocking386" ./testdata/blocking
CGO_ENABLED=0 go test -c -o "$img/work/calls.test" .
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-test.v -test.run 'Record|Watch|Interrupted|Preloaded|Detaches')
printf '%q ' "${args[@]}" >"$img/work/args"
cat >"$img/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
cd /work
eval "./calls.test $(cat args)" 2>&1
echo "vm-test: exit $?"
poweroff -f
INIT
chmod +x "$img/init"
(cd "$img" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.gz"
# One emulating thread: with multi-threaded TCG, an int3 of the kernel's
# text patching (attaching to the system call tracepoints) took the
# guest down.
qemu-system-x86_64 -accel tcg,thread=single -cpu max -m 3072 -smp 2 -nographic -no-reboot \
	-kernel "$work/vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 rdinit=/init panic=-1 quiet" | tee "$work/out" | grep -v '^\[ *[0-9.]*\]'
status=$(sed -n 's/^vm-test: exit \([0-9]*\).*/\1/p' "$work/out" | tail -1)
exit "${status:-1}"
