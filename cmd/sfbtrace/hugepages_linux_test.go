package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"
)

// TestHugePageHeapReused checks the two things hugePageHeap relies on: the
// kernel keeps the advice on the range, even after the collector returns
// the pages (debug.FreeOSMemory), and the runtime allocates from the range
// again. A runtime that remapped freed heap, or stopped reusing it first,
// would fail here.
func TestHugePageHeapReused(t *testing.T) {
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(b), "[never]") {
		t.Skip("transparent huge pages are not available here")
	}
	const n = 32 << 20
	p := hugePageHeap(n)
	debug.FreeOSMemory()
	if flags := vmaFlags(t, p); !strings.Contains(" "+flags+" ", " hg ") {
		t.Fatalf("the block's mapping has VmFlags %q, want hg (MADV_HUGEPAGE)", flags)
	}
	// Allocate three times the block: whatever the heap had free below it
	// goes first, the rest must come from the advised range.
	var keep []*[1 << 20]byte
	inside := 0
	for range 3 * n >> 20 {
		b := new([1 << 20]byte)
		keep = append(keep, b)
		if a := uintptr(unsafe.Pointer(b)); a >= p && a < p+n {
			inside++
		}
	}
	if inside < n>>21 {
		t.Errorf("%d of %d MiB allocated after it came from the advised range, want at least %d", inside, len(keep), n>>21)
	}
}

// TestHugePageHeapOptOut: GODEBUG=disablethp=1 turns the advice off.
func TestHugePageHeapOptOut(t *testing.T) {
	t.Setenv("GODEBUG", "madvdontneed=1,disablethp=1")
	if p := hugePageHeap(4 << 20); p != 0 {
		t.Errorf("hugePageHeap advised %#x under GODEBUG=disablethp=1", p)
	}
}

// vmaFlags returns the VmFlags of the mapping holding address p.
func vmaFlags(t *testing.T, p uintptr) string {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if _, err := fmt.Sscanf(line, "%x-%x ", &lo, &hi); err == nil && strings.Count(strings.Fields(line)[0], "-") == 1 {
			in = p >= lo && p < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping holds %#x", p)
	return ""
}
