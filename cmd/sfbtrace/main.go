// Command sfbtrace tells, from a packet capture, why Skype for Business
// Online / Microsoft Teams fails behind a firewall or proxy, and which rule
// to change.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// memoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT is
// set: near it the garbage collector works harder instead of letting the
// heap double, which keeps a gateway's RSS near it on a gigabyte capture.
// The binary's code and gopacket's tables (about 10 MiB) come on top:
// 116 MiB kept the 1 GB corpus at 125-127 MiB RSS in the same time as
// 128 MiB (which gave 134-140 MiB); with the heap on huge pages
// (hugePageHeap) it is 126-131 MiB, and the 10 GB one 133-135 MiB, under
// the 150 MB bound (143 MiB).
const memoryLimit = 116 << 20

// hugeHeap is the part of the heap on huge pages (hugePageHeap): the
// memory limit and some room, where an analysis's heap lives.
const hugeHeap = 128 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	context.AfterFunc(ctx, stop) // second ^C gets the default action
	if len(os.Args) > 1 && os.Args[1] == "analyze" {
		hugePageHeap(hugeHeap)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		go tuneMemoryLimit(ctx, memoryLimit)
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// tuneMemoryLimit keeps the soft limit at base while the live heap fits
// it with room to spare, and a little above the live heap once it does not
// (see memoryLimitFor). The collector then runs more often, not nonstop: a
// limit at or under the live heap (a capture with more concurrent flows
// than base allows for) makes it run without pause and the runtime return
// and re-fault memory (measured on 10 GB: 32 s with 20 s of system time,
// against 18 s).
func tuneMemoryLimit(ctx context.Context, base int64) {
	debug.SetMemoryLimit(base)
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(live)
		if live[0].Value.Kind() == metrics.KindUint64 {
			debug.SetMemoryLimit(memoryLimitFor(base, int64(live[0].Value.Uint64())))
		}
	}
}

// Exit codes (README, "Exit codes").
const (
	exitOK     = 0
	exitFailOn = 1
	exitUsage  = 2
)

const usage = `sfbtrace diagnoses Skype for Business Online / Teams connectivity from packet captures.

Usage:
  sfbtrace analyze [flags] FILE...   analyze capture files (pcap, pcapng, gzip; - = stdin)
  sfbtrace version                   print the version
  sfbtrace help [COMMAND]            show help

Run 'sfbtrace COMMAND -h' for the flags of a command.

Examples:
  sfbtrace analyze customer.pcapng
  sfbtrace analyze --format json -o report.json customer.pcapng
  sfbtrace help analyze
`

// run is main without the process: the tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		// Top-level guard: a bug must not end in a stack trace for the user.
		if v := recover(); v != nil {
			fmt.Fprintf(stderr, "sfbtrace: internal error: %v (please report)\n", v)
			code = exitUsage
		}
	}()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "analyze":
		return runAnalyze(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		if len(args) > 1 && (args[1] == "-h" || args[1] == "--help") {
			fmt.Fprint(stderr, "Usage: sfbtrace version\n\nPrint the version of this build.\n\nExample:\n  sfbtrace version\n")
			return exitOK
		}
		fmt.Fprintf(stdout, "sfbtrace %s\n", version)
		return exitOK
	case "help", "-h", "--help":
		if len(args) > 1 && args[1] != "-h" && args[1] != "--help" {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "sfbtrace: unknown command %q (want analyze, version or help)\n", args[0])
	return exitUsage
}

// memoryLimitFor is the soft limit for a live heap of live bytes: base, or
// the live heap plus a quarter (at least limitRoom) when that is more. The
// collector then runs every quarter of the live heap allocated; doubling
// the live heap, its default pace, took a 10 GB capture's RSS from about
// 200 to 265 MB for 10-15 % of the time.
func memoryLimitFor(base, live int64) int64 {
	return max(base, live+max(limitRoom, live/4))
}

// limitRoom is the least room above the live heap.
// 24 MiB rather than 32 keeps the 10 GB corpus's RSS 3-4 MiB lower
// (133-135 MiB over 7 runs, against 132-138 over 12) for 63 collections
// instead of 43.
const limitRoom = 24 << 20
