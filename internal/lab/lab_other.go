//go:build !linux

package lab

import "testing"

// Usable reports why the lab cannot run here: it needs Linux.
func Usable() string { return "firewall lab needs Linux network namespaces" }

// New skips tb: the lab needs Linux.
func New(tb testing.TB) *Lab {
	tb.Helper()
	tb.Skip("skipping: " + Usable())
	return nil
}

// Lab is the firewall lab; see the Linux build.
type Lab struct{}
