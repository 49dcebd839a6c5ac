package calls

// The kernel-side recorder's BPF program (bpf/recorder.bpf.c) is compiled
// by clang through bpf2go into recorder_bpfel.o, embedded by
// recorder_bpfel.go. Both are committed, so building and testing need no
// clang; scripts/gen-bpf.sh (or go generate ./calls) rebuilds them, and
// TestBPFObjectUpToDate fails when they are stale. bpf2go strips the
// build directory from the object's debug info, and bpf/kernel.h declares
// the kernel types itself, so the object is the same on every machine with
// the same clang (the version is pinned in bpf/clang-version).
//
// The same source is compiled a second time with RECORDER_COMPAT into
// recordercompat_bpfel.o, for kernels before 6.2 (no bpf_rdonly_cast: it
// reads what it reaches through pointers kept in memory with
// bpf_probe_read_kernel); the recorder loads it when the kernel refuses
// the first (loadSpec). Only its CollectionSpec is used: its programs and
// maps are assigned to the same recorderObjects, its records decoded as
// recorderEvent.
//
//go:generate go tool bpf2go -go-package calls -output-stem recorder -tags linux -target bpfel -type event -type packet_record recorder bpf/recorder.bpf.c -- -I/usr/include -Wall -Werror
//go:generate go tool bpf2go -go-package calls -output-stem recordercompat -tags linux -target bpfel recordercompat bpf/recorder.bpf.c -- -I/usr/include -Wall -Werror -DRECORDER_COMPAT
