//go:build !unix

package calls

import "syscall"

// ErrnoName returns the text of an errno: systems outside Unix have no
// symbolic names for them.
func ErrnoName(e syscall.Errno) string { return e.Error() }
