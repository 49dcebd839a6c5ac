package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/internal/sockdiag"
)

// Naming the process of each connection watch sees (--processes, the
// default), and narrowing the report to some processes (--pid, --comm).
//
// An ownerTable maps each socket, by its two addresses, to the process
// that holds it. It learns from two sources: when watch starts, every TCP
// socket of the machine is listed through sock_diag and its holder found
// in /proc (snapshotOwners), so connections that existed before watch are
// named and marked so; afterwards, the eBPF recorder's connect and accept
// calls name each new connection as it is made. With --pid or --comm, a
// connection still unnamed at its first packet is looked up at once,
// through sock_diag and the fds of the processes asked for only: that is
// also how the filters work where eBPF cannot be used.

// Bounds: sockets read from sock_diag at start, sockets the table
// remembers (the oldest are forgotten first: a connection is named at its
// first packet, so a storm only forgets the names it no longer needs),
// and directions whose comments are cached (a few MiB at most).
const (
	maxSnapshotSockets = 1 << 16
	maxOwnedSockets    = 1 << 14
	maxCachedComments  = 1 << 12
)

// sockKey names a socket by its local and remote addresses.
type sockKey struct{ local, remote netip.AddrPort }

// ownerTable is safe for concurrent use.
type ownerTable struct {
	mu     sync.Mutex
	owners map[sockKey]decode.Owner
	order  []sockKey // insertion order, a ring of maxOwnedSockets
	next   int
	// before holds the holders the start-up snapshot found, apart from
	// owners: every process's new connections cycle owners (a storm of
	// them once pushed out a connection that existed before watch, whose
	// packets then lost "existed before watch started"), while these
	// are few (at most maxSnapshotSockets) and stay until a new
	// connection takes their 4-tuple.
	before map[sockKey]decode.Owner
	// fresh holds the sockets the recorder named as new connections
	// (connect, accept) while the snapshot was being read (snapshotting):
	// the snapshot lists them too, but they are not older than watch.
	fresh        map[sockKey]bool
	snapshotting bool
	users        map[int]userOf // uid and user name by pid, for the recorder's calls
	// callComms are the process names the recorder's calls carried, by
	// pid: a kernel event gives a pid alone, and when the recorder is
	// read late its process may have exited, leaving nothing in /proc to
	// name it; the socket call that came before the event still does.
	callComms map[int]string
	// listeners are the addresses listening sockets were bound to:
	// they tell a connection's server when its handshake was not seen.
	listeners map[netip.AddrPort]bool

	// comments caches the pcapng comments of each direction of a
	// connection (sender's socket key); gen invalidates them.
	comments map[sockKey]cachedComments
	gen      uint64

	// clock is the latest time the recorder has reported (a call's
	// return, a kernel event): every report the kernel queued before
	// it has been read. advanced is signalled when it moves.
	clock    time.Time
	advanced *sync.Cond
}

type userOf struct {
	uid  uint32
	name string
	comm string
}

type cachedComments struct {
	gen      uint64
	comments []string
}

func newOwnerTable() *ownerTable {
	t := &ownerTable{owners: make(map[sockKey]decode.Owner), before: make(map[sockKey]decode.Owner), fresh: make(map[sockKey]bool), snapshotting: true, users: make(map[int]userOf), comments: make(map[sockKey]cachedComments),
		listeners: make(map[netip.AddrPort]bool), callComms: make(map[int]string)}
	t.advanced = sync.NewCond(&t.mu)
	return t
}

