//go:build !linux

package main

// hugePageHeap is Linux only (see hugepages_linux.go).
func hugePageHeap(int) uintptr { return 0 }
