package analyze

import (
	"testing"
	"time"

	"github.com/sfbtrace/sfbtrace/capture"
)

// TestTimeoutsPerProtocol: a flow silent past its protocol's timeout is
// finished and the next packet of its 5-tuple starts a new flow; each
// timeout is set on its own.
func TestTimeoutsPerProtocol(t *testing.T) {
	dns := udpPacket(t, "192.168.1.10", "192.168.1.1", 40000, 53, []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	other := udpPacket(t, "192.168.1.10", "52.114.250.141", 5060, 5060, []byte("OPTIONS sip:x SIP/2.0\r\n\r\n"))
	stun := udpPacket(t, "192.168.1.10", "52.114.250.141", 50010, 3478, []byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	flows := func(opts Options, pkt []byte, gap time.Duration) int {
		a := New(opts)
		t0 := time.Unix(1700000000, 0)
		for i, ts := range []time.Time{t0, t0.Add(gap)} {
			a.Add(&capture.Packet{Frame: int64(i + 1), LinkType: 1, Timestamp: ts, Data: pkt, Length: len(pkt)})
		}
		return a.flowCount()
	}
	for _, tc := range []struct {
		name string
		opts Options
		pkt  []byte
		gap  time.Duration
		want int
	}{
		{"dns within default 30s", Options{}, dns, 20 * time.Second, 1},
		{"dns past default 30s", Options{}, dns, 40 * time.Second, 2},
		{"dns timeout raised", Options{DNSTimeout: time.Minute}, dns, 40 * time.Second, 1},
		{"udp within default 10min", Options{}, other, 5 * time.Minute, 1},
		{"udp timeout lowered", Options{UDPTimeout: time.Minute}, other, 5 * time.Minute, 2},
		{"media within default 1min", Options{}, stun, 50 * time.Second, 1},
		{"media past default 1min", Options{}, stun, 90 * time.Second, 2},
		{"media timeout raised", Options{MediaTimeout: 5 * time.Minute}, stun, 90 * time.Second, 1},
		{"udp timeout leaves dns alone", Options{UDPTimeout: time.Hour}, dns, 40 * time.Second, 2},
	} {
		if got := flows(tc.opts, tc.pkt, tc.gap); got != tc.want {
			t.Errorf("%s: %d flows, want %d", tc.name, got, tc.want)
		}
	}
}
