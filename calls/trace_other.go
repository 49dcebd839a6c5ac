//go:build !linux || !(amd64 || arm64)

package calls

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// Tracer follows a traced program. Tracing needs Linux on amd64 or
// arm64; elsewhere Trace and Attach return errors.ErrUnsupported.
type Tracer struct{}

// Trace is not supported on this platform.
func Trace(ctx context.Context, argv []string, opts TraceOptions) (*Tracer, error) {
	return nil, fmt.Errorf("calls: tracing on %s/%s: %w", runtime.GOOS, runtime.GOARCH, errors.ErrUnsupported)
}

// Attach is not supported on this platform.
func Attach(ctx context.Context, pid int, opts TraceOptions) (*Tracer, error) {
	return nil, fmt.Errorf("calls: tracing on %s/%s: %w", runtime.GOOS, runtime.GOARCH, errors.ErrUnsupported)
}

// Wait is not supported on this platform.
func (t *Tracer) Wait() (int, error) { return -1, errors.ErrUnsupported }

// Stats is not supported on this platform.
func (t *Tracer) Stats() TraceStats { return TraceStats{} }
