package hostilecap

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/socktrace/socktrace/calls"
)

// Handshake writes the three segments that open the connection from Client
// to Server, with client ISN 1000 and server ISN 5000.
func (w *Writer) Handshake(comments ...string) error {
	if err := w.Packet(Client, Server, SYN, 1000, 0, nil, comments...); err != nil {
		return err
	}
	if err := w.Packet(Server, Client, SYN|ACK, 5000, 1001, nil); err != nil {
		return err
	}
	return w.Packet(Client, Server, ACK, 1001, 5001, nil)
}

// HostileStrings writes one connection whose socket calls carry each of
// strs in every string field a call has (comm, detail, call, side,
// scenario), whose data segments carry them as payload, and which closes
// with FINs. A test then looks for any of them, raw, in every output.
func HostileStrings(out io.Writer, strs []string) error {
	w, err := NewWriter(out)
	if err != nil {
		return err
	}
	var comments []string
	for i, s := range strs {
		ev := calls.Event{Call: calls.Connect, FD: 3, Local: Client, Remote: Server, PID: 100 + i,
			Comm: s, Detail: s, Scenario: s}
		comments = append(comments, w.Call(ev))
		ev = calls.Event{Call: calls.Call(s), Side: calls.Side(s), FD: 3, Local: Client, Remote: Server,
			PID: 100 + i, Comm: s, Detail: s}
		comments = append(comments, w.Call(ev))
		ev = calls.Event{Call: calls.Shutdown, FD: 3, Local: Client, Remote: Server, PID: 100 + i, Comm: s, Detail: s}
		comments = append(comments, w.Call(ev))
	}
	// IPv6 addresses whose zone is each string, and one that would close
	// a JSON string and add keys: a socket that connects elsewhere, its
	// calls listed apart.
	for i, s := range append(strs, `x","comm":"forged","y":"`) {
		local := netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone(s), 40000)
		remote := netip.AddrPortFrom(netip.MustParseAddr("fe80::2").WithZone(s), 8080)
		comments = append(comments, w.Call(calls.Event{Call: calls.Connect, FD: 11, PID: 500 + i, Comm: "zoned", Local: local, Remote: remote}))
	}
	// A listening socket and a socket that never connects: their calls
	// belong to no connection and are listed apart.
	for i, s := range strs {
		comments = append(comments, w.Call(calls.Event{Call: calls.Bind, FD: 9, PID: 900 + i, Comm: s, Detail: s, Local: Server}))
		comments = append(comments, w.Call(calls.Event{Call: calls.Close, FD: 9, PID: 900 + i, Comm: s, Detail: s, Local: Server}))
	}
	if err := w.Handshake(comments...); err != nil {
		return err
	}
	seq, ack := uint32(1001), uint32(5001)
	for _, s := range strs {
		if err := w.Packet(Client, Server, PSH|ACK, seq, ack, []byte(s)); err != nil {
			return err
		}
		seq += uint32(len(s))
		if err := w.Packet(Server, Client, ACK, ack, seq, nil); err != nil {
			return err
		}
	}
	if err := w.Packet(Client, Server, FIN|ACK, seq, ack, nil); err != nil {
		return err
	}
	if err := w.Packet(Server, Client, FIN|ACK, ack, seq+1, nil); err != nil {
		return err
	}
	if err := w.Packet(Client, Server, ACK, seq+1, ack+1, nil); err != nil {
		return err
	}
	return w.Close()
}

// SYNRetransmits writes n identical SYNs from Client to Server: a client
// whose connect() is never answered, or a same-tuple SYN flood.
func SYNRetransmits(out io.Writer, n int) error {
	w, err := NewWriter(out)
	if err != nil {
		return err
	}
	for range n {
		if err := w.Packet(Client, Server, SYN, 1000, 0, nil); err != nil {
			return err
		}
	}
	return w.Close()
}

// RSTs writes an established connection followed by n RSTs on it.
func RSTs(out io.Writer, n int) error {
	w, err := NewWriter(out)
	if err != nil {
		return err
	}
	if err := w.Handshake(); err != nil {
		return err
	}
	for i := range n {
		if err := w.Packet(Client, Server, RST, 1001+uint32(i), 0, nil); err != nil {
			return err
		}
	}
	return w.Close()
}

// CommentCalls writes an established connection whose packets carry n
// socket calls in comments — one-byte reads on the connected socket, as a
// traced program reading a byte at a time makes — then closes it. Each data
// segment carries up to 1000 calls (a pcapng block holds about 1300).
func CommentCalls(out io.Writer, n int) error {
	w, err := NewWriter(out)
	if err != nil {
		return err
	}
	if err := w.Handshake(w.Call(calls.Event{Call: calls.Connect, FD: 3, Local: Client, Remote: Server, PID: 7, Comm: "reader"})); err != nil {
		return err
	}
	const perSegment = 1000
	seq, ack := uint32(1001), uint32(5001)
	comments := make([]string, 0, perSegment)
	for n > 0 {
		comments = comments[:0]
		for ; n > 0 && len(comments) < perSegment; n-- {
			comments = append(comments, w.Call(calls.Event{Call: calls.Read, FD: 3, Local: Client, Remote: Server,
				PID: 7, Comm: "reader", Result: 1}))
		}
		if err := w.Packet(Server, Client, PSH|ACK, ack, seq, []byte{'x'}, comments...); err != nil {
			return fmt.Errorf("hostilecap: %d calls left: %w", n, err)
		}
		ack++
	}
	if err := w.Packet(Client, Server, FIN|ACK, seq, ack, nil); err != nil {
		return err
	}
	if err := w.Packet(Server, Client, FIN|ACK, ack, seq+1, nil); err != nil {
		return err
	}
	if err := w.Packet(Client, Server, ACK, seq+1, ack+1, nil); err != nil {
		return err
	}
	return w.Close()
}