// put records o as the holder of the socket k; replace says whether it
// takes the place of a holder already known (a new connection on a
// reused 4-tuple) or only fills a gap.
func (t *ownerTable) put(k sockKey, o decode.Owner, replace bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.before[k]; ok && replace {
		// A new connection on the 4-tuple of one that existed before.
		delete(t.before, k)
		t.gen++
	}
	if replace && t.snapshotting && len(t.fresh) < maxOwnedSockets {
		t.fresh[k] = true
	}
	if old, ok := t.owners[k]; ok {
		if old.PID == o.PID {
			// The same process, learnt twice: keep what either knew.
			// A kernel event names the pid and a call brings the name;
			// or the recorder's report of a connection comes after the
			// process has gone (its events are read in batches), when
			// /proc no longer has its name, and must not wipe out the
			// name a lookup found while it ran.
			base, more := old, o
			if replace {
				base, more = o, old
			}
			if base.Comm == "" {
				base.Comm = more.Comm
			}
			if base.User == "" {
				base.UID, base.User = more.UID, more.User
			}
			o, replace = base, true
		}
		if !replace || old == o {
			return
		}
		t.owners[k] = o
		t.gen++
		return
	}
	if len(t.order) < maxOwnedSockets {
		t.order = append(t.order, k)
	} else {
		delete(t.owners, t.order[t.next])
		t.order[t.next] = k
		t.next = (t.next + 1) % maxOwnedSockets
	}
	t.owners[k] = o
	t.gen++
}

// putBefore records o, found by the start-up snapshot, as the holder of
// the socket k, which existed before watch started.
func (t *ownerTable) putBefore(k sockKey, o decode.Owner) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fresh[k] {
		return // made while the snapshot was read: not older than watch
	}
	t.before[k] = o
	t.gen++
}

func (t *ownerTable) get(k sockKey) (decode.Owner, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lookup(k)
}

// lookup is get with t.mu held: the holder the recorder named, marked as
// older than watch when the snapshot found the socket (and with what the
// snapshot knew of the same process), or else the snapshot's.
func (t *ownerTable) lookup(k sockKey) (decode.Owner, bool) {
	o, ok := t.owners[k]
	b, old := t.before[k]
	switch {
	case !old:
		return o, ok
	case !ok:
		return b, true
	}
	if o.PID == b.PID {
		if o.Comm == "" {
			o.Comm = b.Comm
		}
		if o.User == "" {
			o.UID, o.User = b.UID, b.User
		}
	}
	o.Before, o.State = true, b.State
	return o, true
}

// attribute fills c's unknown owners from the table, and the name or user
// of a known one the table learnt since: a kernel event gives the pid
// alone once the process has exited, and the recorder's call that names
// it may come later, still before the connection ends.
func (t *ownerTable) attribute(c *decode.Connection) {
	for side, k := range [2]sockKey{{c.Client, c.Server}, {c.Server, c.Client}} {
		o := c.Owner(decode.Side(side))
		if o.Known() && o.Comm != "" && o.User != "" {
			continue
		}
		learnt, ok := t.get(k)
		switch {
		case !ok:
		case !o.Known():
			if learnt.Comm == "" {
				learnt.Comm = t.commOf(learnt.PID)
			}
			c.SetOwner(decode.Side(side), learnt)
		case learnt.PID == o.PID:
			if o.Comm == "" {
				o.Comm = learnt.Comm
			}
			if o.Comm == "" {
				o.Comm = t.commOf(o.PID)
			}
			if o.User == "" {
				o.UID, o.User = learnt.UID, learnt.User
			}
			c.SetOwner(decode.Side(side), o)
		}
	}
}

// maxListeners bounds the listening addresses remembered.
const maxListeners = 1 << 12

// addListener records that a socket listens on a.
func (t *ownerTable) addListener(a netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.listeners) < maxListeners {
		t.listeners[netip.AddrPortFrom(a.Addr().Unmap(), a.Port())] = true
	}
}

// listening says whether a socket listened on a, or on every address
// (0.0.0.0 or ::) at a's port: decode.TrackerConfig.Listening.
func (t *ownerTable) listening(a netip.AddrPort) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.listeners[a] || t.listeners[netip.AddrPortFrom(netip.IPv4Unspecified(), a.Port())] ||
		t.listeners[netip.AddrPortFrom(netip.IPv6Unspecified(), a.Port())]
}

