/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel types the recorder reads, declared with only the fields it
 * uses. Every struct is marked preserve_access_index, so clang records each
 * field access as a CO-RE relocation and the loader (cilium/ebpf) finds the
 * field's real offset in the running kernel's BTF (/sys/kernel/btf/vmlinux)
 * by name. The layout below never has to match any kernel; the names do.
 *
 * Why not a full vmlinux.h (bpftool btf dump file /sys/kernel/btf/vmlinux
 * format c)? It is 130k lines that differ from kernel to kernel, and the
 * types it declares end up in the object's BTF: the committed object would
 * then depend on the machine that built it, and the staleness test
 * (bpf_test.go) could not be deterministic. These declarations were taken
 * from that dump on Linux 6.18.
 */
#ifndef SOCKTRACE_KERNEL_H
#define SOCKTRACE_KERNEL_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
typedef int pid_t;

enum {
	false = 0,
	true = 1,
};

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
};

/* Map flags (uapi bpf.h): task storage must be created without
 * preallocation. */
enum {
	BPF_F_NO_PREALLOC = 1,
};

/* bpf_task_storage_get's flags. */
enum {
	BPF_LOCAL_STORAGE_GET_F_CREATE = 1,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};

/* bpf_ringbuf_submit's flags and bpf_ringbuf_query's question (uapi bpf.h). */
enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};

enum {
	BPF_RB_AVAIL_DATA = 0,
};

/* A page fragment of a packet, as the kernel lays it out: struct bio_vec
 * (6.1) and struct skb_frag (netmem, 6.18) are the same, a page (a
 * netmem_ref, whose low bit marks memory that is not a kernel page), a
 * length and an offset, but their fields' names differ. So it is read as
 * it is, without CO-RE (it is declared before the pragma below). */
struct skb_frag_raw {
	unsigned long page;
	unsigned int len;
	unsigned int offset;
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct {
	int counter;
} atomic_t;

struct thread_info {
	u32 status; /* x86 only: TS_COMPAT marks an i386 system call */
};

struct signal_struct {
	atomic_t live;
	int group_exit_code;
	unsigned int flags;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct task_struct {
	struct thread_info thread_info;
	pid_t pid;
	pid_t tgid;
	int exit_code;
	struct task_struct *group_leader;
	char comm[16];
	struct files_struct *files;
	struct signal_struct *signal;
};

struct inode {
	unsigned short i_mode;
};

struct file {
	struct inode *f_inode;
	void *private_data;
};

struct in6_addr {
	union {
		u8 u6_addr8[16];
		__be32 u6_addr32[4]; /* its alignment: 4-byte loads, not 16 of 1 */
	} in6_u;
};

struct sock_common {
	union {
		struct {
			__be32 skc_daddr;
			__be32 skc_rcv_saddr;
		};
	};
	union {
		struct {
			__be16 skc_dport;
			u16 skc_num;
		};
	};
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	u16 sk_type;
	u16 sk_protocol;
	int sk_err;
};

struct inet_sock {
	struct sock sk;
	__be16 inet_sport;
};

struct socket {
	struct sock *sk;
};

struct request_sock {
	struct sock_common __req_common;
};

struct ns_common {
	unsigned int inum; /* the namespace's inode number (/proc/PID/ns/net) */
};

struct net {
	struct ns_common ns;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	unsigned int flags;
	int ifindex;
	unsigned short type; /* ARPHRD_* */
	possible_net_t nd_net;
};

/* The fields of a packet the capture reads. In the kernel the header
 * offsets and pkt_type sit in anonymous unions and structs; CO-RE finds
 * them by name. */
struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned int len;
	unsigned int data_len;
	__u8 pkt_type : 3;
	__be16 protocol;
	__u16 network_header;
	unsigned char *head;
	unsigned char *data;
	unsigned int end; /* sk_buff_data_t: an offset from head on 64-bit kernels */
};

/* A packet's page fragments (after its linear part): the payload TCP
 * sends is there. CO-RE only finds the array (struct skb_frag_raw, above,
 * is read as it is). */
struct skb_shared_info {
	__u8 nr_frags;
	struct skb_frag_raw frags[17];
};

struct page {
};

/* Packet headers, read in place (bpf_rdonly_cast) by the capture. Their
 * layout is the wire's; CO-RE only checks the names. */
struct iphdr {
	__u8 ihl : 4;
	__u8 version : 4;
	__be16 tot_len;
	__be16 frag_off;
	__u8 protocol;
};

struct ipv6hdr {
	__be16 payload_len;
	__u8 nexthdr;
};

struct tcphdr {
	__be16 source;
	__be16 dest;
};

/* The registers a system call was entered with (the tp_btf sys_enter and
 * sys_exit tracepoints' first argument). Each architecture has its own
 * layout: these two flavors (CO-RE ignores the ___suffix) name the fields
 * of each, and bpf_core_field_exists says which one the running kernel
 * has. */
struct pt_regs;

struct pt_regs___x86_64 {
	unsigned long di, si, dx, r10, r8, r9;
	unsigned long orig_ax; /* the system call's number */
};

struct pt_regs___arm64 {
	u64 regs[31];
	s32 syscallno;
};

#pragma clang attribute pop

#endif
