package sockdiag

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/socktrace/socktrace/calls"
)

// message builds one netlink message of type typ around body.
func message(typ uint16, body []byte) []byte {
	n := nlmsgHdrLen + len(body)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint32(b[0:4], uint32(n))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	copy(b[nlmsgHdrLen:], body)
	return b
}

// diagMsg builds a struct inet_diag_msg as the kernel sends it.
func diagMsg(local, remote netip.AddrPort, state calls.TCPState, uid, inode uint32) []byte {
	b := make([]byte, inetDiagMsgLen)
	b[0] = afInet
	if local.Addr().Is6() {
		b[0] = afInet6
	}
	b[1] = byte(state)
	binary.BigEndian.PutUint16(b[4:6], local.Port())
	binary.BigEndian.PutUint16(b[6:8], remote.Port())
	putAddr(b[8:24], local.Addr(), b[0])
	putAddr(b[24:40], remote.Addr(), b[0])
	binary.NativeEndian.PutUint32(b[64:68], uid)
	binary.NativeEndian.PutUint32(b[68:72], inode)
	return b
}

func errMsg(errno int32) []byte {
	b := make([]byte, 20)
	binary.NativeEndian.PutUint32(b[0:4], uint32(-errno))
	return message(nlmsgError, b)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestParseReply(t *testing.T) {
	l4, r4 := netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("127.0.0.1:41000")
	l6, r6 := netip.MustParseAddrPort("[::1]:443"), netip.MustParseAddrPort("[::1]:50000")
	mapped := netip.MustParseAddrPort("[::ffff:10.0.0.1]:22")
	est := diagMsg(l4, r4, calls.TCPEstablished, 1000, 77)
	for _, tc := range []struct {
		name     string
		in       []byte
		want     []Socket
		done     bool
		errIs    error
		errMatch string
	}{
		{name: "two sockets then done",
			in:   cat(message(sockDiagByFam, est), message(sockDiagByFam, diagMsg(l6, r6, calls.TCPListen, 0, 5)), message(nlmsgDone, make([]byte, 4))),
			want: []Socket{{l4, r4, calls.TCPEstablished, 1000, 77}, {l6, r6, calls.TCPListen, 0, 5}}, done: true},
		{name: "a v4-mapped address is read as IPv4",
			in:   message(sockDiagByFam, diagMsg(mapped, mapped, calls.TCPEstablished, 0, 9)),
			want: []Socket{{netip.MustParseAddrPort("10.0.0.1:22"), netip.MustParseAddrPort("10.0.0.1:22"), calls.TCPEstablished, 0, 9}}},
		{name: "no more in this datagram", in: message(sockDiagByFam, est), want: []Socket{{l4, r4, calls.TCPEstablished, 1000, 77}}},
		{name: "acknowledgement", in: errMsg(0), done: true},
		{name: "netlink error", in: errMsg(2), errMatch: "sock_diag: no such file or directory"},
		{name: "short header", in: []byte{1, 2, 3}, errIs: ErrMalformed},
		{name: "length past the end", in: message(sockDiagByFam, est)[:40], errIs: ErrMalformed},
		{name: "length under a header", in: func() []byte { b := message(nlmsgDone, nil); b[0] = 4; return b }(), errIs: ErrMalformed},
		{name: "short inet_diag_msg", in: message(sockDiagByFam, est[:30]), errIs: ErrMalformed},
		{name: "unknown family", in: message(sockDiagByFam, func() []byte { b := diagMsg(l4, r4, 1, 0, 0); b[0] = 7; return b }()), errIs: ErrMalformed},
		{name: "what came before a bad message is kept",
			in:    cat(message(sockDiagByFam, est), []byte{9, 9}),
			want:  []Socket{{l4, r4, calls.TCPEstablished, 1000, 77}},
			errIs: ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Socket
			done, err := parseReply(tc.in, func(s Socket) bool { got = append(got, s); return true })
			switch {
			case tc.errIs != nil && !errors.Is(err, tc.errIs):
				t.Errorf("error %v, want %v", err, tc.errIs)
			case tc.errMatch != "" && (err == nil || err.Error() != tc.errMatch):
				t.Errorf("error %v, want %q", err, tc.errMatch)
			case tc.errIs == nil && tc.errMatch == "" && err != nil:
				t.Errorf("error %v", err)
			}
			if done != tc.done {
				t.Errorf("done %v, want %v", done, tc.done)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("sockets %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("socket %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestParseReplyStopsWhenAsked: the caller's bound ends the reading.
func TestParseReplyStopsWhenAsked(t *testing.T) {
	m := message(sockDiagByFam, diagMsg(netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"), calls.TCPEstablished, 0, 1))
	n := 0
	done, err := parseReply(cat(m, m, m), func(Socket) bool { n++; return n < 2 })
	if err != nil || !done || n != 2 {
		t.Errorf("done %v, err %v after %d sockets; want true, nil after 2", done, err, n)
	}
}

// FuzzParseReply: any bytes give sockets, an error or the end, never a
// panic, and never more sockets than whole messages fit.
func FuzzParseReply(f *testing.F) {
	est := diagMsg(netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("127.0.0.1:41000"), calls.TCPEstablished, 0, 7)
	six := diagMsg(netip.MustParseAddrPort("[::1]:443"), netip.MustParseAddrPort("[::1]:5"), calls.TCPListen, 0, 8)
	f.Add(cat(message(sockDiagByFam, est), message(sockDiagByFam, six), message(nlmsgDone, make([]byte, 4))))
	f.Add(errMsg(2))
	f.Add(message(sockDiagByFam, est[:40]))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		parseReply(b, func(s Socket) bool {
			n++
			if !s.Local.IsValid() || !s.Remote.IsValid() {
				t.Fatalf("socket with an invalid address: %+v", s)
			}
			return true
		})
		if n > len(b)/(nlmsgHdrLen+inetDiagMsgLen) {
			t.Fatalf("%d sockets from %d bytes", n, len(b))
		}
	})
}
