package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func sendmmsg(fd int, s string) {
	b := []byte(s)
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	msgs := []mmsghdr{{hdr: unix.Msghdr{Iov: &iov, Iovlen: 1}}}
	_, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), 1, 0, 0, 0)
	if e != 0 {
		must(e, "sendmmsg")
	}
}

func recvmmsg(fd int) {
	b := make([]byte, 64)
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	msgs := []mmsghdr{{hdr: unix.Msghdr{Iov: &iov, Iovlen: 1}}}
	_, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), 1, 0, 0, 0)
	if e != 0 {
		must(e, "recvmmsg")
	}
}
