package report

import (
	"os"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// Writer is what every report is: a decode.Handler that ends with a
// summary. Text, Diagram, JSON and HTML are Writers.
type Writer interface {
	decode.Handler
	Summary(Summary) error
}

// Tee returns a Writer that hands every segment, call, ended connection
// and the summary to each of ws in turn, so that --html FILE can write its
// page beside whatever --format writes to stdout. Each writer copies what
// it keeps, so sharing the tracker's reused values is safe. Summary calls
// every writer and returns the first error.
func Tee(ws ...Writer) Writer {
	for _, w := range ws {
		if a, ok := w.(*BatchJSON); ok {
			a.copyCalls = true // the others read the calls after it
		}
	}
	return tee(ws)
}

type tee []Writer

func (t tee) Segment(c *decode.Connection, st *decode.Step) {
	for _, w := range t {
		w.Segment(c, st)
	}
}

func (t tee) Ended(c *decode.Connection) {
	for _, w := range t {
		w.Ended(c)
	}
}

// Call implements decode.CallHandler for the writers that stream calls.
func (t tee) Call(c *decode.Connection, ev *calls.Event) {
	for _, w := range t {
		if ch, ok := w.(decode.CallHandler); ok {
			ch.Call(c, ev)
		}
	}
}

// Datagram implements decode.DatagramHandler for the writers that take
// datagrams.
func (t tee) Datagram(d *decode.Datagram) {
	for _, w := range t {
		if dh, ok := w.(decode.DatagramHandler); ok {
			dh.Datagram(d)
		}
	}
}

func (t tee) Summary(s Summary) error {
	var first error
	for _, w := range t {
		if err := w.Summary(s); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// CreateHTML creates the file path and returns an HTML report that writes
// to it and closes it when its Summary has been written, for --html FILE.
func CreateHTML(path string, opt HTMLOptions) (Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &htmlFile{NewHTML(f, opt), f}, nil
}

type htmlFile struct {
	*HTML
	f *os.File
}

func (h *htmlFile) Summary(s Summary) error {
	err := h.HTML.Summary(s)
	if cerr := h.f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}
