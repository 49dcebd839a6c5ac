package report

import (
	"syscall"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// Summary is what the last line of a report says.
type Summary struct {
	Counts      decode.Counts
	Connections int64
	Evicted     int64
	// Duplicates counts segments seen twice on two paths and applied once
	// (decode.TrackerStats.Duplicates).
	Duplicates int64
	// CallsOmitted counts the socket calls the tracker did not keep
	// (decode.TrackerStats.CallsOmitted).
	CallsOmitted int64
	// Resumed counts packets that resumed an evicted connection (not new
	// connections); Late, segments that came after their connection had
	// ended (not shown).
	Resumed, Late int64
	// LeftOut counts the connections watch --pid or --comm left out of
	// the report: another process's, or one whose process was not found.
	LeftOut int64
	// Dropped is the kernel's drop count for a live capture; -1 for a file.
	Dropped int64
	// Err is the error that ended the input early, if any.
	Err string
}

// errnoName returns the symbolic name of an errno ("ECONNREFUSED").
func errnoName(e syscall.Errno) string { return calls.ErrnoName(e) }
