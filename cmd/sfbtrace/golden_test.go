package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestGolden runs bundled captures through run and compares the report with
// testdata/<name>.<format>.golden: layout changes show up in review. The
// meaning of the reports is asserted by the analyze package's tests.
func TestGolden(t *testing.T) {
	for _, name := range []string{"failing-call.pcap", "healthy-call.pcapng", "tcp-reset.pcap", "icmp-unreachable.pcap", "dns-failure.pcap"} {
		for _, format := range []string{"table", "json"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				// A relative path keeps the report identical on every machine.
				in := filepath.Join("..", "..", "pcaps", name)
				var out, errs bytes.Buffer
				if code := run(context.Background(), []string{"analyze", "--format", format, "--workers", "2", in}, &out, &errs); code != 0 {
					t.Fatalf("exit %d: %s", code, errs.String())
				}
				golden := filepath.Join("testdata", name+"."+format+".golden")
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run `make golden` to create it)", err)
				}
				if !bytes.Equal(out.Bytes(), want) {
					t.Errorf("report differs from %s (run `make golden` and review the diff)\n--- got:\n%s", golden, out.String())
				}
			})
		}
	}
}
