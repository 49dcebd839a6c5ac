//go:build !linux

package main

// yieldCPU and startYielding: see yield.go. Elsewhere socktrace keeps its
// priority.
var yieldCPU bool

func startYielding(...func() float64) (stop func()) { return func() {} }
