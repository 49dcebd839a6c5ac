//go:build linux

package capture_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"

	"github.com/socktrace/socktrace/capture"
)

// Capture on loopback until Ctrl-C, then drain what the ring still holds
// and report the kernel's counters. (It needs CAP_NET_RAW, so it has no
// checked output.)
func ExampleOpenLive() {
	src, err := capture.OpenLive("lo", capture.LiveOptions{})
	if errors.Is(err, capture.ErrPermission) || errors.Is(err, capture.ErrNoInterface) {
		fmt.Fprintln(os.Stderr, err) // says what to do
		os.Exit(1)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		src.Stop() // ReadPacket hands out what is left, then io.EOF
	}()

	var p capture.Packet
	n := 0
	for {
		err := src.ReadPacket(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		n++ // p.Data is valid until the next ReadPacket
	}
	st, err := src.Stats()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d packets read, %d received by the filter, %d dropped by the kernel\n", n, st.Received, st.Dropped)
}
