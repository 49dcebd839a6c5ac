// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * socktrace's kernel-side recorder: the socket calls of a traced process
 * tree and the kernel's own view of its TCP connections (state changes,
 * retransmissions, resets, socket errors), sent to user space through one
 * ring buffer. bpf_recorder_linux.go loads it; recorder.go turns the
 * records into calls.Event and calls.KernelEvent values.
 *
 * Which processes. A tgid is traced when it is in the `procs` map: user
 * space puts the traced command (or the --pid process) there, and the
 * sched_process_fork hook adds every child of a traced process before the
 * child runs, so nothing the tree does is missed; sched_process_exit
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
 * The calls are caught at raw_syscalls:sys_enter/sys_exit, whose
 * arguments are the same on every architecture; user space fills
 * `nr_kinds` with this architecture's system call numbers.
 *
 * Wake-ups. A record is submitted without waking the reader
 * (BPF_RB_NO_WAKEUP) unless the ring holds wakeup_bytes or more: the
 * reader polls the ring every few tens of milliseconds instead, so that a
 * storm of records costs socktrace one wake-up per poll, not one per
 * record, and the traced program keeps the CPU.
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
#define TS_COMPAT 0x0002
#define TCP_LISTEN 10
#define TCP_CLOSE 7
#define MAX_NR 1024
#define SIGNAL_GROUP_EXIT 0x00000004

/*
 * One record. Addresses are in network byte order, IPv4 in the first four
 * bytes; ports in host byte order.
 */
struct event {
	u64 enter_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns); the time of a kernel event */
	u64 exit_ns;   /* 0 for kernel events */
	u64 sock;      /* the struct sock's address: an identity while it lives */
	s64 ret;
	u32 type;
	u32 call;
	u32 pid;
	u32 tid;
	s32 fd;
	u32 a, b;      /* per call: socket domain/type, listen backlog, accept4
	                  flags, shutdown how, linger onoff/linger; per record */
	u16 family;
	u16 lport, rport;
	u8 state;      /* the socket's TCP state when it was read */
	u8 addr_ok;    /* sockaddr holds the bind/connect address */
	u8 laddr[16], raddr[16];
	u8 sockaddr[28]; /* raw struct sockaddr_in/in6 given to bind or connect */
	char comm[16];   /* the process's (thread group leader's) name */
};

/* Makes struct event part of the object's BTF, for bpf2go's Go type. */
const struct event *unused_event __attribute__((unused));

/* What sys_enter leaves for sys_exit, by thread. */
struct pending {
	u64 enter_ns;
	u64 sock;
	u64 args[6];
	u32 kind;
	u32 nr; /* the system call's number: its exit must be the same call's */
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
/* Wake the reader once the ring holds this much (0: at every record). */
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

/* System call number → call_kind, for this architecture. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_NR);
	__type(key, u32);
	__type(value, u32);
} nr_kinds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct pending);
} pendings SEC(".maps");

/* Per-CPU scratch space: struct pending is too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct pending);
} scratch SEC(".maps");

/* Tracked sockets (struct sock address) → owning tgid. LRU: sockets the
 * recorder never sees closed (process killed) age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, u64);
	__type(value, u32);
} socks SEC(".maps");

/* Local ports of tracked listening sockets → owning tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u16);
	__type(value, u32);
} listeners SEC(".maps");

static __always_inline void count_drop(void)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&dropped, &zero);
	if (n)
		(*n)++;
}

static __always_inline void submit(void *e)
{
	u64 flags = 0;
	if (wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
			BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

static __always_inline bool traced(u32 tgid)
{
	return trace_all || bpf_map_lookup_elem(&procs, &tgid) != 0;
}

/* The struct sock of descriptor fd of the current process, when it is a
 * TCP socket; 0 otherwise. */
static __always_inline struct sock *fd_sock(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *so = BPF_CORE_READ(f, private_data);
	if (!so)
		return 0;
	struct sock *sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return 0;
	u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	u16 proto = BPF_CORE_READ(sk, sk_protocol);
	u16 type = BPF_CORE_READ(sk, sk_type);
	if ((family != AF_INET && family != AF_INET6) || type != SOCK_STREAM ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_MPTCP))
		return 0;
	return sk;
}

/* Fills the address fields of a record from sock_common, which full,
 * request and time-wait sockets all begin with. */
#define READ_ADDRS(dst, skc)                                                           \
	do {                                                                           \
		(dst)->family = BPF_CORE_READ(skc, skc_family);                        \
		(dst)->lport = BPF_CORE_READ(skc, skc_num);                            \
		(dst)->rport = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));               \
		(dst)->state = BPF_CORE_READ(skc, skc_state);                          \
		if ((dst)->family == AF_INET6) {                                       \
			BPF_CORE_READ_INTO(&(dst)->laddr, skc, skc_v6_rcv_saddr.in6_u.u6_addr8); \
			BPF_CORE_READ_INTO(&(dst)->raddr, skc, skc_v6_daddr.in6_u.u6_addr8);     \
		} else {                                                               \
			BPF_CORE_READ_INTO((u32 *)&(dst)->laddr, skc, skc_rcv_saddr);      \
			BPF_CORE_READ_INTO((u32 *)&(dst)->raddr, skc, skc_daddr);          \
		}                                                                      \
	} while (0)

