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

// Recorder records with eBPF; Linux on amd64 and arm64 only.
type Recorder struct{}

// ErrBPFUnavailable is returned (wrapped) where eBPF recording cannot be used.
var ErrBPFUnavailable = errors.New("eBPF recording unavailable")

// Record is not supported on this platform.
func Record(ctx context.Context, argv []string, opts TraceOptions) (*Recorder, error) {
	return nil, fmt.Errorf("%w on %s/%s", ErrBPFUnavailable, runtime.GOOS, runtime.GOARCH)
}

// RecordPID is not supported on this platform.
func RecordPID(ctx context.Context, pid int, opts TraceOptions) (*Recorder, error) {
	return nil, fmt.Errorf("%w on %s/%s", ErrBPFUnavailable, runtime.GOOS, runtime.GOARCH)
}

// Wait is not supported on this platform.
func (r *Recorder) Wait() (int, error) { return -1, errors.ErrUnsupported }

// Stats is not supported on this platform.
func (r *Recorder) Stats() TraceStats { return TraceStats{} }

// Backlog is 0: there is no recorder here.
func (r *Recorder) Backlog() float64 { return 0 }

// Watch is not supported on this platform.
func Watch(ctx context.Context, opts TraceOptions) (*Recorder, error) {
	return nil, fmt.Errorf("%w on %s/%s", ErrBPFUnavailable, runtime.GOOS, runtime.GOARCH)
}

// Preloaded is a recorder loaded ahead of Record; not supported here.
type Preloaded struct{}

// Preload is not supported on this platform: its Record and RecordPID
// fail as Record does.
func Preload(ringBufferSize int) *Preloaded { return &Preloaded{} }

// Record is not supported on this platform.
func (p *Preloaded) Record(ctx context.Context, argv []string, opts TraceOptions) (*Recorder, error) {
	return Record(ctx, argv, opts)
}

// RecordPID is not supported on this platform.
func (p *Preloaded) RecordPID(ctx context.Context, pid int, opts TraceOptions) (*Recorder, error) {
	return RecordPID(ctx, pid, opts)
}

// Close does nothing on this platform.
func (p *Preloaded) Close() {}

// Err reports that eBPF is unavailable here.
func (p *Preloaded) Err() error { return ErrBPFUnavailable }