// observeCall learns from one of the recorder's calls: connect and accept
// start a socket's connection and name its holder; any other call on a
// connected socket names it when nothing else did.
func (t *ownerTable) observeCall(ev *calls.Event) {
	if ev.PID != 0 && ev.Comm != "" && !ev.Inferred {
		t.learnComm(ev.PID, ev.Comm)
	}
	if ev.Call == calls.Listen && ev.Errno == 0 && ev.Local.IsValid() {
		t.addListener(ev.Local)
		return
	}
	if ev.PID == 0 || ev.Inferred || !ev.Local.IsValid() || !ev.Remote.IsValid() || ev.Errno != 0 && ev.Call != calls.Connect {
		return
	}
	o := decode.Owner{PID: ev.PID, Comm: ev.Comm}
	o.UID, o.User, _ = t.userOf(ev.PID)
	t.put(sockKey{ev.Local, ev.Remote}, o, ev.Call == calls.Connect || ev.Call == calls.Accept)
}

// observeKernel learns from one of the recorder's kernel events: a socket
// entering SYN_SENT is a new connection of the process that connects
// (the event comes before the SYN leaves, so it names the connection
// before its first packet); other events name a socket nothing else did.
func (t *ownerTable) observeKernel(ev *calls.KernelEvent) {
	if ev.PID == 0 || !ev.Local.IsValid() || !ev.Remote.IsValid() || ev.Remote.Port() == 0 {
		return
	}
	newConn := ev.Kind == calls.KernelState && ev.To == calls.TCPSynSent
	k := sockKey{ev.Local, ev.Remote}
	if !newConn {
		if _, ok := t.get(k); ok {
			return
		}
	}
	var o decode.Owner
	o.PID = ev.PID
	o.UID, o.User, o.Comm = t.userOf(ev.PID)
	t.put(k, o, newConn)
}

// tick moves the recorder's clock to at, a time it reported.
func (t *ownerTable) tick(at time.Time) {
	t.mu.Lock()
	if at.After(t.clock) {
		t.clock = at
		t.advanced.Broadcast()
	}
	t.mu.Unlock()
}

// waitClock waits until the recorder has reported a time at or after at,
// for at most max; it says whether it has.
func (t *ownerTable) waitClock(at time.Time, max time.Duration) bool {
	timer := time.AfterFunc(max, func() {
		t.mu.Lock()
		t.advanced.Broadcast()
		t.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(max)
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.clock.Before(at) {
		if !time.Now().Before(deadline) {
			return false
		}
		t.advanced.Wait()
	}
	return true
}

// commOf is the name a call of process pid carried, if one did.
func (t *ownerTable) commOf(pid int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.callComms[pid]
}

// maxUsersCached bounds the pid → user cache.
const maxUsersCached = 4096

// learnComm remembers the name a call of the process pid carried.
func (t *ownerTable) learnComm(pid int, comm string) {
	if pid == 0 || comm == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.callComms[pid] == comm {
		return
	}
	if len(t.callComms) >= maxUsersCached {
		// Forget a quarter, at random (map order): clearing all would
		// forget the pids just exited too, the ones this is for.
		n := maxUsersCached / 4
		for p := range t.callComms {
			delete(t.callComms, p)
			if n--; n == 0 {
				break
			}
		}
	}
	t.callComms[pid] = comm
}

// userOf is the uid, user name and comm of the process pid, cached by
// pid; when it has gone, the comm its last call carried, if any, and no
// user.
func (t *ownerTable) userOf(pid int) (uint32, string, string) {
	t.mu.Lock()
	u, ok := t.users[pid]
	t.mu.Unlock()
	if ok {
		return u.uid, u.name, u.comm
	}
	p, err := sockdiag.ReadProcess(pid)
	if err != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		return 0, "", t.callComms[pid]
	}
	t.mu.Lock()
	if len(t.users) >= maxUsersCached {
		clear(t.users)
	}
	t.users[pid] = userOf{p.UID, p.User, p.Comm}
	t.mu.Unlock()
	return p.UID, p.User, p.Comm
}

// snapshotOwners lists the machine's TCP sockets and their holders, and
// records each connected socket's holder as one that existed before watch
// started, with its state then. It returns how many sockets it named and
// whether there were more sockets than it reads.
func (t *ownerTable) snapshot(ctx context.Context) (named int, truncated bool, err error) {
	defer func() {
		t.mu.Lock()
		t.snapshotting, t.fresh = false, nil
		t.mu.Unlock()
	}()
	socks, truncated, err := sockdiag.Dump(maxSnapshotSockets)
	if err != nil {
		return 0, truncated, fmt.Errorf("listing the sockets that exist already: %w", err)
	}
	inodes := make(map[uint64]bool)
	for _, s := range socks {
		if s.State == calls.TCPListen {
			t.addListener(s.Local)
		}
		if s.Inode != 0 && s.Remote.Port() != 0 {
			inodes[s.Inode] = true
		}
	}
	holders, err := sockdiag.Owners(ctx, inodes, nil)
	if err != nil {
		return 0, truncated, fmt.Errorf("finding the processes of the sockets that exist already: %w", err)
	}
	for _, s := range socks {
		ps := holders[s.Inode]
		if s.Inode == 0 || len(ps) == 0 || s.Remote.Port() == 0 {
			continue
		}
		p := ps[0] // the lowest pid: the parent of a socket shared over fork
		t.putBefore(sockKey{s.Local, s.Remote}, decode.Owner{PID: p.PID, Comm: p.Comm, UID: p.UID, User: p.User, Before: true, State: s.State})
		named++
	}
	return named, truncated, nil
}

// packetComments are the pcapng comments naming the processes of a
// packet from src to dst: the sender's, then the receiver's, where known.
// They are cached per direction until the table changes, so that a packet
// costs a map lookup.
func (t *ownerTable) packetComments(src, dst netip.AddrPort) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := sockKey{src, dst}
	if cc, ok := t.comments[k]; ok && cc.gen == t.gen {
		return cc.comments
	}
	var comments []string
	if o, ok := t.lookup(k); ok {
		comments = append(comments, processComment(&o, "sent", src))
	}
	if o, ok := t.lookup(sockKey{dst, src}); ok {
		comments = append(comments, processComment(&o, "received", dst))
	}
	if len(t.comments) >= maxCachedComments {
		clear(t.comments)
	}
	t.comments[k] = cachedComments{t.gen, comments}
	return comments
}

