package capture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/bpf"
)

// Defaults for LiveOptions.
//
// The ring defaults were chosen by measurement (TestLiveStorm in
// live_linux_test.go, 20000 short loopback connections, 2 shared cores,
// Linux 6.18). At 10k connections per second (about 60k frames per second)
// a reader that only counts kept up with every ring tried, but what drops
// frames is a reader that stops reading for a while: the retire timer hands
// over a block every one or two timeouts however little is in it, so at
// moderate rates the number of blocks, not their size, decides how long a
// stall the ring absorbs. Kernel drops at 10k connections/s with one stall:
//
//	ring           memory  no stall  100 ms   300 ms   1 s
//	4 MiB × 8      32 MiB  0         6174     20429    61425
//	1 MiB × 32     32 MiB  0         0        0-2426   ~45000
//	512 KiB × 64   32 MiB  0         0        0        23348
//	512 KiB × 128  64 MiB  0         0        0        0
//
// (4 MiB × 8 also dropped 6774 frames flat out, at 16k connections/s, with
// no stall.) 512 KiB is the smallest block that holds a frame of the
// default snap length.
const (
	// DefaultSnapLen is the most bytes kept of each frame. It is larger than
	// the 64 KiB frames TCP puts on loopback, so those are never cut short.
	DefaultSnapLen = 262144
	// DefaultBlockSize is the size of one ring block. A block must hold a
	// whole frame of the snap length plus the ring's headers.
	DefaultBlockSize = 512 << 10
	// DefaultNumBlocks is the number of blocks in the ring.
	DefaultNumBlocks = 64
	// DefaultBlockTimeout is how long the kernel keeps a partly filled
	// block before handing it to the reader, which bounds the latency of a
	// packet on a quiet interface (to about twice this).
	DefaultBlockTimeout = 10 * time.Millisecond
)

// LiveOptions tune a live capture. The zero value is ready to use.
type LiveOptions struct {
	// Filter is an optional classic BPF program, run by the kernel on each
	// frame, in the form libpcap compiles: it ends in RetA or RetConstant,
	// and a return of 0 drops the frame while a positive value keeps at
	// most that many bytes. It sees the frame from the start of the
	// LiveSource's link type (Ethernet for Ethernet and loopback
	// interfaces); on interfaces captured in cooked mode (LINUX_SLL2) it
	// sees the frame from the network header, as for LINKTYPE_RAW.
	// On loopback it runs after a prefix that drops the outgoing copy of
	// every frame, so it never sees a frame twice.
	Filter []bpf.RawInstruction
	// SnapLen is the most bytes kept of each frame; 0 means DefaultSnapLen.
	SnapLen int
	// BlockSize and NumBlocks size the ring shared with the kernel; 0 means
	// DefaultBlockSize and DefaultNumBlocks. BlockSize is rounded up to
	// the page size and must hold a frame of SnapLen bytes.
	BlockSize int
	NumBlocks int
	// BlockTimeout is how long the kernel waits before handing a partly
	// filled block to the reader; 0 means DefaultBlockTimeout. It is kept
	// in whole milliseconds.
	BlockTimeout time.Duration
}

// LiveStats are the kernel's counters for a live capture, cumulative since
// the capture was opened.
type LiveStats struct {
	// Received counts the frames that passed the filter, including the
	// ones the kernel then had to drop (the kernel's tp_packets).
	Received uint64
	// Dropped counts the frames that passed the filter but found no room
	// in the ring because the reader fell behind (tp_drops).
	Dropped uint64
	// QueueFreezes counts the times the ring filled up (tp_freeze_q_cnt).
	QueueFreezes uint64
}

// SLL2HeaderLen is the length of a LINUX_SLL2 header, which a capture of
// every interface puts before each frame's network header.
const SLL2HeaderLen = 20

// AnyInterface names every interface at once, as with tcpdump -i any:
// frames are captured cooked, with a LINUX_SLL2 header naming the
// interface, and loopback's outgoing copies are dropped as on lo.
const AnyInterface = "any"

// ErrPermission is matched by errors.Is when a live capture failed because
// the process lacks the capabilities it needs. The error itself is a
// *PermissionError.
var ErrPermission = errors.New("permission denied")

// PermissionError reports that the process may not open a packet socket.
type PermissionError struct {
	Interface string
	Err       error // the system's error, EPERM or EACCES
}

func (e *PermissionError) Error() string {
	// CAP_NET_RAW is all an AF_PACKET socket, its ring, filter and
	// statistics need; CAP_NET_ADMIN would only be needed for promiscuous
	// mode, which socktrace never asks for.
	return fmt.Sprintf("capture on %s: permission denied: capturing needs CAP_NET_RAW, which this process lacks; "+
		"run as root, or grant it to this program once, after restricting who may run it to a group (chgrp GROUP, chmod 750; see the README): sudo setcap cap_net_raw+ep %s", e.Interface, executablePath())
}

// executablePath is the real path of the running program, for the setcap
// hint (setcap acts on the file, not on a symlink to it).
func executablePath() string {
	exe, err := os.Executable()
	if err != nil {
		return "$(command -v socktrace)"
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return exe
}

// Is reports whether target is ErrPermission.
func (e *PermissionError) Is(target error) bool { return target == ErrPermission }

// Unwrap returns the system's error, so errors.Is(err, os.ErrPermission)
// holds too.
func (e *PermissionError) Unwrap() error { return e.Err }

// ErrNoInterface is matched by errors.Is when a live capture names an
// interface that does not exist. The error itself is an *InterfaceError.
var ErrNoInterface = errors.New("no such interface")

// InterfaceError reports an interface that does not exist, with the ones
// that do.
type InterfaceError struct {
	Name      string
	Available []string // names of the interfaces that exist, in index order
}

func (e *InterfaceError) Error() string {
	if len(e.Available) == 0 {
		return fmt.Sprintf("no interface %q; this system lists no interfaces", e.Name)
	}
	return fmt.Sprintf("no interface %q; interfaces here: %s", e.Name, strings.Join(e.Available, ", "))
}

// Is reports whether target is ErrNoInterface.
func (e *InterfaceError) Is(target error) bool { return target == ErrNoInterface }
