package capture_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/socktrace/socktrace/capture"
)

func ExampleOpenFile() {
	r, err := capture.OpenFile("testdata/lo-comments.pcapng")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	var p capture.Packet // reused: p.Data is valid until the next read
	for {
		err := r.ReadPacket(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// Packets read so far are good; say what went wrong.
			fmt.Println(err)
			return
		}
		for _, c := range p.Comments {
			fmt.Printf("packet %d (%v, %d bytes): %s\n", r.Packets(), p.LinkType, len(p.Data), c)
		}
	}
	fmt.Println(r.Packets(), "packets,", r.Stats().BytesRead, "bytes")
	// Output:
	// packet 1 (Ethernet, 74 bytes): client connect() enter
	// packet 3 (Ethernet, 66 bytes): second comment
	// 10 packets, 1340 bytes
}

func ExampleNewPcapngWriter() {
	var buf bytes.Buffer
	w, err := capture.NewPcapngWriter(&buf, capture.PcapngWriterOptions{Application: "socktrace"})
	if err != nil {
		fmt.Println(err)
		return
	}
	lo, _ := w.AddInterface(capture.Interface{Name: "lo", LinkType: layers.LinkTypeEthernet, SnapLen: capture.MaxSnapLen})
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	w.WritePacket(&capture.Packet{
		Timestamp: t0, InterfaceIndex: lo, Data: make([]byte, 74), Length: 74,
		Comments: []string{"client: connect(3, 127.0.0.1:8080)"},
	})
	st := capture.UnknownInterfaceStats()
	st.Received, st.IfDrop, st.OSDrop = 1, 0, 0
	w.WriteInterfaceStats(lo, t0.Add(time.Second), st)
	if err := w.Close(); err != nil {
		fmt.Println(err)
		return
	}

	r, _ := capture.NewFileReader(&buf)
	var p capture.Packet
	for r.ReadPacket(&p) == nil {
		fmt.Println(p.Timestamp.UTC().Format(time.RFC3339Nano), p.Comments)
	}
	s := r.Interfaces()[0].Stats
	fmt.Printf("received %d, dropped %d+%d\n", s.Received, s.IfDrop, s.OSDrop)
	// Output:
	// 2026-11-25T12:00:00Z [client: connect(3, 127.0.0.1:8080)]
	// received 1, dropped 0+0
}
