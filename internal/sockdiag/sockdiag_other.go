//go:build !linux

package sockdiag

import (
	"context"
	"errors"
	"net/netip"
)

// ErrUnsupported: sock_diag and /proc are Linux's.
var errUnsupported = errors.New("listing sockets and their processes needs Linux (sock_diag, /proc)")

// Process is a process that holds a socket.
type Process struct {
	PID  int
	Comm string
	UID  uint32
	User string
}

func Dump(max int) ([]Socket, bool, error) { return nil, false, errUnsupported }

func Find(local, remote netip.AddrPort) (Socket, bool, error) {
	return Socket{}, false, errUnsupported
}

func Owners(ctx context.Context, inodes map[uint64]bool, pids []int) (map[uint64][]Process, error) {
	return nil, errUnsupported
}

func PIDsByComm(names map[string]bool) ([]int, error) { return nil, errUnsupported }

func ReadProcess(pid int) (Process, error) { return Process{}, errUnsupported }

func UserName(uid uint32) string { return "" }
