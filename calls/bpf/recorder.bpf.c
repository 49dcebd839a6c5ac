// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * socktrace's kernel-side recorder: the socket calls of a traced process
 * tree and the kernel's own view of its TCP connections (state changes,
 * retransmissions, resets, socket errors), sent to user space through one
 * ring buffer. bpf_recorder_linux.go loads it; recorder.go turns the
 * records into calls.Event and calls.KernelEvent values.
 *
 * Which processes. A tgid is traced when it is in the `procs` map: user
 * space puts the --pid process there; the sched_process_fork hook adds
 * the command, forked by a socktrace thread marked in `adopters`, and
 * every child of a traced process, each before it first runs, so nothing
 * the tree does is missed; sched_process_exit
 * removes a process when its last thread exits. (A cgroup would filter as
 * well, but it means moving the program into a cgroup of ours, which
 * changes its resource limits and is impossible for --pid without
 * touching a process we were only asked to watch.) In `trace_all` mode
 * every process is recorded (watch).
 *
 * Which sockets. A TCP socket (IPv4, IPv6, MPTCP) is tracked in `socks`
 * from the first call a traced process makes on it; a listener's port is
 * kept in `listeners` so that the connections the kernel creates for it
 * (before accept returns them) are tracked from their first state. The
 * kernel events (which run in softirq, in whatever process happens to be
 * on the CPU) are filtered by these maps, never by the current pid.
 *
 * The calls are caught at the raw_syscalls sys_enter/sys_exit
 * tracepoints (as tp_btf programs: the registers, read per architecture
 * with CO-RE, see syscall_args); user space fills `nr_kinds` with this
 * architecture's system call numbers.
 *
 * Wake-ups. Every record is submitted without waking the reader
 * (BPF_RB_NO_WAKEUP): the reader polls the ring on a timer, more often
 * while records flow. Waking it costs an irq_work per record, which on a
 * virtual machine is an APIC write and so a VM exit, and it is useless
 * exactly when the reader is behind. The one exception is the record that
 * makes the ring cross wakeup_bytes: it wakes the reader early, once per
 * crossing (two CPUs racing past the mark can both miss it; the timer
 * reads the ring anyway).
 *
 * Cost. Every system call of every process goes through sys_enter and
 * sys_exit, and every TCP state change on the machine through set_state,
 * so their common paths are short: sys_enter looks the call's number up
 * (an array the verifier inlines) before the process; sys_exit looks only
 * at the thread's own pending call (task storage, empty for any thread
 * that is not in a socket call of a traced process). Kernel structures are
 * read with direct loads through BTF pointers (bpf_get_current_task_btf,
 * the tp_btf arguments, bpf_rdonly_cast), which the JIT compiles inline,
 * rather than one bpf_probe_read_kernel call per field. A socket is added
 * to `socks` only when it is not there yet. Kernel records (state changes,
 * retransmissions, resets, errors) are the first KERNEL_RECORD_SIZE bytes
 * of struct event: half a call's record, without its call fields.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* What a record is (struct event.type). */
enum record_type {
	REC_CALL = 1,
	REC_STATE = 2,          /* a = old state, b = new state */
	REC_RETRANSMIT = 3,
	REC_RETRANSMIT_SYNACK = 4,
	REC_RESET_SENT = 5,
	REC_RESET_RECEIVED = 6,
	REC_SOCK_ERROR = 7,     /* a = errno */
	REC_FORK = 8,           /* pid = parent tgid, a = child tgid */
	REC_EXIT = 9,           /* pid = tgid whose last thread exited, ret = wait status */
	REC_PACKET = 10,        /* struct packet_record */
};

/* The calls (struct event.call, and the values of nr_kinds). */
enum call_kind {
	CALL_NONE = 0,
	CALL_SOCKET,
	CALL_BIND,
	CALL_LISTEN,
	CALL_CONNECT,
	CALL_ACCEPT,
	CALL_ACCEPT4,
	CALL_SHUTDOWN,
	CALL_CLOSE,
	CALL_SETSOCKOPT,
	CALL_READ,
	CALL_WRITE,
	CALL_SENDTO,
	CALL_SENDMSG,
	CALL_RECVFROM,
	CALL_RECVMSG,
	CALL_MAX,
};

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define IPPROTO_MPTCP 262
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SOL_SOCKET 1
#define SO_LINGER 13
#define MSG_FASTOPEN 0x20000000
#define TS_COMPAT 0x0002
#define TCP_FIN_WAIT1 4
#define TCP_FIN_WAIT2 5
#define TCP_TIME_WAIT 6
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define TCP_CLOSING 11
#define MAX_NR 1024
#define SIGNAL_GROUP_EXIT 0x00000004

/*
 * One record. Addresses are in network byte order, IPv4 in the first four
 * bytes; ports in host byte order. Kernel records are the fields before
 * exit_ns only (KERNEL_RECORD_SIZE); calls, forks and exits are whole.
 */
struct event {
	u64 enter_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns); the time of a kernel event */
	u64 sock;      /* the struct sock's address: an identity while it lives */
	u32 type;
	u32 pid;
	u32 a, b;      /* per call: socket domain/type, listen backlog, accept4
	                  flags, shutdown how, linger onoff/linger, send/recv
	                  flags; per record */
	u16 family;
	u16 lport, rport;
	u8 state;      /* the socket's TCP state when it was read */
	u8 addr_ok;    /* sockaddr holds the bind/connect address */
	u8 laddr[16], raddr[16];
	/* Calls, forks and exits only. */
	u64 exit_ns;   /* 0 for kernel events */
	s64 ret;
	u32 call;
	u32 tid;
	s32 fd;
	u8 sockaddr[28]; /* raw struct sockaddr_in/in6 given to bind or connect */
	char comm[16];   /* the process's (thread group leader's) name */
};

#define KERNEL_RECORD_SIZE __builtin_offsetof(struct event, exit_ns)

/* Makes struct event part of the object's BTF, for bpf2go's Go type. */
const struct event *unused_event __attribute__((unused));