/* The local port getsockname(2) reports: inet_sport stays after the port
 * is released (skc_num is cleared when a listener is shut down). */
static __always_inline u16 sock_port(struct sock *sk, u16 skc_num)
{
	u16 sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	return sport ? sport : skc_num;
}

static __always_inline void track(struct sock *sk, u32 tgid)
{
	u64 key = (u64)sk;
	bpf_map_update_elem(&socks, &key, &tgid, BPF_ANY);
}

static __always_inline void leader_comm(char *comm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	bpf_probe_read_kernel_str(comm, 16, &leader->comm);
}

/* Is the current system call an i386 one on a 64-bit kernel? Its numbers
 * are not this architecture's: skip it (the ptrace tracer handles them). */
static __always_inline bool compat_call(void)
{
	if (!bpf_core_field_exists(struct thread_info, status))
		return false;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	return (BPF_CORE_READ(task, thread_info.status) & TS_COMPAT) != 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32, tid = (u32)id;
	if (!traced(tgid))
		return 0;
	long nr = BPF_CORE_READ(ctx, id);
	if (nr < 0 || nr >= MAX_NR)
		return 0;
	u32 key = nr;
	u32 *kindp = bpf_map_lookup_elem(&nr_kinds, &key);
	if (!kindp || *kindp == CALL_NONE)
		return 0;
	u32 kind = *kindp;
	if (compat_call())
		return 0;

	u32 zero = 0;
	struct pending *p = bpf_map_lookup_elem(&scratch, &zero);
	if (!p)
		return 0;
	__builtin_memset(p, 0, sizeof(*p));
	p->enter_ns = bpf_ktime_get_ns();
	p->kind = kind;
	p->nr = nr;
	for (int i = 0; i < 6; i++)
		p->args[i] = BPF_CORE_READ(ctx, args[i]);
	p->fd = (s32)p->args[0];

	if (kind == CALL_SOCKET) {
		u32 domain = p->args[0], type = p->args[1];
		if ((domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM)
			return 0;
		p->fd = -1;
	} else {
		if (kind == CALL_SETSOCKOPT &&
		    ((s32)p->args[1] != SOL_SOCKET || (s32)p->args[2] != SO_LINGER))
			return 0;
		struct sock *sk = fd_sock(p->fd);
		if (!sk)
			return 0;
		p->sock = (u64)sk;
		track(sk, tgid);
		/* Close and shutdown are resolved now: after the call the
		 * socket may be gone. The others are read again at exit. */
		struct sock_common *skc = &sk->__sk_common;
		READ_ADDRS(p, skc);
		p->lport = sock_port(sk, p->lport);
	}
	if (kind == CALL_BIND || kind == CALL_CONNECT) {
		/* sockaddr_in6 is 28 bytes, sockaddr_in 16: read what the
		 * length allows (the verifier wants constant sizes). */
		u64 len = p->args[2];
		void *uaddr = (void *)p->args[1];
		if (len >= 28 && bpf_probe_read_user(p->sockaddr, 28, uaddr) == 0)
			p->addr_ok = 1;
		else if (len >= 16 && bpf_probe_read_user(p->sockaddr, 16, uaddr) == 0)
			p->addr_ok = 1;
		else if (len >= 2 && bpf_probe_read_user(p->sockaddr, 2, uaddr) == 0)
			p->addr_ok = 1;
	}
	if (kind == CALL_SETSOCKOPT && p->args[4] >= 8)
		bpf_probe_read_user(p->linger, 8, (void *)p->args[3]);
	bpf_map_update_elem(&pendings, &tid, p, BPF_ANY);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32, tid = (u32)id;
	if (!traced(tgid))
		return 0;
	struct pending *p = bpf_map_lookup_elem(&pendings, &tid);
	if (!p)
		return 0;
	/* Only the exit of the call that was entered. A call interrupted by
	 * a signal stays pending (below), and the exits that come before it
	 * is entered again are not its: rt_sigreturn's, whose return value
	 * is the interrupted call's restored register (the system call's
	 * number: accept4 "returned" 288), and those of any call the signal
	 * handler makes. */
	if (BPF_CORE_READ(ctx, id) != p->nr)
		return 0;
	long ret = BPF_CORE_READ(ctx, ret);
	/* ERESTARTSYS and friends: interrupted by a signal, the kernel
	 * restarts the call; keep the pending call (and its entry time). */
	if (ret == -512 || ret == -513 || ret == -514 || ret == -516)
		return 0;

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		bpf_map_delete_elem(&pendings, &tid);
		return 0;
	}
	e->type = REC_CALL;
	e->call = p->kind;
	e->enter_ns = p->enter_ns;
	e->exit_ns = bpf_ktime_get_ns();
	e->pid = tgid;
	e->tid = tid;
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
	leader_comm(e->comm);

	struct sock *sk = (struct sock *)p->sock;
	switch (p->kind) {
	case CALL_SOCKET:
		e->a = p->args[0];
		e->b = p->args[1];
		if (ret >= 0) {
			sk = fd_sock(ret);
			e->sock = (u64)sk;
			if (sk)
				track(sk, tgid);
		}
		break;
	case CALL_LISTEN:
		e->a = p->args[1];
		break;
	case CALL_ACCEPT:
	case CALL_ACCEPT4:
		e->a = p->args[3];
		if (ret >= 0) {
			sk = fd_sock(ret);
			if (sk)
				track(sk, tgid);
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
	}
	/* Everything but close and shutdown: the addresses after the call
	 * (connect's local address, bind's port, the accepted connection). */
	if (sk && p->kind != CALL_CLOSE && p->kind != CALL_SHUTDOWN) {
		struct sock_common *skc = &sk->__sk_common;
		READ_ADDRS(e, skc);
		e->lport = sock_port(sk, e->lport);
	}
	if (p->kind == CALL_LISTEN && ret == 0 && sk) {
		u16 port = e->lport;
		bpf_map_update_elem(&listeners, &port, &tgid, BPF_ANY);
	}
	submit(e);
	bpf_map_delete_elem(&pendings, &tid);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	u32 ptgid = BPF_CORE_READ(parent, tgid);
	u32 ctgid = BPF_CORE_READ(child, tgid);
	if (ptgid == ctgid || trace_all)
		return 0; /* a new thread, or everything traced anyway */
	if (!bpf_map_lookup_elem(&procs, &ptgid))
		return 0;
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
	BPF_CORE_READ_INTO(&e->comm, child, comm);
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task)
{
	u32 tgid = BPF_CORE_READ(task, tgid);
	u32 tid = BPF_CORE_READ(task, pid);
	/* A thread killed in a call never reaches sys_exit. */
	bpf_map_delete_elem(&pendings, &tid);
	if (trace_all)
		return 0;
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
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
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	if (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT)
		e->ret = BPF_CORE_READ(sig, group_exit_code);
	else
		e->ret = BPF_CORE_READ(task, exit_code);
	submit(e);
	return 0;
}

/* The owner of a socket the kernel reports on, or 0 when it is not one of
 * the traced tree's. A new connection of a tracked listener is adopted. */
static __always_inline u32 sock_owner(const struct sock *sk)
{
	u64 key = (u64)sk;
	u32 *owner = bpf_map_lookup_elem(&socks, &key);
	if (owner)
		return *owner;
	u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);
	owner = bpf_map_lookup_elem(&listeners, &port);
	if (!owner)
		return trace_all ? 0xffffffff : 0;
	u32 tgid = *owner;
	bpf_map_update_elem(&socks, &key, &tgid, BPF_ANY);
	return tgid;
}

