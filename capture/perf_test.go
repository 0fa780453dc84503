package capture

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// mixedFrames is n frames of sizes typical of a call (60–1514 bytes).
func mixedFrames(n int) [][]byte {
	sizes := []int{60, 1514, 214, 1514, 66, 1200, 90, 1514}
	out := make([][]byte, n)
	for i := range out {
		out[i] = pcaptest.UDPFrame(sizes[i%len(sizes)], byte(i))
	}
	return out
}

// pcapngWithOptions is a pcapng whose EPBs carry epb_flags and
// epb_dropcount, so the option parser runs per packet.
func pcapngWithOptions(frames [][]byte) []byte {
	o := binary.LittleEndian
	b := append(pcaptest.SHB(o, 1, 0), pcaptest.IDB(o, 1, 0, pcaptest.Opt(o, 9, []byte{9}), pcaptest.EndOpt())...)
	for i, f := range frames {
		b = append(b, pcaptest.EPB(o, 0, uint64(1700000000e9+i*1000), uint32(len(f)), f,
			pcaptest.Opt(o, 2, []byte{1, 0, 0, 0}), pcaptest.Opt(o, 4, make([]byte, 8)), pcaptest.EndOpt())...)
	}
	return b
}

// TestNextDoesNotAllocate proves the steady state of Next allocates
// nothing, for pcap, pcapng and a merge of both, on file sources.
func TestNextDoesNotAllocate(t *testing.T) {
	dir := t.TempDir()
	frames := mixedFrames(3000)
	pcap := writeFile(t, dir, "a.pcap", pcaptest.Pcap(frames...))
	ng := writeFile(t, dir, "b.pcapng", pcapngWithOptions(frames))
	for _, tt := range []struct {
		name  string
		files []string
	}{{"pcap", []string{pcap}}, {"pcapng", []string{ng}}, {"merge", []string{pcap, ng}}} {
		t.Run(tt.name, func(t *testing.T) {
			src, err := Open(tt.files...)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			for range 100 { // past the first buffer refills
				src.Next()
			}
			var err2 error
			n := testing.AllocsPerRun(1000, func() {
				if _, err := src.Next(); err != nil {
					err2 = err
				}
			})
			if err2 != nil {
				t.Fatalf("Next: %v (file too short for the test)", err2)
			}
			if n != 0 {
				t.Errorf("Next allocates %v times per packet, want 0", n)
			}
		})
	}
}

// benchRead reads data as one Source per b.N packets, reopening at the end;
// b.SetBytes is the mean record size, so MB/s is file throughput.
func benchRead(b *testing.B, name string, data []byte, packets int) {
	path := writeFile(b, b.TempDir(), name, data)
	b.SetBytes(int64(len(data) / packets))
	b.ReportAllocs()
	src, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			src.Close()
			if src, err = Open(path); err != nil {
				b.Fatal(err)
			}
			p, err = src.Next()
		}
		if err != nil || len(p.Data) == 0 {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	src.Close()
}

// BenchmarkReadPcap measures Next per packet on a classic pcap (ns/op is
// ns/packet).
func BenchmarkReadPcap(b *testing.B) {
	frames := mixedFrames(20000)
	benchRead(b, "bench.pcap", pcaptest.Pcap(frames...), len(frames))
}

// BenchmarkReadPcapng measures Next per packet on a pcapng with EPB options.
func BenchmarkReadPcapng(b *testing.B) {
	frames := mixedFrames(20000)
	benchRead(b, "bench.pcapng", pcapngWithOptions(frames), len(frames))
}

// BenchmarkReadTeams measures Next per packet on a real capture (nDPI's
// teams.pcap, 1540 packets); skipped without ../shared.
func BenchmarkReadTeams(b *testing.B) {
	data, err := os.ReadFile(pcaptest.Shared(b, "pcaps/ndpi/teams.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	benchRead(b, "teams.pcap", data, 1540)
}
