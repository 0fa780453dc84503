package analyze

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/capture"
)

// udpPacket serializes one Ethernet/IPv4/UDP packet.
func udpPacket(t testing.TB, src, dst string, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tcpPacket serializes one Ethernet/IPv4/TCP packet.
func tcpPacket(t testing.TB, src, dst string, sport, dport uint16, syn, ack bool, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: syn, ACK: ack, Seq: 1000, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pkt(data []byte, frame int64) *capture.Packet {
	return &capture.Packet{Data: data, Length: len(data), LinkType: layers.LinkTypeEthernet, Frame: frame,
		Timestamp: time.Unix(1700000000, frame*1e6)}
}

// TestAddDoesNotAllocate proves the steady path (decode + flow lookup +
// update) allocates nothing per packet.
func TestAddDoesNotAllocate(t *testing.T) {
	rtp := make([]byte, 172)
	rtp[0], rtp[1] = 0x80, 104
	for _, tc := range []struct {
		name  string
		first []byte
		next  []byte
	}{
		{"udp media", udpPacket(t, "192.168.1.10", "52.114.250.141", 50010, 3478, rtp), udpPacket(t, "52.114.250.141", "192.168.1.10", 3478, 50010, rtp)},
		{"tcp", tcpPacket(t, "192.168.1.10", "52.112.0.10", 50123, 443, true, false, nil), tcpPacket(t, "192.168.1.10", "52.112.0.10", 50123, 443, false, true, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(Options{})
			a.Add(pkt(tc.first, 1))
			p := pkt(tc.next, 2)
			a.Add(p) // warm up per-flow state
			if n := testing.AllocsPerRun(200, func() { p.Frame++; a.Add(p) }); n != 0 {
				t.Fatalf("Add allocates %v times per packet, want 0", n)
			}
		})
	}
}

// BenchmarkAdd measures decode + flow update per packet.
func BenchmarkAdd(b *testing.B) {
	rtp := make([]byte, 172)
	rtp[0], rtp[1] = 0x80, 104
	var pkts []*capture.Packet
	for i := 0; i < 256; i++ {
		pkts = append(pkts, pkt(udpPacket(b, "192.168.1.10", "52.114.250.141", uint16(50000+i%60), uint16(3478+i%4), rtp), int64(i+1)))
	}
	a := New(Options{})
	b.ReportAllocs()
	b.SetBytes(int64(len(pkts[0].Data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pkts[i&255]
		p.Frame = int64(i)
		a.Add(p)
	}
}
