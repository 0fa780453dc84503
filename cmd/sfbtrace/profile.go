package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

func startCPUProfile(name string) (func(), error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeHeapProfile(name string, stderr io.Writer) {
	f, err := os.Create(name)
	if err != nil {
		fmt.Fprintf(stderr, "sfbtrace: --memprofile: %v\n", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		fmt.Fprintf(stderr, "sfbtrace: --memprofile: %v\n", err)
	}
}
