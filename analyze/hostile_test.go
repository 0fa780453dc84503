package analyze

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/capture"
	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// hostileFlowBound is the stated memory bound for the flood below: the
// flow table stops at Options.MaxFlows (default 1<<20 tracked flows would be
// ~600 MB, so the test uses a 200 000-flow table) and counts the rest.
const hostileFlowBound = 256 << 20

// TestHostileFlowFlood feeds 2 million distinct 5-tuples and checks that
// memory stays bounded and the packets past the table's bound are counted.
func TestHostileFlowFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the 2-million-flow flood in -short mode")
	}
	const n = 2_000_000
	const maxFlows = 200_000
	a := New(Options{MaxFlows: maxFlows})
	pkt := udpPacket(t, "10.0.0.1", "52.112.0.1", 1, 3478, []byte{1, 2, 3, 4})
	p := &capture.Packet{Data: pkt, Length: len(pkt), LinkType: layers.LinkTypeEthernet}
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1700000000, 0)
	for i := 0; i < n; i++ {
		// Random source address and port: a new flow each packet.
		binary.BigEndian.PutUint32(pkt[26:], rng.Uint32())
		binary.BigEndian.PutUint16(pkt[34:], uint16(rng.Uint32()))
		p.Frame = int64(i + 1)
		p.Timestamp = base.Add(time.Duration(i) * time.Microsecond)
		a.Add(p)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("heap after %d flows offered: %d MB, tracked %d, evicted %d", n, ms.HeapAlloc>>20, a.flows.len(), a.evicted)
	if ms.HeapAlloc > hostileFlowBound {
		t.Errorf("heap %d MB, want < %d MB", ms.HeapAlloc>>20, hostileFlowBound>>20)
	}
	if a.flows.len() != maxFlows || a.evicted != n-maxFlows {
		t.Errorf("tracked %d evicted %d, want %d and %d", a.flows.len(), a.evicted, maxFlows, n-maxFlows)
	}
	rep := a.Finish(nil)
	if rep.Capture.FlowsEvicted != n-maxFlows {
		t.Errorf("report says %d evicted, want %d", rep.Capture.FlowsEvicted, n-maxFlows)
	}
}

// maxFuzzInput bounds the fuzzed capture size so each execution stays quick.
const maxFuzzInput = 16 << 10

// FuzzAnalyze runs whole capture files through the reader, decoder, payload
// parsers and detectors. Property: no internal error (a recovered panic) and
// no panic escaping; damage is reported, not fatal.
func FuzzAnalyze(f *testing.F) {
	for _, name := range []string{"tcp-no-answer.pcap", "tcp-refused.pcap", "tls-reset-after-hello.pcap", "icmp-unreachable.pcap", "dns-failure.pcap", "turn-allocate-failed.pcap", "udp-no-answer.pcap", "tls-intercepted.pcap"} {
		if b, err := os.ReadFile(pcaptest.Pcaps(name)); err == nil && len(b) <= maxFuzzInput {
			f.Add(b) // the project's own scenario captures
		}
	}
	if d := pcaptest.SharedDir(); d != "" {
		for _, name := range []string{"malformed_icmp.pcap", "ip_fragmented_garbage.pcap", "stun_tcp_multiple_msgs_same_pkt.pcap", "tls_missing_ch_frag.pcap"} {
			if b, err := os.ReadFile(filepath.Join(d, "pcaps", "ndpi", name)); err == nil && len(b) <= maxFuzzInput {
				f.Add(b) // real traffic and nDPI's malformed cases
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return // keep executions fast; size limits are the readers' fuzz targets' job
		}
		// A hang is a failure too: the fuzzer itself has no per-input timeout.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				os.WriteFile(filepath.Join(os.TempDir(), "sfbtrace-fuzz-hang.pcap"), b, 0o644)
				panic("FuzzAnalyze: input takes over 10 s (saved to sfbtrace-fuzz-hang.pcap in the temp dir)")
			}
		}()
		src, err := capture.OpenReader("fuzz.pcap", bytes.NewReader(b))
		if err != nil {
			return // unusable input: a clear error, nothing to analyze
		}
		a := New(Options{Workers: 1})
		if _, err := readAll(t.Context(), src, a.Add); err != nil {
			t.Fatalf("read: %v", err)
		}
		rep := a.Finish(src.Info())
		if a.internalErrs != 0 {
			t.Fatalf("internal error while analyzing: %s", a.debug)
		}
		for _, w := range rep.Capture.Warnings {
			if bytes.Contains([]byte(w), []byte("internal error")) {
				t.Fatalf("%s", w)
			}
		}
	})
}
