package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/urfave/cli/v2"
)

// guardedWriter is stdout as the reports see it: the first failed write
// (a full disk, a closed pipe) is kept, every later write fails at once
// with it, and stop ends the work, so that nothing more is read or
// captured for an output that cannot take it.
type guardedWriter struct {
	w    io.Writer
	stop func(error)

	mu  sync.Mutex
	err error
}

// outputError is a failed write of the report: what stopped the work.
type outputError struct{ err error }

func (e *outputError) Error() string { return "output error: " + e.err.Error() + "; stopped" }
func (e *outputError) Unwrap() error { return e.err }

func (g *guardedWriter) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.w.Write(b)
	if err != nil {
		g.err = &outputError{err}
		g.stop(g.err)
		return n, g.err
	}
	return n, nil
}

// Fd lets the report writers ask whether stdout is a terminal.
func (g *guardedWriter) Fd() uintptr {
	if f, ok := g.w.(*os.File); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

// outFile is a file socktrace writes (--write, --html, --output). It is
// written under a temporary name beside the final one, PATH.partial, and
// renamed into place when complete, so that no half-written file ever
// carries the final name: a run killed with SIGKILL leaves PATH.partial,
// which holds everything flushed so far. An existing file is replaced
// only with --force (tcpdump -w replaces silently; socktrace refuses, as a
// mistyped name can destroy a capture). Devices and pipes (/dev/null,
// /dev/stderr, a FIFO) are written directly.
type outFile struct {
	flag, path, tmp string
	f               *os.File
}

// checkOutputs refuses outputs that would destroy an input or each other.
// paths maps a flag name to its path; empty paths are not asked for.
func checkOutputs(paths map[string]string, inputs []string) error {
	seen := map[string]string{}
	for flag, p := range paths {
		if p == "" {
			continue
		}
		for _, in := range inputs {
			if sameFile(p, in) {
				return usagef("--%s %s is the input file: writing it would destroy it before it is read", flag, p)
			}
		}
		abs, _ := filepath.Abs(p)
		if other, ok := seen[abs]; ok && isRegularOrAbsent(p) {
			return usagef("--%s and --%s name the same file %s", other, flag, p)
		}
		seen[abs] = flag
	}
	return nil
}

func isRegularOrAbsent(p string) bool {
	st, err := os.Stat(p)
	return err != nil || st.Mode().IsRegular()
}

// sameFile reports whether a and b name the same existing file (through
// links, or different spellings of the path).
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// createOutput opens path for the output --flag names, before any work
// starts, so that an unwritable path fails first.
func createOutput(flag, path string, force bool) (*outFile, error) {
	o := &outFile{flag: flag, path: path}
	st, err := os.Lstat(path)
	switch {
	case err == nil && !st.Mode().IsRegular() && st.Mode()&fs.ModeSymlink == 0 && !st.IsDir():
		// A device, FIFO or socket: written in place.
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", flag, path, err)
		}
		o.f = f
		return o, nil
	case err == nil && st.IsDir():
		return nil, usagef("--%s %s is a directory", flag, path)
	case err == nil && !force:
		return nil, usagef("--%s %s: the file exists; add --force to replace it", flag, path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("--%s %s: %w", flag, path, err)
	}
	o.tmp = path + ".partial"
	mode := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		mode = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(o.tmp, mode, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil, usagef("--%s %s: %s exists (left by a run that was killed?); remove it, or add --force", flag, path, o.tmp)
	}
	if err != nil {
		return nil, fmt.Errorf("--%s %s: %w", flag, path, err)
	}
	o.f = f
	return o, nil
}

func (o *outFile) Write(b []byte) (int, error) {
	n, err := o.f.Write(b)
	if err != nil {
		err = fmt.Errorf("--%s %s: %w", o.flag, o.path, err)
	}
	return n, err
}

// reset empties the file, to write it again from the start.
func (o *outFile) reset() error {
	if o.tmp == "" {
		return nil // a device: nothing was streamed to it
	}
	if err := o.f.Truncate(0); err != nil {
		return fmt.Errorf("--%s %s: %w", o.flag, o.path, err)
	}
	if _, err := o.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("--%s %s: %w", o.flag, o.path, err)
	}
	return nil
}

// Commit closes the file and gives it its final name.
func (o *outFile) Commit() error {
	if o == nil || o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	if err == nil && o.tmp != "" {
		err = os.Rename(o.tmp, o.path)
	}
	if err != nil {
		return fmt.Errorf("--%s %s: %w", o.flag, o.path, err)
	}
	return nil
}

// Abort closes and removes the file: the work it was for never ran.
func (o *outFile) Abort() {
	if o == nil || o.f == nil {
		return
	}
	o.f.Close()
	o.f = nil
	if o.tmp != "" {
		os.Remove(o.tmp)
	}
}

// outputs are the files a command writes besides its report on stdout,
// all opened before the work starts so that a bad path fails first.
type outputs struct {
	report io.Writer // where the report goes: stdout, or --output's file
	// The files, nil when not asked for.
	reportFile, html, pcap *outFile
}

// openOutputs opens --output, --html and --write, refusing any that names
// one of the inputs or another output.
func openOutputs(c *cli.Context, inputs []string) (*outputs, error) {
	paths := map[string]string{"output": c.String("output"), "html": c.String("html"), "write": c.String("write")}
	if err := checkOutputs(paths, inputs); err != nil {
		return nil, err
	}
	o := &outputs{report: c.App.Writer}
	force := c.Bool("force")
	for _, f := range []struct {
		name string
		dst  **outFile
	}{{"output", &o.reportFile}, {"html", &o.html}, {"write", &o.pcap}} {
		if paths[f.name] == "" {
			continue
		}
		file, err := createOutput(f.name, paths[f.name], force)
		if err != nil {
			o.abort()
			return nil, err
		}
		*f.dst = file
	}
	if o.reportFile != nil {
		stop := func(error) {}
		if g, ok := c.App.Writer.(*guardedWriter); ok {
			stop = g.stop
		}
		o.report = &guardedWriter{w: o.reportFile, stop: stop}
	}
	return o, nil
}

// abort removes the files: the work never ran.
func (o *outputs) abort() {
	o.reportFile.Abort()
	o.html.Abort()
	o.pcap.Abort()
}

// commit gives the report files their final names (the pcapng file is
// its writer's to close).
func (o *outputs) commit() error {
	err := o.reportFile.Commit()
	if herr := o.html.Commit(); err == nil {
		err = herr
	}
	return err
}