/* What sys_enter leaves for sys_exit, in the thread's task storage. */
struct pending {
	u64 enter_ns;
	u64 sock;
	u64 args[6];
	u32 kind; /* CALL_NONE: no call pending */
	u32 nr;   /* the system call's number: its exit must be the same call's */
	s32 fd;
	u16 family, lport, rport;
	u8 state;
	u8 addr_ok;
	u8 laddr[16], raddr[16];
	u8 sockaddr[28];
	u8 linger[8];
};

/* Set by user space before loading. */
volatile const u32 trace_all = 0;
/* Wake the reader when the ring's fill crosses this (0: never). */
volatile const u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* Records that did not fit in the ring buffer, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} dropped SEC(".maps");

/* Traced processes, by tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u8);
} procs SEC(".maps");

/* Threads of socktrace about to start the traced command, by tid: the
 * process such a thread forks is traced from birth (process_fork). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u8);
} adopters SEC(".maps");

/* System call number → call_kind, for this architecture. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_NR);
	__type(key, u32);
	__type(value, u32);
} nr_kinds SEC(".maps");

/* The socket call each thread is in. Task storage rather than a hash by
 * tid: it is found through the task itself (no hashing, no allocation or
 * free per call once the thread has one), a thread that makes no socket
 * call has none, and it goes away with its thread. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending);
} pendings SEC(".maps");

/* A tracked socket: its owner, and the local port it holds a count of in
 * `ports` (0: none yet). */
struct sock_own {
	u32 owner;
	u32 listening; /* counted in `listeners` by its listen() */
	u64 port; /* 64 bits: the atomics of BPF's first instruction set */
};

/* Tracked sockets (struct sock address) → struct sock_own. An entry goes
 * when its socket's state changes to CLOSE (every connected or listening
 * socket ends so, whoever closes it) or when a socket that never left
 * CLOSE is closed. A plain hash, created without preallocation by user
 * space (BPF_F_NO_PREALLOC, see lazyMaps): an LRU map is always
 * preallocated, which took 25-90 ms of the start for 65536 entries. (Not
 * socket local storage, which would spare the hashing: a socket found
 * through the descriptor table is an untrusted pointer, which
 * bpf_sk_storage_get refuses.) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u64);
	__type(value, struct sock_own);
} socks SEC(".maps");

/* Local ports of tracked listening sockets → their owner and how many of
 * them listen there (SO_REUSEPORT lets several): the entry goes when the
 * last of them changes state to CLOSE. */
struct listen_mark {
	u32 owner;
	u32 pad;
	u64 count; /* 64 bits: see sock_own */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u16);
	__type(value, struct listen_mark);
} listeners SEC(".maps");

/* The kernel-side packet capture (capture_xmit, capture_receive; see
 * the comment above them). Local ports of the traced tree's TCP sockets,
 * indexed by port: a packet is recorded when its local port is marked.
 * An array, so that the check every TCP packet on the machine pays is two
 * inlined lookups. A port is marked while tracked sockets hold it (refs
 * counts them, each once: struct sock_own.port) and for a linger after
 * the last of them closed; user space marks the ports of sockets a
 * --pid process held before the recording (refs 0: they are let go only
 * when one of them is tracked and closes). */
struct port_mark {
	u32 owner;     /* the tgid that marked it; 0: never marked */
	u32 pad;
	u64 until_ns;  /* 0: marked; else marked until then (bpf_ktime_get_ns) */
	u64 refs;      /* tracked sockets holding the port (64 bits: see sock_own) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, struct port_mark);
} ports SEC(".maps");

/* Packets that did not fit in the ring buffer, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} packets_dropped SEC(".maps");

/* Capture only on this interface (0: every interface); set by user space
 * when the capture starts (a global, not a constant: the programs are
 * loaded before the interface is known). */
volatile u32 capture_ifindex = 0;

/* How long a port stays marked for the capture after the last socket
 * holding it closed: an active closer's port sees its peer's last
 * segments for TIME_WAIT's 60 s; any other only late segments (a
 * retransmission in flight, the reset answering it). */
#define LINGER_TIME_WAIT_NS (61ULL * 1000000000ULL)
#define LINGER_NS (3ULL * 1000000000ULL)

/* Takes a socket's count off its port; the last one out starts the
 * port's linger, unless a listener has it (a --pid process's listener
 * from before the recording, which holds no count). */
static __always_inline void release_port(u16 port, bool active)
{
	u32 key = port;
	struct port_mark *m = bpf_map_lookup_elem(&ports, &key);
	if (!m)
		return;
	u64 before = __sync_fetch_and_add(&m->refs, -1);
	if (before == 0) {
		/* Not counted after all (a count lost to a race): undo. */
		__sync_fetch_and_add(&m->refs, 1);
		return;
	}
	if (before != 1 || m->until_ns || bpf_map_lookup_elem(&listeners, &port))
		return;
	m->until_ns = bpf_ktime_get_ns() + (active ? LINGER_TIME_WAIT_NS : LINGER_NS);
}

/* Marks a local port as the traced tree's (see ports). */
static __always_inline void mark_port(struct port_mark *m, u32 tgid)
{
	if (m->owner == tgid && m->until_ns == 0)
		return;
	m->owner = tgid;
	m->until_ns = 0;
}

/* Counts socket o as holding local port `port` (once: a socket whose
 * port changes moves its count) and marks the port. For a socket already
 * counted, it only marks it again: a port let go in a race with another
 * socket taking it (release_port) is healed by its next call, state
 * change or segment. No capture when watching (trace_all): no ports. */
static __always_inline void hold_port(struct sock_own *o, u16 port)
{
	if (!port || trace_all)
		return;
	u32 key = port;
	struct port_mark *m = bpf_map_lookup_elem(&ports, &key);
	if (!m)
		return;
	u64 old = o->port;
	if (old != port && __sync_val_compare_and_swap(&o->port, old, port) == old) {
		__sync_fetch_and_add(&m->refs, 1);
		if (old)
			release_port(old, false);
	}
	mark_port(m, o->owner);
}

/*
 * Kernel memory reached through a pointer that the verifier sees as a
 * number, because it was read from memory (a descriptor table's slot, a
 * socket's address kept in a pending call). KCAST gives such a pointer
 * its type; KREAD reads a field through it (KREAD2: a pointer field's
 * field); KCOPY copies n bytes from a field.
 *
 * From kernel 6.2, bpf_rdonly_cast makes it a BTF pointer, whose fields
 * are direct loads the JIT inlines (a fault reads 0). The compat object,
 * built from this file with RECORDER_COMPAT for kernels before 6.2 (see
 * bpf_generate.go), reads each field with bpf_probe_read_kernel instead
 * (which zeroes what it could not read): slower, the same records.
 */
#ifdef RECORDER_COMPAT
#define KCAST(type, p) ((type *)(void *)(p))
#define KREAD(p, f) BPF_CORE_READ(p, f)
#define KREAD2(p, a, b) BPF_CORE_READ(p, a, b)
#define KCOPY(dst, src, n) bpf_core_read(dst, n, src)
#else
extern void *bpf_rdonly_cast(const void *obj, u32 btf_id) __ksym;
#define KCAST(type, p) ((type *)bpf_rdonly_cast((void *)(p), bpf_core_type_id_kernel(type)))
#define KREAD(p, f) ((p)->f)
#define KREAD2(p, a, b) ((p)->a->b)
#define KCOPY(dst, src, n) __builtin_memcpy(dst, src, n)
#endif

static __always_inline void count_drop(void)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&dropped, &zero);
	if (n)
		(*n)++;
}

