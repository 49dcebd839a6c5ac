package sockdiag

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Process is a process that holds a socket.
type Process struct {
	PID  int
	Comm string // as in /proc/PID/comm
	UID  uint32 // the process's owner (of /proc/PID)
	User string // UID's name; the number when it has none
}

// maxOwnersPerSocket bounds the processes kept per socket: a socket
// inherited over fork is held by each child, and a server's listener by
// every worker.
const maxOwnersPerSocket = 4

// Owners finds the processes that hold the sockets with the given inodes,
// by reading every /proc/PID/fd (a process it may not read, or one that
// exits meanwhile, is passed over). pids, when not nil, limits the search
// to those processes.
func Owners(ctx context.Context, inodes map[uint64]bool, pids []int) (map[uint64][]Process, error) {
	owners := make(map[uint64][]Process)
	if len(inodes) == 0 {
		return owners, nil
	}
	if pids == nil {
		var err error
		if pids, err = allPIDs(); err != nil {
			return nil, err
		}
	}
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return owners, err
		}
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		f, err := os.Open(dir)
		if err != nil {
			continue // gone, or not ours to read
		}
		names, _ := f.Readdirnames(-1)
		f.Close()
		var p *Process
		for _, name := range names {
			link, err := os.Readlink(dir + "/" + name)
			if err != nil {
				continue
			}
			inode, ok := socketInode(link)
			if !ok || !inodes[inode] {
				continue
			}
			if p == nil {
				q, err := ReadProcess(pid)
				if err != nil {
					break // it exited
				}
				p = &q
			}
			if have := owners[inode]; len(have) < maxOwnersPerSocket && !hasPID(have, pid) {
				owners[inode] = append(have, *p)
			}
		}
	}
	return owners, nil
}

func hasPID(ps []Process, pid int) bool {
	for _, p := range ps {
		if p.PID == pid {
			return true
		}
	}
	return false
}

// socketInode reads the inode from a /proc/PID/fd link "socket:[12345]".
func socketInode(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// allPIDs lists the processes in /proc.
func allPIDs() ([]int, error) {
	f, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	var pids []int
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// PIDsByComm lists the processes whose /proc/PID/comm is one of names.
func PIDsByComm(names map[string]bool) ([]int, error) {
	all, err := allPIDs()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, pid := range all {
		if comm, err := readComm(pid); err == nil && names[comm] {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func readComm(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// ReadProcess reads pid's name and owner from /proc.
func ReadProcess(pid int) (Process, error) {
	comm, err := readComm(pid)
	if err != nil {
		return Process{}, fmt.Errorf("process %d: %w", pid, err)
	}
	fi, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return Process{}, fmt.Errorf("process %d: %w", pid, err)
	}
	p := Process{PID: pid, Comm: comm}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		p.UID = st.Uid
		p.User = UserName(st.Uid)
	}
	return p, nil
}

// userNames caches user names by uid (looked up in /etc/passwd by os/user
// without cgo).
type userNames struct {
	mu    sync.Mutex
	names map[uint32]string
}

// maxUserNames bounds the cache: a machine has few users.
const maxUserNames = 1024

// UserName returns uid's name, or the number when it has none.
func UserName(uid uint32) string { return defaultUsers.name(uid) }

var defaultUsers userNames

func (u *userNames) name(uid uint32) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n, ok := u.names[uid]; ok {
		return n
	}
	id := strconv.FormatUint(uint64(uid), 10)
	n := id
	if usr, err := user.LookupId(id); err == nil && usr.Username != "" {
		n = usr.Username
	}
	if u.names == nil || len(u.names) >= maxUserNames {
		u.names = make(map[uint32]string)
	}
	u.names[uid] = n
	return n
}
