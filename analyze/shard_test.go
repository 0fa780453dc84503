package analyze

import (
	"bytes"
	"context"
	"testing"

	"github.com/sfbtrace/sfbtrace/capture"
	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

func reportJSON(t *testing.T, path string, workers int) []byte {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rep, err := Run(context.Background(), src, Options{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Render(&b, rep, RenderOptions{Format: "json"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestWorkersDeterministic: the report is byte for byte the same for 1 and
// N workers.
func TestWorkersDeterministic(t *testing.T) {
	for _, name := range []string{"teams.pcap", "stun.pcap", "ip_fragmented_garbage.pcap", "malformed_icmp.pcap", "tcp_scan.pcapng", "4in6tunnel.pcap"} {
		t.Run(name, func(t *testing.T) {
			path := pcaptest.Shared(t, "pcaps/ndpi/"+name)
			one := reportJSON(t, path, 1)
			for _, n := range []int{2, 3, 7} {
				if got := reportJSON(t, path, n); !bytes.Equal(one, got) {
					t.Fatalf("report with %d workers differs from 1 worker (%d vs %d bytes)", n, len(got), len(one))
				}
			}
		})
	}
}

func TestFlowHashSymmetric(t *testing.T) {
	a := udpPacket(t, "192.168.1.10", "52.114.250.141", 50010, 3478, []byte{1, 2, 3})
	b := udpPacket(t, "52.114.250.141", "192.168.1.10", 3478, 50010, []byte{4, 5})
	if flowHash(1, a) != flowHash(1, b) {
		t.Fatal("flowHash differs between the two directions of a flow")
	}
	c := udpPacket(t, "192.168.1.10", "52.114.250.141", 50011, 3478, nil)
	if flowHash(1, a) == flowHash(1, c) {
		t.Fatal("flowHash ignores ports")
	}
}