/* Submits a record of size bytes, waking the reader only if it is the
 * one that takes the ring past wakeup_bytes (a record takes its size and
 * an 8-byte header, both multiples of 8). */
static __always_inline void submit(void *e, u64 size)
{
	u64 flags = BPF_RB_NO_WAKEUP;
	if (wakeup_bytes) {
		u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		if (avail >= wakeup_bytes && avail < wakeup_bytes + size + 8)
			flags = BPF_RB_FORCE_WAKEUP;
	}
	bpf_ringbuf_submit(e, flags);
}

static __always_inline bool traced(u32 tgid)
{
	return trace_all || bpf_map_lookup_elem(&procs, &tgid) != 0;
}

/* The struct sock of descriptor fd of the current process, when it is a
 * TCP socket; 0 otherwise. The descriptor table's slot is read with a
 * helper (an index into it is not a field); the rest with KREAD (direct
 * loads from 6.2, which read 0 where a pointer is NULL). */
static __always_inline struct sock *fd_sock(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	if (fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return 0;
	struct file **fds = fdt->fd;
	struct file *slot = 0;
	bpf_probe_read_kernel(&slot, sizeof(slot), &fds[fd]);
	if (!slot)
		return 0;
	struct file *f = KCAST(struct file, slot);
	if ((KREAD2(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *so = KCAST(struct socket, KREAD(f, private_data));
	struct sock *sk = KCAST(struct sock, KREAD(so, sk));
	if (!sk)
		return 0;
	u16 family = KREAD(sk, __sk_common.skc_family);
	u16 proto = KREAD(sk, sk_protocol);
	u16 type = KREAD(sk, sk_type);
	if ((family != AF_INET && family != AF_INET6) || type != SOCK_STREAM ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_MPTCP))
		return 0;
	return sk;
}

/* A socket address kept in a record or a pending call (see KCAST). */
static __always_inline struct sock *sock_at(u64 addr)
{
	return KCAST(struct sock, addr);
}

/* Fills the address fields of a record from sock_common, which full,
 * request and time-wait sockets all begin with; skc is a BTF pointer or
 * one from KCAST. */
#define READ_ADDRS(dst, skc)                                                           \
	do {                                                                           \
		(dst)->family = KREAD(skc, skc_family);                                \
		(dst)->lport = KREAD(skc, skc_num);                                    \
		(dst)->rport = bpf_ntohs(KREAD(skc, skc_dport));                       \
		(dst)->state = KREAD(skc, skc_state);                                  \
		if ((dst)->family == AF_INET6) {                                       \
			KCOPY((dst)->laddr, &(skc)->skc_v6_rcv_saddr, 16);             \
			KCOPY((dst)->raddr, &(skc)->skc_v6_daddr, 16);                 \
		} else {                                                               \
			__be32 l = KREAD(skc, skc_rcv_saddr), r = KREAD(skc, skc_daddr); \
			__builtin_memcpy((dst)->laddr, &l, 4);                         \
			__builtin_memcpy((dst)->raddr, &r, 4);                         \
		}                                                                      \
	} while (0)

/* The local port getsockname(2) reports: inet_sport stays after the port
 * is released (skc_num is cleared when a listener is shut down). */
static __always_inline u16 sock_port(struct sock *sk, u16 skc_num)
{
	struct inet_sock *inet = KCAST(struct inet_sock, sk);
	u16 sport = bpf_ntohs(KREAD(inet, inet_sport));
	return sport ? sport : skc_num;
}

/* Ties a socket to its process, unless it already is (a lookup is far
 * cheaper than an update, and most calls are on known sockets), and
 * returns its entry. A socket another process of the tree uses (a fork's
 * child, a descriptor passed) changes owner in place: its port count
 * stays its own. */
static __always_inline struct sock_own *track(struct sock *sk, u32 tgid)
{
	u64 key = (u64)sk;
	struct sock_own *o = bpf_map_lookup_elem(&socks, &key);
	if (!o) {
		struct sock_own v = {.owner = tgid};
		bpf_map_update_elem(&socks, &key, &v, BPF_NOEXIST);
		o = bpf_map_lookup_elem(&socks, &key);
		if (!o)
			return 0;
	}
	if (o->owner != tgid)
		o->owner = tgid;
	hold_port(o, KREAD(sk, __sk_common.skc_num));
	return o;
}

/* Is the current system call an i386 one on a 64-bit kernel? Its numbers
 * are not this architecture's: skip it (the ptrace tracer handles them). */
static __always_inline bool compat_call(struct task_struct *task)
{
	if (!bpf_core_field_exists(struct thread_info, status))
		return false;
	return (task->thread_info.status & TS_COMPAT) != 0;
}

/* The six arguments of the system call entered with regs. */
static __always_inline void syscall_args(struct pt_regs *regs, u64 *args)
{
	if (bpf_core_field_exists(struct pt_regs___x86_64, di)) {
		struct pt_regs___x86_64 *r = (void *)regs;
		args[0] = r->di;
		args[1] = r->si;
		args[2] = r->dx;
		args[3] = r->r10;
		args[4] = r->r8;
		args[5] = r->r9;
	} else {
		struct pt_regs___arm64 *r = (void *)regs;
		for (int i = 0; i < 6; i++)
			args[i] = r->regs[i];
	}
}

/* The number of the system call that is returning (what the
 * raw_syscalls:sys_exit tracepoint calls its id): -1 after rt_sigreturn,
 * which restores the registers of the interrupted code. */
static __always_inline long syscall_nr(struct pt_regs *regs)
{
	if (bpf_core_field_exists(struct pt_regs___x86_64, orig_ax))
		return (long)((struct pt_regs___x86_64 *)(void *)regs)->orig_ax;
	return ((struct pt_regs___arm64 *)(void *)regs)->syscallno;
}

/* The system call tracepoints are attached as tp_btf (raw) programs: they
 * get the registers and the number as they are, where a classic
 * tracepoint program gets a copy of all six arguments that the kernel
 * makes, in a perf buffer, for every system call of every process. */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long nr)
{
	/* The call first: an array lookup, where the process is a hash's. */
	if (nr < 0 || nr >= MAX_NR)
		return 0;
	u32 key = nr;
	u32 *kindp = bpf_map_lookup_elem(&nr_kinds, &key);
	if (!kindp || *kindp == CALL_NONE)
		return 0;
	u32 kind = *kindp;
	/* The arguments are registers: what they rule out (a UDP socket(),
	 * setsockopt of anything but SO_LINGER: a Go program makes ten a
	 * connection) is ruled out before the process's hash lookup. */
	u64 args[6];
	syscall_args(regs, args);
	u64 arg0 = args[0], arg1 = args[1], arg2 = args[2];
	if (kind == CALL_SOCKET) {
		u32 domain = arg0, type = arg1;
		if ((domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM)
			return 0;
	}
	if (kind == CALL_SETSOCKOPT && ((s32)arg1 != SOL_SOCKET || (s32)arg2 != SO_LINGER))
		return 0;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!traced(tgid))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (compat_call(task))
		return 0;

	struct sock *sk = 0;
	if (kind != CALL_SOCKET) {
		sk = fd_sock((s32)arg0);
		if (!sk)
			return 0;
		track(sk, tgid);
	}

	struct pending *p = bpf_task_storage_get(&pendings, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p)
		return 0;
	__builtin_memset(p, 0, sizeof(*p));
	p->enter_ns = bpf_ktime_get_ns();
	p->kind = kind;
	p->nr = nr;
	p->args[0] = arg0;
	p->args[1] = arg1;
	p->args[2] = arg2;
	p->args[3] = args[3];
	p->args[4] = args[4];
	p->args[5] = args[5];
	p->fd = kind == CALL_SOCKET ? -1 : (s32)arg0;
	p->sock = (u64)sk;
	if (kind == CALL_CLOSE || kind == CALL_SHUTDOWN) {
		/* Resolved now: after the call the socket may be gone. The
		 * others are read at exit. */
		struct sock_common *skc = &sk->__sk_common;
		READ_ADDRS(p, skc);
		p->lport = sock_port(sk, p->lport);
	}
	/* The address bind and connect name; and sendto's or sendmsg's with
	 * MSG_FASTOPEN, an implicit connect (TCP Fast Open: its data rides
	 * in the SYN). */
	bool fastopen = kind == CALL_SENDTO && (args[3] & MSG_FASTOPEN) && args[4];
	u64 len = fastopen ? args[5] : arg2;
	void *uaddr = (void *)(fastopen ? args[4] : arg1);
	if (kind == CALL_SENDMSG && (arg2 & MSG_FASTOPEN)) {
		/* sendmsg's address is in its msghdr: msg_name, msg_namelen. */
		struct {
			void *name;
			s32 namelen;
		} hdr = {};
		if (bpf_probe_read_user(&hdr, sizeof(hdr), (void *)arg1) == 0 && hdr.name && hdr.namelen > 0) {
			fastopen = true;
			uaddr = hdr.name;
			len = hdr.namelen;
		}
	}
	if (kind == CALL_BIND || kind == CALL_CONNECT || fastopen) {
		/* sockaddr_in6 is 28 bytes, sockaddr_in 16: read what the
		 * length allows (the verifier wants constant sizes). */
		if (len >= 28 && bpf_probe_read_user(p->sockaddr, 28, uaddr) == 0)
			p->addr_ok = 1;
		else if (len >= 16 && bpf_probe_read_user(p->sockaddr, 16, uaddr) == 0)
			p->addr_ok = 1;
		else if (len >= 2 && bpf_probe_read_user(p->sockaddr, 2, uaddr) == 0)
			p->addr_ok = 1;
	}
	if (kind == CALL_SETSOCKOPT && p->args[4] >= 8)
		bpf_probe_read_user(p->linger, 8, (void *)p->args[3]);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	/* Only a thread in a socket call of a traced process has a pending
	 * call: every other exit ends here, without a map lookup. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct pending *p = bpf_task_storage_get(&pendings, task, 0, 0);
	if (!p || p->kind == CALL_NONE)
		return 0;
	/* Only the exit of the call that was entered. A call interrupted by
	 * a signal stays pending (below), and the exits that come before it
	 * is entered again are not its: rt_sigreturn's, whose return value
	 * is the interrupted call's restored register (the system call's
	 * number: accept4 "returned" 288), and those of any call the signal
	 * handler makes. */
	if (syscall_nr(regs) != p->nr)
		return 0;
	/* ERESTARTSYS and friends: interrupted by a signal, the kernel
	 * restarts the call; keep the pending call (and its entry time). */
	if (ret == -512 || ret == -513 || ret == -514 || ret == -516)
		return 0;
	u32 kind = p->kind;
	p->kind = CALL_NONE;

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	u64 id = bpf_get_current_pid_tgid();
	e->type = REC_CALL;
	e->call = kind;
	e->enter_ns = p->enter_ns;
	e->exit_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (u32)id;
	e->ret = ret;
	e->fd = p->fd;
	e->sock = p->sock;
	e->a = 0;
	e->b = 0;
	e->addr_ok = p->addr_ok;
	__builtin_memcpy(e->sockaddr, p->sockaddr, sizeof(e->sockaddr));
	e->family = p->family;
	e->lport = p->lport;
	e->rport = p->rport;
	e->state = p->state;
	__builtin_memcpy(e->laddr, p->laddr, sizeof(e->laddr));
	__builtin_memcpy(e->raddr, p->raddr, sizeof(e->raddr));
	__builtin_memcpy(e->comm, task->group_leader->comm, sizeof(e->comm));

	struct sock *sk = p->sock ? sock_at(p->sock) : 0;
	struct sock_own *own = 0;
	switch (kind) {
	case CALL_SOCKET:
		e->a = p->args[0];
		e->b = p->args[1];
		if (ret >= 0) {
			sk = fd_sock(ret);
			e->sock = (u64)sk;
			if (sk)
				own = track(sk, e->pid);
		}
		break;
	case CALL_LISTEN:
		e->a = p->args[1];
		break;
	case CALL_ACCEPT:
	case CALL_ACCEPT4:
		e->a = p->args[3];
		/* A failed accept reports the listener's addresses. */
		if (ret >= 0) {
			sk = fd_sock(ret);
			if (sk)
				own = track(sk, e->pid);
			e->sock = (u64)sk;
		}
		break;
	case CALL_SHUTDOWN:
		e->a = p->args[1];
		break;
	case CALL_SETSOCKOPT:
		__builtin_memcpy(&e->a, &p->linger[0], 4);
		__builtin_memcpy(&e->b, &p->linger[4], 4);
		break;
	case CALL_SENDTO:
	case CALL_RECVFROM:
		e->a = p->args[3]; /* the flags: MSG_PEEK, MSG_FASTOPEN, ... */
		break;
	case CALL_SENDMSG:
	case CALL_RECVMSG:
		e->a = p->args[2];
		break;
	}
	/* Everything but close and shutdown: the addresses after the call
	 * (connect's local address, bind's port, the accepted connection). */
	if (sk && kind != CALL_CLOSE && kind != CALL_SHUTDOWN) {
		struct sock_common *skc = &sk->__sk_common;
		READ_ADDRS(e, skc);
		e->lport = sock_port(sk, e->lport);
		/* The port bind, connect or accept gave it. */
		if (!own) {
			u64 key = (u64)sk;
			own = bpf_map_lookup_elem(&socks, &key);
		}
		if (own)
			hold_port(own, e->lport);
	}
	if (kind == CALL_CLOSE && ret == 0 && p->state == TCP_CLOSE) {
		/* Never connected: no state change will say it is gone. (If
		 * another descriptor still holds it, its next call tracks it
		 * again.) */
		u64 key = p->sock;
		struct sock_own *o = bpf_map_lookup_elem(&socks, &key);
		if (o) {
			u16 held = o->port;
			bpf_map_delete_elem(&socks, &key);
			if (held && !trace_all)
				release_port(held, false);
		}
	}
	if (kind == CALL_LISTEN && ret == 0 && sk) {
		/* Counted once per socket (listen() again only changes the
		 * backlog). */
		if (!own) {
			u64 key = (u64)sk;
			own = bpf_map_lookup_elem(&socks, &key);
		}
		if (!own || !own->listening) {
			if (own)
				own->listening = 1;
			u16 port = e->lport;
			struct listen_mark *l = bpf_map_lookup_elem(&listeners, &port);
			if (!l) {
				struct listen_mark v = {.owner = e->pid};
				bpf_map_update_elem(&listeners, &port, &v, BPF_NOEXIST);
				l = bpf_map_lookup_elem(&listeners, &port);
			}
			if (l) {
				l->owner = e->pid;
				__sync_fetch_and_add(&l->count, 1);
			}
		}
	}
	submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	u32 ptgid = parent->tgid;
	u32 ctgid = child->tgid;
	if (ptgid == ctgid || trace_all)
		return 0; /* a new thread, or everything traced anyway */
	/* A child of a traced process, or the command itself, forked by a
	 * thread of socktrace that user space marked just before: this runs
	 * in the parent before the child is first scheduled, so the child
	 * is traced from its first instruction. */
	if (!bpf_map_lookup_elem(&procs, &ptgid)) {
		u32 ptid = parent->pid;
		if (!bpf_map_lookup_elem(&adopters, &ptid))
			return 0;
	}
	u8 one = 1;
	bpf_map_update_elem(&procs, &ctgid, &one, BPF_ANY);
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = REC_FORK;
	e->enter_ns = bpf_ktime_get_ns();
	e->pid = ptgid;
	e->a = ctgid;
	__builtin_memcpy(e->comm, child->comm, sizeof(e->comm));
	submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task)
{
	/* (A thread killed in a call never reaches sys_exit: its pending
	 * call goes with its task storage.) */
	if (trace_all)
		return 0;
	u32 tgid = task->tgid;
	if (task->signal->live.counter != 0)
		return 0; /* other threads live on */
	if (!bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	bpf_map_delete_elem(&procs, &tgid);
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = REC_EXIT;
	e->enter_ns = bpf_ktime_get_ns();
	e->pid = tgid;
	/* The status wait(2) would report: exit_group's code, or this
	 * thread's own. */
	struct signal_struct *sig = task->signal;
	if (sig->flags & SIGNAL_GROUP_EXIT)
		e->ret = sig->group_exit_code;
	else
		e->ret = task->exit_code;
	submit(e, sizeof(*e));
	return 0;
}

/* The entry of a socket the kernel reports on, or 0 when it is not one
 * of the traced tree's. A new connection of a tracked listener is
 * adopted. */
static __always_inline struct sock_own *sock_entry(const struct sock *sk)
{
	u64 key = (u64)sk;
	struct sock_own *o = bpf_map_lookup_elem(&socks, &key);
	if (o)
		return o;
	u16 port = sk->__sk_common.skc_num;
	struct listen_mark *l = bpf_map_lookup_elem(&listeners, &port);
	if (!l)
		return 0;
	struct sock_own v = {.owner = l->owner};
	bpf_map_update_elem(&socks, &key, &v, BPF_NOEXIST);
	return bpf_map_lookup_elem(&socks, &key);
}

/* The owner of a socket the kernel reports on: 0 when it is not one of
 * the traced tree's, 0xffffffff for any other when watching. */
static __always_inline u32 entry_owner(struct sock_own *o)
{
	if (o)
		return o->owner;
	return trace_all ? 0xffffffff : 0;
}

static __always_inline u32 sock_owner(const struct sock *sk)
{
	return entry_owner(sock_entry(sk));
}

/* A kernel record of a socket whose owner is known: the head of struct
 * event only. */
static __always_inline int owned_record(const struct sock *sk, u32 owner, u32 type, u32 a, u32 b)
{
	struct event *e = bpf_ringbuf_reserve(&events, KERNEL_RECORD_SIZE, 0);
	if (!e) {
		count_drop();
		return 0;
	}
	e->enter_ns = bpf_ktime_get_ns();
	e->sock = (u64)sk;
	e->type = type;
	e->pid = owner == 0xffffffff ? 0 : owner;
	e->a = a;
	e->b = b;
	e->addr_ok = 0;
	const struct sock_common *skc = &sk->__sk_common;
	if (skc->skc_family != AF_INET6) {
		/* Only four bytes of each address are read. */
		__builtin_memset(e->laddr, 0, sizeof(e->laddr));
		__builtin_memset(e->raddr, 0, sizeof(e->raddr));
	}
	READ_ADDRS(e, skc);
	submit(e, KERNEL_RECORD_SIZE);
	return 0;
}

/* A kernel record of a socket of the traced tree's (or of any, in
 * trace_all mode). */
static __always_inline int kernel_record(const struct sock *sk, u32 type, u32 a, u32 b)
{
	u32 owner = sock_owner(sk);
	if (!owner)
		return 0;
	return owned_record(sk, owner, type, a, b);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state, const struct sock *sk, int oldstate, int newstate)
{
	u16 proto = sk->sk_protocol;
	if (proto != IPPROTO_TCP && proto != IPPROTO_MPTCP)
		return 0;
	struct sock_own *o = sock_entry(sk);
	u32 owner = entry_owner(o);
	if (owner)
		owned_record(sk, owner, REC_STATE, oldstate, newstate);
	if (!o)
		return 0;
	/* Not skc_num: the tracepoint fires after tcp_set_state has
	 * released the port (inet_put_port clears it) on the way to CLOSE. */
	u16 port = sock_port((struct sock *)sk, sk->__sk_common.skc_num);
	if (newstate != TCP_CLOSE) {
		hold_port(o, port);
		return 0;
	}
	u16 held = o->port;
	u64 key = (u64)sk;
	bpf_map_delete_elem(&socks, &key);
	if (oldstate == TCP_LISTEN) {
		/* Another listener on the port (SO_REUSEPORT) keeps it. (One
		 * never counted, from before a --pid recording or another
		 * process's, takes a count too: the entry goes early rather
		 * than late.) */
		struct listen_mark *l = bpf_map_lookup_elem(&listeners, &port);
		if (l && __sync_fetch_and_add(&l->count, -1) <= 1)
			bpf_map_delete_elem(&listeners, &port);
	}
	/* Its port is let go a while after the last socket of the tree
	 * holding it (an accepted connection outliving its listener, an
	 * ephemeral port reused towards another peer) has closed. */
	if (held && !trace_all) {
		bool active = oldstate == TCP_FIN_WAIT1 || oldstate == TCP_FIN_WAIT2 ||
			      oldstate == TCP_CLOSING || oldstate == TCP_TIME_WAIT;
		release_port(held, active);
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	return kernel_record(sk, REC_RETRANSMIT, 0, 0);
}

SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(retransmit_synack, const struct sock *sk, const struct request_sock *req)
{
	/* sk is the listener; the 4-tuple is the request's. */
	if (!sock_owner(sk))
		return 0;
	struct event *e = bpf_ringbuf_reserve(&events, KERNEL_RECORD_SIZE, 0);
	if (!e) {
		count_drop();
		return 0;
	}
	__builtin_memset(e, 0, KERNEL_RECORD_SIZE);
	e->type = REC_RETRANSMIT_SYNACK;
	e->enter_ns = bpf_ktime_get_ns();
	e->sock = (u64)req;
	const struct sock_common *skc = &req->__req_common;
	READ_ADDRS(e, skc);
	submit(e, KERNEL_RECORD_SIZE);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	/* No socket: a reset for a segment nobody owns (a closed port). */
	if (!sk)
		return 0;
	return kernel_record(sk, REC_RESET_SENT, 0, 0);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(receive_reset, struct sock *sk)
{
	return kernel_record(sk, REC_RESET_RECEIVED, 0, 0);
}

SEC("tp_btf/inet_sk_error_report")
int BPF_PROG(error_report, const struct sock *sk)
{
	u16 proto = sk->sk_protocol;
	if (proto != IPPROTO_TCP && proto != IPPROTO_MPTCP)
		return 0;
	return kernel_record(sk, REC_SOCK_ERROR, sk->sk_err, 0);
}

/*
 * The kernel-side packet capture: the TCP segments of the traced tree's
 * sockets, recorded into the same ring as its calls, for `run`. An
 * AF_PACKET capture costs the traced program more than recording its
 * calls does: on loopback the kernel copies every segment into the
 * capture's ring (tpacket_rcv) in the sending thread, and the capture
 * takes every program's TCP segments, which user space then sorts out.
 * Here the kernel looks at two ports per TCP segment and records only
 * the traced tree's, with their first PKT_SNAP bytes from the network
 * header on (the headers whole, the payload cut; the wire length kept).
 *
 * Where. At the two points an AF_PACKET capture sees a frame: a device's
 * transmit (net_dev_start_xmit, where dev_queue_xmit_nit hands outgoing
 * frames to packet sockets) and the receive path (netif_receive_skb,
 * just before the packet sockets' taps), so the same segments are seen
 * as tcpdump -i any sees them: GSO super-segments whole, tunnels'
 * inner segments on the tunnel's device. Loopback's segments are taken
 * once, on transmit (where the socket that sent them is known), and
 * marked as received (PACKET_HOST), as an AF_PACKET capture that drops
 * loopback's outgoing copies shows them. Only devices in socktrace's own
 * network namespace (capture_netns), as a packet socket there would.
 *
 * Which. A segment is the tree's when one of its ports is marked in
 * `ports`: a socket's local port is marked by its calls (track, the
 * exit of bind, connect, accept, listen) and state changes; a connect's
 * SYN leaves before either can (the port is chosen inside connect), so
 * a segment sent by a socket in `socks` marks its port too. A closed
 * connection's port is let go after a linger (set_state). A port another
 * process uses as well (a listener's port, an ephemeral port reused
 * towards another peer) lets its segments through too: user space keeps
 * only those of the tree's connections, as it does with a packet
 * socket's.
 */
/* A header of `size` bytes at p (in the linear part: checked by the
 * caller) as `struct type *name`: in place through bpf_rdonly_cast, or
 * copied whole on the stack by the compat object (see KCAST). */
#ifdef RECORDER_COMPAT
#define HEADER(type, name, p, size)                                \
	u64 name##_copy[(size + 7) / 8];                           \
	if (bpf_probe_read_kernel(name##_copy, size, p))           \
		return 0;                                          \
	struct type *name = (struct type *)(void *)name##_copy
#else
#define HEADER(type, name, p, size) struct type *name = KCAST(struct type, p)
#endif

#define PKT_SNAP 128
/* Payload bytes taken from a packet's first page fragment, when its
 * linear part ends before PKT_SNAP (TCP puts what it sends in pages: the
 * linear part of a segment it sent holds only the headers). */
#define PKT_FRAG 80
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IFF_LOOPBACK 0x8
#define PACKET_HOST 0
#define PACKET_OUTGOING 4
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_DSTOPTS 60

struct packet_record {
	u64 time_ns;    /* CLOCK_MONOTONIC, as the calls' */
	u64 sock;       /* the sending socket, when the kernel knows it */
	u32 type;       /* REC_PACKET, where struct event has its type */
	u32 pid;        /* the tgid whose port it is */
	u32 ifindex;
	u32 wire_len;   /* bytes from the network header to the end */
	u16 protocol;   /* ETH_P_IP or ETH_P_IPV6, network order */
	u16 hatype;     /* the device's ARPHRD_ type */
	u8 pkt_type;    /* PACKET_HOST, PACKET_OUTGOING, ... */
	u8 pad;
	u16 cap_len;    /* bytes of data that are the packet's */
	u8 data[PKT_SNAP];
	u16 frag_len;   /* bytes of frag that follow data's cap_len */
	u8 pad2[6];
	u8 frag[PKT_FRAG]; /* payload from the first page fragment */
};

/* Makes struct packet_record part of the object's BTF, for bpf2go. */
const struct packet_record *unused_packet_record __attribute__((unused));

/* Network namespace the capture is in (its inode number), set by user space. */
volatile const u32 capture_netns = 0;

static __always_inline bool port_marked(u16 port, u32 *owner, u64 *now)
{
	u32 key = port;
	struct port_mark *m = bpf_map_lookup_elem(&ports, &key);
	if (!m || !m->owner)
		return false;
	if (m->until_ns) {
		if (!*now)
			*now = bpf_ktime_get_ns();
		if (*now >= m->until_ns)
			return false;
	}
	*owner = m->owner;
	return true;
}

/* Where x86-64's direct map and page array start: the variables
 * page_offset_base and vmemmap_base when the kernel randomizes its memory
 * layout, else the 4-level paging constants. User space finds the
 * variables' addresses in /proc/kallsyms while the programs load (a
 * scan of tens of milliseconds, which cilium/ebpf's __ksym would make
 * before loading) and sets layout_ready (1: the constants; 2: the
 * variables at these addresses). Until then no fragment is read. The
 * values are read once (a race only reads them twice). */
volatile u32 layout_ready = 0;
volatile u64 page_offset_base_addr = 0;
volatile u64 vmemmap_base_addr = 0;
volatile u64 direct_map_base = 0;
volatile u64 page_array_base = 0;

/* The kernel address of a page's memory, or 0 where it is not known: only
 * x86-64's direct map is computed. */
static __always_inline u64 page_address(u64 page)
{
	if (!bpf_core_field_exists(struct pt_regs___x86_64, di))
		return 0;
	u64 direct = direct_map_base, pages = page_array_base;
	if (!direct) {
		u32 ready = layout_ready;
		if (!ready)
			return 0;
		direct = 0xffff888000000000ULL;
		pages = 0xffffea0000000000ULL;
		if (ready == 2 && (bpf_probe_read_kernel(&direct, sizeof(direct), (void *)page_offset_base_addr) ||
				   bpf_probe_read_kernel(&pages, sizeof(pages), (void *)vmemmap_base_addr)))
			return 0;
		page_array_base = pages;
		direct_map_base = direct;
	}
	u64 size = bpf_core_type_size(struct page);
	if (!size || page < pages)
		return 0;
	return direct + (page - pages) / size * 4096;
}

/* Copies up to PKT_FRAG bytes (no more than want) from the packet's
 * first page fragment into e->frag. */
static __always_inline void copy_frag(struct packet_record *e, const struct sk_buff *skb, u64 want)
{
	unsigned char *shinfo = skb->head + skb->end;
	u8 nr = 0;
	if (bpf_probe_read_kernel(&nr, 1, shinfo + bpf_core_field_offset(struct skb_shared_info, nr_frags)) || !nr)
		return;
	struct skb_frag_raw frag;
	if (bpf_probe_read_kernel(&frag, sizeof(frag), shinfo + bpf_core_field_offset(struct skb_shared_info, frags)))
		return;
	if (frag.page & 1)
		return; /* a netmem that is no page of the kernel's (device memory) */
	u64 addr = page_address(frag.page);
	if (!addr)
		return;
	u64 n = want;
	if (n > frag.len)
		n = frag.len;
	barrier_var(n);
	n &= 0x7f;
	if (n > PKT_FRAG)
		n = PKT_FRAG;
	if (n && bpf_probe_read_kernel(e->frag, n, (void *)(addr + frag.offset)) == 0)
		e->frag_len = n;
}

static __always_inline int capture(const struct sk_buff *skb, const struct net_device *dev,
				   unsigned char *nh, __be16 proto, u8 pkt_type, bool xmit)
{
	if (capture_ifindex && dev->ifindex != capture_ifindex)
		return 0;
	/* (A kernel without network namespaces has no nd_net.net.) */
	if (bpf_core_field_exists(dev->nd_net.net) && dev->nd_net.net->ns.inum != capture_netns)
		return 0;
	/* The linear part's end: headers are there (the stack pulls them in
	 * before it sends or takes a segment); bytes past it are not read. */
	unsigned char *end = skb->data + (skb->len - skb->data_len);
	if (nh < skb->data)
		return 0; /* not a frame the stack built as expected */
	if (!xmit) {
		/* VLAN tags the device left in (up to two): the receive path
		 * takes them off after this point, and never comes back here. */
		for (int i = 0; i < 2; i++) {
			if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
				break;
			u16 tag[2];
			if (nh + 4 > end || bpf_probe_read_kernel(tag, 4, nh))
				return 0;
			proto = tag[1];
			nh += 4;
		}
	}
	/* The headers are read in place, with direct loads through
	 * bpf_rdonly_cast (each checked by the JIT, a fault reads 0): a
	 * bpf_probe_read_kernel call for each cost more than the rest. The
	 * compat object copies each header whole, with one call (HEADER). */
	u32 tcp_off;
	if (proto == bpf_htons(ETH_P_IP)) {
		if (nh + 20 > end)
			return 0;
		HEADER(iphdr, ip, nh, 20);
		if (ip->protocol != IPPROTO_TCP)
			return 0;
		/* A fragment after the first has no TCP header. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return 0;
		tcp_off = BPF_CORE_READ_BITFIELD(ip, ihl) * 4;
		if (tcp_off < 20)
			return 0;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		if (nh + 40 > end)
			return 0;
		HEADER(ipv6hdr, ip6, nh, 40);
		u8 next = ip6->nexthdr;
		tcp_off = 40;
		/* Up to four extension headers before TCP (rare: read with
		 * the helper). */
		for (int i = 0; i < 4 && next != IPPROTO_TCP; i++) {
			u8 x[4];
			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
			    next != IPPROTO_DSTOPTS && next != IPPROTO_FRAGMENT)
				return 0;
			if (nh + tcp_off + 4 > end || bpf_probe_read_kernel(x, 4, nh + tcp_off))
				return 0;
			if (next == IPPROTO_FRAGMENT) {
				if (((x[2] << 8) | x[3]) & 0xfff8)
					return 0;
				tcp_off += 8;
			} else {
				tcp_off += (x[1] + 1) * 8;
			}
			next = x[0];
		}
		if (next != IPPROTO_TCP)
			return 0;
	} else {
		return 0;
	}
	/* Extension headers that long are not a segment worth a guess;
	 * the bound also tells the verifier. */
	if (tcp_off > 200)
		return 0;
	if (nh + tcp_off + 4 > end)
		return 0;
	HEADER(tcphdr, th, nh + tcp_off, 4);
	u16 sport = bpf_ntohs(th->source), dport = bpf_ntohs(th->dest);

	/* The local end's port: the source on the way out, the destination
	 * on the way in, so that a connection of another program's to a
	 * remote port the tree also listens on is not taken. Loopback's
	 * segments (taken on their way out) have both ends here. */
	u64 now = 0;
	u32 owner = 0;
	bool loopback = dev->flags & IFF_LOOPBACK;
	bool mine = ((xmit || loopback) && port_marked(sport, &owner, &now)) ||
		    ((!xmit || loopback) && port_marked(dport, &owner, &now));
	struct sock *sk = xmit ? skb->sk : 0;
	if (!mine && sk) {
		u64 key = (u64)sk;
		struct sock_own *o = bpf_map_lookup_elem(&socks, &key);
		if (!o)
			return 0;
		owner = o->owner;
		hold_port(o, sport);
	}
	if (!owner)
		return 0;

	struct packet_record *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		u32 zero = 0;
		u64 *n = bpf_map_lookup_elem(&packets_dropped, &zero);
		if (n)
			(*n)++;
		return 0;
	}
	e->time_ns = bpf_ktime_get_ns();
	e->sock = (u64)sk;
	e->type = REC_PACKET;
	e->pid = owner;
	e->ifindex = dev->ifindex;
	u32 wire = skb->len - (u32)(nh - skb->data);
	e->wire_len = wire;
	e->protocol = proto;
	e->hatype = dev->type;
	e->pkt_type = pkt_type;
	e->pad = 0;
	u64 cap = end - nh;
	if (cap > wire)
		cap = wire;
	if (cap > PKT_SNAP)
		cap = PKT_SNAP;
	/* The verifier wants the size's bounds on the register the call
	 * gets: keep clang from passing an unclamped copy. */
	barrier_var(cap);
	cap &= 0xff;
	if (cap > PKT_SNAP)
		cap = PKT_SNAP;
	e->cap_len = cap;
	e->frag_len = 0;
	if (bpf_probe_read_kernel(e->data, cap, nh))
		e->cap_len = 0;
	else if (cap < PKT_SNAP && cap < wire && cap == (u64)(end - nh))
		copy_frag(e, skb, (wire < PKT_SNAP ? wire : PKT_SNAP) - cap);
	submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(capture_xmit, const struct sk_buff *skb, const struct net_device *dev)
{
	/* Unset (~0) for a frame that did not come down the stack (a packet
	 * socket's own): no TCP segment of a socket. */
	u16 off = skb->network_header;
	if (off == 0xffff)
		return 0;
	u8 pkt_type = (dev->flags & IFF_LOOPBACK) ? PACKET_HOST : PACKET_OUTGOING;
	return capture(skb, dev, skb->head + off, skb->protocol, pkt_type, true);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(capture_receive, struct sk_buff *skb)
{
	const struct net_device *dev = skb->dev;
	if (dev->flags & IFF_LOOPBACK)
		return 0; /* taken on its way out */
	return capture(skb, dev, skb->data, skb->protocol, BPF_CORE_READ_BITFIELD(skb, pkt_type), false);
}
