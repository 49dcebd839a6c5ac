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
//     than 255 instructions go to nearby copies of the returns or through
//     unconditional jumps.
//   - Matcher, a small allocation-free interpreter that runs a program over
//     captured bytes, for filtering capture files.
//
// The supported subset is host, net (CIDR, mask and short forms), port,
// portrange, the src and dst qualifiers (also "src or dst" and
// "src and dst"), the protocols ip, ip6, tcp and udp, the operators and, or,
// not (&&, ||, !) and parentheses, with IPv4 and IPv6 addresses. Within that
// subset every expression means what it means to libpcap 1.10:
//
//   - "host" and "net" with an IPv4 address also match ARP and RARP sender
//     and target addresses, unless qualified with "ip";
//   - "port" and "portrange" also match SCTP unless qualified with "tcp" or
//     "udp", and look at IPv4 ports only in the first fragment of a datagram
//     and at IPv6 ports only right after the fixed header;
//   - "tcp" and "udp" over IPv6 look past one fragment header, no other
//     extension header;
//   - a VLAN tag hides the packet from every primitive (libpcap needs the
//     "vlan" keyword, which is not supported, to look past it);
//   - NULL headers hold the address family in the byte order of the machine
//     running the filter, LOOP headers in network order, and IPv6 is any of
//     the BSD values 24, 28 and 30.
//
// The tests hold the compiler to libpcap's verdicts packet by packet. Like
// libpcap's optimiser, Compile reorders tests within an "or" (to load a
// field once and compare it many times), so on a packet cut short by the
// snap length the two may differ where one of them gives up on a load past
// the end.
//
// Anything outside the subset is an *Error naming the token, where it is
// and what is supported. Host, network and port names are not looked up.
package filter
