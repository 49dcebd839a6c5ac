package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// jsonDatagram is a "datagram" line of the JSON report.
type jsonDatagram struct {
	Protocol string    `json:"protocol"`
	Time     time.Time `json:"time"`
	Src      string    `json:"src"`
	Dst      string    `json:"dst"`
	Len      int       `json:"len"`
	Payload  string    `json:"payload"`
	ICMP     string    `json:"icmp"`
	Quoted   *struct {
		Protocol string `json:"protocol"`
		Src      string `json:"src"`
		Dst      string `json:"dst"`
	} `json:"quoted"`
}

// parseDatagrams returns the datagram lines and the calls on no
// connection of a JSON report.
func parseDatagrams(t *testing.T, out []byte) ([]jsonDatagram, []jsonCall) {
	t.Helper()
	var dgs []jsonDatagram
	var loose []jsonCall
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var head struct {
			Type string
			Conn *int
		}
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		switch {
		case head.Type == "datagram":
			var d jsonDatagram
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			dgs = append(dgs, d)
		case head.Type == "call" && head.Conn == nil:
			var c jsonCall
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				t.Fatal(err)
			}
			loose = append(loose, c)
		}
	}
	return dgs, loose
}

// TestUDPLive runs the udp scenario over IPv4 and IPv6, captured for real,
// and checks the datagrams and the ICMP error in the JSON report against
// the calls that caused them, and their order: each sendto() before its
// datagram, each recvfrom() returning after it, no TCP at all, the
// datagram to the dead port answered by ICMP port unreachable quoting it,
// and the connected socket's recv() failing with ECONNREFUSED after it.
func TestUDPLive(t *testing.T) {
	needCapture(t)
	for _, ipv6 := range []bool{false, true} {
		args := []string{"socktrace", "--iface", "lo", "--scenario", "udp", "--format", "json"}
		name, icmp := "ipv4", "icmp"
		if ipv6 {
			args = append(args, "--ipv6")
			name, icmp = "ipv6", "icmp6"
		}
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(args, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			r := parseReport(t, out.Bytes())
			if len(r.conns) != 0 || len(r.segments) != 0 {
				t.Errorf("%d connections and %d segments, want none: UDP has no connection", len(r.conns), len(r.segments))
			}
			dgs, loose := parseDatagrams(t, out.Bytes())
			var udp []jsonDatagram
			var errs []jsonDatagram
			for _, d := range dgs {
				switch d.Protocol {
				case "udp":
					udp = append(udp, d)
				case icmp:
					errs = append(errs, d)
				default:
					t.Errorf("datagram of protocol %q", d.Protocol)
				}
			}
			if len(udp) != 4 || len(errs) != 1 {
				t.Fatalf("%d UDP datagrams and %d %s messages, want 4 and 1:\n%s", len(udp), len(errs), icmp, out.String())
			}
			var sends, recvs []jsonCall
			var read jsonCall
			for _, c := range loose {
				switch c.Call {
				case "sendto", "write":
					sends = append(sends, c)
				case "recvfrom":
					recvs = append(recvs, c)
				case "read":
					read = c
				}
			}
			// Calls on no connection come socket by socket, not in
			// time order.
			byEnter := func(a, b jsonCall) int { return a.Enter.Compare(b.Enter) }
			slices.SortFunc(sends, byEnter)
			slices.SortFunc(recvs, func(a, b jsonCall) int { return a.Exit.Compare(b.Exit) })
			if len(sends) != 4 || len(recvs) != 3 {
				t.Fatalf("%d sends and %d receives, want 4 and 3", len(sends), len(recvs))
			}
			// The datagrams in the order sent, each after its send
			// entered; each receive returned after its datagram.
			for i, d := range udp {
				s := sends[i]
				if !s.Enter.Before(d.Time.Add(slack)) || (s.Result != nil && *s.Result != d.Len) {
					t.Errorf("datagram %d (%d bytes at %v) does not follow send %d (%v, entered %v)", i+1, d.Len, d.Time, i+1, s.Result, s.Enter)
				}
			}
			for i, rc := range recvs {
				if rc.Exit.Before(udp[i].Time.Add(-slack)) || rc.Result == nil || *rc.Result != udp[i].Len {
					t.Errorf("receive %d returned %v at %v, before or without datagram %d (%d bytes at %v)", i+1, rc.Result, rc.Exit, i+1, udp[i].Len, udp[i].Time)
				}
			}
			lost, e := udp[3], errs[0]
			if e.ICMP != "port unreachable" || e.Quoted == nil || e.Quoted.Protocol != "udp" || e.Quoted.Src != lost.Src || e.Quoted.Dst != lost.Dst {
				t.Errorf("the ICMP message %+v does not say port unreachable about %s → %s", e, lost.Src, lost.Dst)
			}
			if !e.Time.After(lost.Time) {
				t.Errorf("the ICMP error at %v, before the datagram it answers at %v", e.Time, lost.Time)
			}
			if read.Errno == nil || *read.Errno != "ECONNREFUSED" || read.Exit.Before(e.Time.Add(-slack)) {
				t.Errorf("the connected socket's recv: errno %v at %v; want ECONNREFUSED after the ICMP error at %v", read.Errno, read.Exit, e.Time)
			}
			if d, _ := r.summary["datagrams"].(float64); d != 5 {
				t.Errorf("summary datagrams %v, want 5", r.summary["datagrams"])
			}
		})
	}
}