// processCommentPrefix starts the pcapng comment that names a packet's
// process, as ptcpdump's do; replay passes over it (it is not a call).
const processCommentPrefix = "socktrace process: "

// processComment names o as the process that sent or received a packet
// at addr: "socktrace process: curl[6679] (user root) sent it from
// 127.0.0.1:41234", and for a connection older than the watch, "; the
// connection existed before watch started (ESTABLISHED then)".
func processComment(o *decode.Owner, verb string, addr netip.AddrPort) string {
	var b strings.Builder
	b.WriteString(processCommentPrefix)
	fmt.Fprintf(&b, "%s[%d]", o.Comm, o.PID)
	if o.User != "" {
		fmt.Fprintf(&b, " (user %s)", o.User)
	}
	if verb == "sent" {
		fmt.Fprintf(&b, " sent it from %s", addr)
	} else {
		fmt.Fprintf(&b, " received it at %s", addr)
	}
	if o.Before {
		fmt.Fprintf(&b, "; the connection existed before watch started (%s then)", o.State)
	}
	ev := calls.Event{Comm: b.String()}
	ev.Neutralise() // Wireshark shows a comment as it is
	return ev.Comm
}

// procFilter is --pid and --comm: a connection is kept when either side's
// process is the one asked for (--pid, threads included) or has one of the
// names asked for (--comm).
type procFilter struct {
	pid   int
	comms map[string]bool
}

