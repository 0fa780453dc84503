package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// fuzzRead is the property of both fuzz targets: no panic, no hang (the
// packet count is bounded by the input size), bounded packets, and errors
// xor packets: Open fails, or Next ends with io.EOF.
func fuzzRead(t *testing.T, data []byte) {
	src, err := OpenReader("fuzz", bytes.NewReader(data))
	if err != nil {
		if !errors.Is(err, ErrUnusable) || strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("Open: got %q, want one line wrapping ErrUnusable", err)
		}
		return
	}
	defer src.Close()
	n := 0
	for {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next: got %v, want only io.EOF", err)
		}
		n++
		if len(p.Data) > MaxPacket {
			t.Fatalf("packet %d: %d bytes, over the limit %d", n, len(p.Data), MaxPacket)
		}
		// Every record costs at least 16 bytes of input (pcap header, SPB);
		// gzip can expand, so the bound applies to plain input only.
		if !src.Info().Files[0].Compressed && n > len(data)/16+1 {
			t.Fatalf("%d packets from %d bytes: reader loops", n, len(data))
		}
		if n > 1<<20 {
			t.Fatalf("more than a million packets: reader loops")
		}
	}
	fi := src.Info().Files[0]
	if fi.Packets != int64(n) || len(fi.Warnings) > 4 {
		t.Fatalf("Info: %d packets %d warnings, want %d and a few", fi.Packets, len(fi.Warnings), n)
	}
}

// seeds adds the hand-made cases whose names start with prefix and small
// real captures of ../shared.
func seeds(f *testing.F, prefix string, shared []string) {
	for _, c := range pcaptest.Broken(f) {
		if !strings.HasPrefix(c.Name, prefix) && c.Name != "good" {
			continue
		}
		if data, err := os.ReadFile(c.Path); err == nil {
			f.Add(data) // each case names the edge it hits in pcaptest.Broken
		}
	}
	if dir := pcaptest.SharedDir(); dir != "" {
		for _, s := range shared {
			if data, err := os.ReadFile(filepath.Join(dir, s)); err == nil {
				f.Add(data)
			}
		}
	}
}

// FuzzPcap fuzzes the classic pcap record layer (and the magic sniffer).
func FuzzPcap(f *testing.F) {
	seeds(f, "p", []string{
		"pcaps/ndpi/fuzz-2021-10-13.pcap",            // cut short, odd header
		"pcaps/ndpi/fuzz-2021-06-07-c6c72a0a56.pcap", // wire length > 2^31
		"pcaps/ndpi/malformed_icmp.pcap",
		"pcaps/ndpi/dlt_ppp.pcap",
		"pcaps/pcapng-suite/empty.pcap", // header only
	})
	f.Fuzz(fuzzRead)
}

// FuzzPcapng fuzzes the pcapng block layer.
func FuzzPcapng(f *testing.F) {
	seeds(f, "n", []string{
		"pcaps/pcapng-suite/output_le/difficult/test202.pcapng", // byte-order change, every block type
		"pcaps/pcapng-suite/output_be/basic/test009.pcapng",     // BE EPB options
		"pcaps/pcapng-suite/output_le/basic/test012.pcapng",     // SPB capped by snaplen
		"pcaps/pcapng-suite/output_le/basic/test008.pcapng",     // if_tsresol, if_tsoffset
		"pcaps/ndpi/ossfuzz_seed_fake_traces_4.pcapng",
		"pcaps/ndpi/gre.pcapng",
	})
	f.Fuzz(fuzzRead)
}