static __always_inline int kernel_record(const struct sock *sk, u32 type, u32 a, u32 b)
{
	u32 owner = sock_owner(sk);
	if (!owner)
		return 0;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->enter_ns = bpf_ktime_get_ns();
	e->sock = (u64)sk;
	e->pid = owner == 0xffffffff ? 0 : owner;
	e->a = a;
	e->b = b;
	const struct sock_common *skc = &sk->__sk_common;
	READ_ADDRS(e, skc);
	submit(e);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state, const struct sock *sk, int oldstate, int newstate)
{
	u16 proto = BPF_CORE_READ(sk, sk_protocol);
	if (proto != IPPROTO_TCP && proto != IPPROTO_MPTCP)
		return 0;
	kernel_record(sk, REC_STATE, oldstate, newstate);
	if (newstate == TCP_CLOSE) {
		u64 key = (u64)sk;
		bpf_map_delete_elem(&socks, &key);
		if (oldstate == TCP_LISTEN) {
			u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);
			bpf_map_delete_elem(&listeners, &port);
		}
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
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = REC_RETRANSMIT_SYNACK;
	e->enter_ns = bpf_ktime_get_ns();
	e->sock = (u64)req;
	const struct sock_common *skc = &req->__req_common;
	READ_ADDRS(e, skc);
	submit(e);
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
	u16 proto = BPF_CORE_READ(sk, sk_protocol);
	if (proto != IPPROTO_TCP && proto != IPPROTO_MPTCP)
		return 0;
	return kernel_record(sk, REC_SOCK_ERROR, BPF_CORE_READ(sk, sk_err), 0);
}