// parseProcFilter reads --pid and --comm; nil when neither is given.
func parseProcFilter(pidSet bool, pid int, comm string, processes bool) (*procFilter, error) {
	if !pidSet && comm == "" {
		return nil, nil
	}
	if !processes {
		return nil, usagef("--pid and --comm need the processes of the connections: leave out --processes=false")
	}
	f := &procFilter{}
	if pidSet {
		if pid <= 0 {
			return nil, usagef("--pid %d is not a process ID", pid)
		}
		tgid, err := threadGroup(pid)
		if err != nil {
			return nil, usagef("--pid %d: no such process", pid)
		}
		f.pid = tgid
	}
	if comm != "" {
		f.comms = make(map[string]bool)
		for _, name := range strings.Split(comm, ",") {
			name = strings.TrimSpace(name)
			switch {
			case name == "":
				return nil, usagef("--comm %q has an empty name: give names separated by commas, such as --comm curl,python3", comm)
			case len(name) > 15:
				return nil, usagef("--comm %q: the kernel keeps 15 bytes of a process name (/proc/PID/comm), so %q would never match; give the first 15: %q", comm, name, name[:15])
			}
			f.comms[name] = true
		}
	}
	return f, nil
}

// threadGroup returns the process (thread group) of the task id, a
// process or one of its threads.
func threadGroup(id int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(id) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no Tgid", id)
}

func (f *procFilter) matches(o *decode.Owner) bool {
	return o.Known() && (f.pid != 0 && o.PID == f.pid || f.comms[o.Comm])
}

// candidates lists the processes a connection may belong to, to look it
// up in their fds.
func (f *procFilter) candidates() []int {
	var pids []int
	if f.pid != 0 {
		pids = append(pids, f.pid)
	}
	if f.comms != nil {
		more, _ := sockdiag.PIDsByComm(f.comms)
		for _, p := range more {
			if p != f.pid {
				pids = append(pids, p)
			}
		}
	}
	return pids
}

// ownerHandler names each connection's processes (and filters them) on
// the way to the report. It decides at a connection's first segment, so
// that a streamed report shows only what it keeps.
type ownerHandler struct {
	next   decode.Handler
	table  *ownerTable
	filter *procFilter // nil: keep every connection
	// recording is set while the eBPF recorder reports: a connection
	// not named may then wait for it to catch up (recorderLag).
	recording bool
	// local says whether an address is this machine's, on the watched
	// interface: only such a connection may wait for the recorder.
	local func(netip.AddrPort) bool

	// kept holds the decision for each open connection, by ID, and
	// keptPair the same by its two addresses (client, server), for the
	// packets --write keeps.
	kept     map[int]bool
	keptPair map[sockKey]bool
	leftOut  int64
	// named holds the processes of each open connection kept, by its two
	// addresses (client, server), as decided at its first segment: the
	// table forgets the oldest sockets first, and a storm of other
	// connections (everyone's are recorded) can make it forget one still
	// open, whose later packets would lose their comments.
	named map[sockKey][2]decode.Owner
}

func newOwnerHandler(next decode.Handler, table *ownerTable, filter *procFilter) *ownerHandler {
	return &ownerHandler{next: next, table: table, filter: filter, kept: make(map[int]bool), keptPair: make(map[sockKey]bool),
		named: make(map[sockKey][2]decode.Owner)}
}

func (h *ownerHandler) Segment(c *decode.Connection, st *decode.Step) {
	keep, ok := h.kept[c.ID]
	if !ok {
		keep = h.decide(c)
		h.kept[c.ID] = keep
		h.keptPair[sockKey{c.Client, c.Server}] = keep
		if keep {
			h.named[sockKey{c.Client, c.Server}] = [2]decode.Owner{c.Owner(decode.Client), c.Owner(decode.Server)}
		}
	}
	if keep {
		h.next.Segment(c, st)
	}
}

// packetComments are the comments naming the processes of a packet from
// src to dst: the table's, or, when it has forgotten them, those its
// connection was given at its first segment.
func (h *ownerHandler) packetComments(src, dst netip.AddrPort) []string {
	if comments := h.table.packetComments(src, dst); len(comments) > 0 {
		return comments
	}
	var sender, receiver decode.Owner
	if o, ok := h.named[sockKey{src, dst}]; ok {
		sender, receiver = o[decode.Client], o[decode.Server]
	} else if o, ok := h.named[sockKey{dst, src}]; ok {
		sender, receiver = o[decode.Server], o[decode.Client]
	} else {
		return nil
	}
	var comments []string
	if sender.Known() {
		comments = append(comments, processComment(&sender, "sent", src))
	}
	if receiver.Known() {
		comments = append(comments, processComment(&receiver, "received", dst))
	}
	return comments
}

