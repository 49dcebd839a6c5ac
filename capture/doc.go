// Package capture moves packets in and out of socktrace: it reads pcap and
// pcapng files, captures live traffic from an AF_PACKET ring, writes pcapng,
// and compiles pcap-filter expressions to classic BPF.
//
// It knows link types and file formats, nothing of TCP: every source hands out
// a Packet whose bytes start at the link layer named by Packet.LinkType, and
// package decode takes it from there.
package capture
