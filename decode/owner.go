package decode

import "github.com/socktrace/socktrace/calls"

// Owner is the process that held one side's socket, as found outside the
// packets: by watch, from the eBPF recorder's calls or from sock_diag and
// /proc (a connection that existed before watch started). The zero Owner
// is an unknown one.
type Owner struct {
	PID  int
	Comm string // as in /proc/PID/comm
	UID  uint32
	User string // UID's name, or its number; "" when not known
	// Before is set when the socket existed before socktrace started
	// watching; State is the kernel's state of the socket then.
	Before bool
	State  calls.TCPState
}

// Known reports whether the owner was found.
func (o *Owner) Known() bool { return o.PID != 0 }

// Owner returns the process that held side's socket; the zero Owner when
// it is not known.
func (c *Connection) Owner(side Side) Owner {
	if c.Owners == nil {
		return Owner{}
	}
	return c.Owners[side]
}

// SetOwner records the process that held side's socket.
func (c *Connection) SetOwner(side Side, o Owner) {
	if c.Owners == nil {
		c.Owners = new([2]Owner)
	}
	c.Owners[side] = o
}