func (h *ownerHandler) Ended(c *decode.Connection) {
	keep, ok := h.kept[c.ID]
	delete(h.kept, c.ID)
	delete(h.keptPair, sockKey{c.Client, c.Server})
	delete(h.named, sockKey{c.Client, c.Server})
	if !ok {
		keep = h.decide(c)
	}
	if !keep {
		h.leftOut++
		return
	}
	h.table.attribute(c) // owners learnt since the first segment
	h.next.Ended(c)
}

// keepsPacket says whether a packet from src to dst belongs to a
// connection the filter keeps (always, without a filter). Call it after
// the tracker has seen the packet.
func (h *ownerHandler) keepsPacket(src, dst netip.AddrPort) bool {
	if h.filter == nil {
		return true
	}
	if keep, ok := h.keptPair[sockKey{src, dst}]; ok {
		return keep
	}
	return h.keptPair[sockKey{dst, src}]
}

// decide names c's processes and says whether the filter keeps it.
func (h *ownerHandler) decide(c *decode.Connection) bool {
	h.table.attribute(c)
	f := h.filter
	if f == nil {
		return true
	}
	client, server := c.Owner(decode.Client), c.Owner(decode.Server)
	if f.matches(&client) || f.matches(&server) {
		if h.recording && (client.Known() && client.Comm == "" || server.Known() && server.Comm == "") {
			// Kept by its pid, but a name is missing: the pid came
			// from a kernel event read after the process exited,
			// and its connect() or accept(), which names it, is
			// right behind in the recorder's ring.
			h.table.waitClock(c.Start, recorderLag)
			h.table.attribute(c)
		}
		return true
	}
	// Both named, and neither is the process asked for. A name may be
	// missing, though (a pid from a kernel event, read after the process
	// exited, with no call of its seen): then it is not known yet that
	// the process is not one of the names asked for.
	if client.Known() && server.Known() && (f.comms == nil || client.Comm != "" && server.Comm != "") {
		return false
	}
	// Not named yet: the recorder's report may still be on its way, or
	// there is no recorder. Ask the kernel for the sockets and look for
	// them among the processes asked for.
	if h.lookup(c) {
		return true
	}
	if !h.recording || h.local != nil && !h.local(c.Client) && !h.local(c.Server) {
		return false
	}
	// The sockets have closed already (the capture is behind): the
	// recorder named them, if it has caught up with the first packet.
	h.table.waitClock(c.Start, recorderLag)
	h.table.attribute(c)
	client, server = c.Owner(decode.Client), c.Owner(decode.Server)
	return f.matches(&client) || f.matches(&server)
}

// recorderLag bounds how long a connection's first packet waits for the
// recorder to report what happened up to it (a loaded machine reads the
// recorder late; a quiet one reports nothing that moves its clock).
const recorderLag = 2 * time.Second

// lookup looks c's unnamed sockets up through sock_diag among the
// processes the filter asks for, and says whether one is theirs.
func (h *ownerHandler) lookup(c *decode.Connection) bool {
	f := h.filter
	var pids []int
	for side, k := range [2]sockKey{{c.Client, c.Server}, {c.Server, c.Client}} {
		if o := c.Owner(decode.Side(side)); o.Known() {
			continue
		}
		s, ok, err := sockdiag.Find(k.local, k.remote)
		if err != nil || !ok || s.Inode == 0 {
			continue
		}
		if pids == nil {
			if pids = f.candidates(); len(pids) == 0 {
				return false
			}
		}
		holders, err := sockdiag.Owners(context.Background(), map[uint64]bool{s.Inode: true}, pids)
		if err != nil || len(holders[s.Inode]) == 0 {
			continue
		}
		p := holders[s.Inode][0]
		o := decode.Owner{PID: p.PID, Comm: p.Comm, UID: p.UID, User: p.User}
		h.table.put(k, o, false)
		c.SetOwner(decode.Side(side), o)
		if f.matches(&o) {
			return true
		}
	}
	return false
}
