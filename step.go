package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// --step: the report is printed one event at a time, each segment or
// call line (with its explanation) after the user presses Enter, so that
// a class can walk through a handshake one segment at a time. It needs a
// terminal on both ends: a pipe has no one to press Enter.

// stepPrompt is shown while waiting; it is erased once Enter is pressed.
const stepPrompt = "\x1b[2m[Enter: next event]\x1b[0m"

// stepWriter passes a report through, holding each timeline entry (a
// line that starts with a time offset: "  +0.000123  ...") until a line
// is read from in. Lines that are not entries (explanations, headers)
// follow the entry before them at once.
type stepWriter struct {
	w      io.Writer
	in     *bufio.Reader
	prompt io.Writer // where the prompt goes: the terminal
	line   []byte    // a line not yet complete
	seen   bool      // an entry has been written: wait before the next
	err    error
}

func newStepWriter(w io.Writer, in io.Reader, prompt io.Writer) *stepWriter {
	return &stepWriter{w: w, in: bufio.NewReader(in), prompt: prompt}
}

// isEntry reports whether a report line is a timeline entry: two
// spaces, a sign, digits, a point and six digits.
func isEntry(line []byte) bool {
	line = bytes.TrimLeft(line, " ")
	if len(line) < 9 || (line[0] != '+' && line[0] != '-') {
		return false
	}
	dot := bytes.IndexByte(line, '.')
	if dot < 2 || len(line) < dot+7 {
		return false
	}
	for _, c := range line[1:dot] {
		if c < '0' || c > '9' {
			return false
		}
	}
	for _, c := range line[dot+1 : dot+7] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (s *stepWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.line = append(s.line, p...)
			break
		}
		s.line = append(s.line, p[:i+1]...)
		p = p[i+1:]
		if err := s.writeLine(s.line); err != nil {
			s.err = err
			return n, err
		}
		s.line = s.line[:0]
	}
	return n, nil
}

func (s *stepWriter) writeLine(line []byte) error {
	if isEntry(line) {
		if s.seen {
			io.WriteString(s.prompt, stepPrompt)
			if _, err := s.in.ReadString('\n'); err != nil {
				if errors.Is(err, io.EOF) {
					return errors.New("--step: the terminal closed its input")
				}
				return err
			}
			// The terminal echoed the Enter: go back up to the
			// prompt's line and clear it.
			io.WriteString(s.prompt, "\x1b[1A\r\x1b[2K")
		}
		s.seen = true
	}
	_, err := s.w.Write(line)
	return err
}

// Flush writes a last line that had no newline.
func (s *stepWriter) Flush() error {
	if len(s.line) == 0 || s.err != nil {
		return s.err
	}
	_, err := s.w.Write(s.line)
	s.line = s.line[:0]
	return err
}
