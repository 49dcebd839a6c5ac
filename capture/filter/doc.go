// Package filter compiles capture filters written in the pcap-filter language
// (the syntax tcpdump takes) to classic BPF, without libpcap and without cgo,
// and runs the compiled programs in user space.
//
// It owns three things:
//
//   - Parse, which turns an expression into an Expr tree, applying
//     pcap-filter's grammar: "and" and "or" bind equally and associate to the
//     left, "not" binds tighter, and a bare address or number after "and",
//     "or" or "not" takes the qualifiers of the primitive before it
//     ("port 80 or 443" means "port 80 or port 443").
//   - Compile, which turns an expression into a classic BPF program for one
//     link type (Ethernet, LINUX_SLL, LINUX_SLL2, NULL, LOOP, RAW, IPv4,
//     IPv6). The program is one the Linux kernel accepts with
//     SO_ATTACH_FILTER: at most 4096 instructions, conditional jumps longer
//     than 255 instructions go through unconditional ones.
//   - Matcher, a small allocation-free interpreter that runs a program over
//     captured bytes, for filtering capture files.
//
// The supported subset is host, net (CIDR, mask and short forms), port,
// portrange, the src and dst qualifiers (also "src or dst" and
// "src and dst"), the protocols ip, ip6, tcp and udp, the operators and, or,
// not (&&, ||, !) and parentheses, with IPv4 and IPv6 addresses. Within that
// subset every expression means what it means to libpcap: "host" also
// matches ARP and RARP senders and targets, "port" also matches SCTP, ports
// are only checked on the first fragment of an IPv4 datagram, "ip6 and tcp"
// looks past a single fragment header but no other extension header, and a
// VLAN tag hides the packet from every primitive. The tests hold the
// compiler to libpcap's verdicts packet by packet.
//
// Anything outside the subset is an *Error naming the token, where it is
// and what is supported.
package filter
