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
	answer := udpPacket(t, "192.168.1.1", "192.168.1.10", 53, 40000, []byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	syn := tcpPacket(t, "192.168.1.10", "52.114.250.141", 40001, 443, true, false, nil)
	// flows feeds pkts, the i-th at at[i] after the first, and counts flows.
	flows := func(opts Options, pkts [][]byte, at ...time.Duration) int {
		a := New(opts)
		t0 := time.Unix(1700000000, 0)
		for i, p := range pkts {
			a.Add(&capture.Packet{Frame: int64(i + 1), LinkType: 1, Timestamp: t0.Add(at[i]), Data: p, Length: len(p)})
		}
		return a.flowCount()
	}
	s := time.Second
	for _, tc := range []struct {
		name string
		opts Options
		pkts [][]byte
		at   []time.Duration
		want int
	}{
		{"dns within default 30s", Options{}, [][]byte{dns, dns}, []time.Duration{0, 20 * s}, 1},
		{"dns past default 30s", Options{}, [][]byte{dns, dns}, []time.Duration{0, 40 * s}, 2},
		{"dns timeout raised", Options{DNSTimeout: time.Minute}, [][]byte{dns, dns}, []time.Duration{0, 40 * s}, 1},
		{"dns answered: close grace", Options{}, [][]byte{dns, answer, dns}, []time.Duration{0, s / 10, 15 * s}, 2},
		{"dns answered within grace", Options{}, [][]byte{dns, answer, dns}, []time.Duration{0, s / 10, 5 * s}, 1},
		{"dns answered, grace raised", Options{CloseGrace: 20 * s}, [][]byte{dns, answer, dns}, []time.Duration{0, s / 10, 15 * s}, 1},
		{"udp within default 10min", Options{}, [][]byte{other, other}, []time.Duration{0, 5 * time.Minute}, 1},
		{"udp timeout lowered", Options{UDPTimeout: time.Minute}, [][]byte{other, other}, []time.Duration{0, 5 * time.Minute}, 2},
		{"media within default 30s", Options{}, [][]byte{stun, stun}, []time.Duration{0, 25 * s}, 1},
		{"media past default 30s", Options{}, [][]byte{stun, stun}, []time.Duration{0, 40 * s}, 2},
		{"media timeout raised", Options{MediaTimeout: 5 * time.Minute}, [][]byte{stun, stun}, []time.Duration{0, 90 * s}, 1},
		{"udp timeout leaves dns alone", Options{UDPTimeout: time.Hour}, [][]byte{dns, dns}, []time.Duration{0, 40 * s}, 2},
		// Linux retries a SYN after 1, 2, 4, 8, 16 and 32 s: one flow.
		{"syn retries one flow", Options{}, [][]byte{syn, syn, syn, syn, syn, syn, syn},
			[]time.Duration{0, s, 3 * s, 7 * s, 15 * s, 31 * s, 63 * s}, 1},
		{"syn past default 40s", Options{}, [][]byte{syn, syn}, []time.Duration{0, 50 * s}, 2},
		{"tcp open timeout raised", Options{TCPOpenTimeout: time.Minute}, [][]byte{syn, syn}, []time.Duration{0, 50 * s}, 1},
	} {
		if got := flows(tc.opts, tc.pkts, tc.at...); got != tc.want {
			t.Errorf("%s: %d flows, want %d", tc.name, got, tc.want)
		}
	}
}
