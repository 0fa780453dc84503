package analyze

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/capture"
	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// udpPacket serializes one Ethernet/IPv4/UDP packet.
func udpPacket(t testing.TB, src, dst string, sport, dport uint16, payload []byte) []byte {
	return ipv4Frame(t, src, dst, &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, payload)
}

// tcpPacket serializes one Ethernet/IPv4/TCP packet.
func tcpPacket(t testing.TB, src, dst string, sport, dport uint16, syn, ack bool, payload []byte) []byte {
	return ipv4Frame(t, src, dst, &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: syn, ACK: ack, Seq: 1000, Window: 65535}, payload)
}

// rstPacket serializes a TCP RST+ACK (a refusal).
func rstPacket(t testing.TB, src, dst string, sport, dport uint16) []byte {
	return ipv4Frame(t, src, dst, &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), RST: true, ACK: true, Ack: 1001}, nil)
}

// ipv4Frame serializes Ethernet/IPv4/l4/payload with lengths and checksums.
func ipv4Frame(t testing.TB, src, dst string, l4 interface {
	gopacket.SerializableLayer
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
}, payload []byte) []byte {
	t.Helper()
	proto := layers.IPProtocolUDP
	if _, ok := l4.(*layers.TCP); ok {
		proto = layers.IPProtocolTCP
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	l4.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pcapFile is a classic Ethernet pcap of frames, the first at 1700000000 s
// and one every step after it.
func pcapFile(frames [][]byte, step time.Duration) []byte {
	o := binary.LittleEndian
	b := pcaptest.PcapHeader(o, pcaptest.MagicMicro, 2, 4, 65535, 1)
	for i, d := range frames {
		ts := time.Duration(i) * step
		b = append(b, pcaptest.PcapRecord(o, 1700000000+uint32(ts/time.Second), uint32(ts%time.Second/time.Microsecond), uint32(len(d)), uint32(len(d)), d)...)
	}
	return b
}

// openPcap reads an in-memory capture.
func openPcap(tb testing.TB, file []byte) capture.Source {
	tb.Helper()
	src, err := capture.OpenReader("test.pcap", bytes.NewReader(file))
	if err != nil {
		tb.Fatal(err)
	}
	return src
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

// TestShardedPathDoesNotAllocatePerPacket: through the reader, the batches
// and two workers, the allocations of a run do not grow with the number of
// packets of established flows (each run pays only for its setup, its
// flows and its report).
func TestShardedPathDoesNotAllocatePerPacket(t *testing.T) {
	rtp := make([]byte, 172)
	rtp[0], rtp[1] = 0x80, 104
	capFile := func(n int) []byte {
		frames := make([][]byte, n)
		for i := range frames {
			flow := i % 8 // eight media flows, both directions
			d := udpPacket(t, "192.168.1.10", "52.114.250.141", uint16(50000+flow), 3478, rtp)
			if i%16 >= 8 {
				d = udpPacket(t, "52.114.250.141", "192.168.1.10", 3478, uint16(50000+flow), rtp)
			}
			d[14+20+8+3] = byte(i / 16) // RTP sequence number (low byte) advances
			frames[i] = d
		}
		return pcapFile(frames, 20*time.Millisecond)
	}
	mallocs := func(file []byte) uint64 {
		src := openPcap(t, file)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := Run(context.Background(), src, Options{Workers: 2, NoFlowList: true}); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.Mallocs - before.Mallocs
	}
	small, large := capFile(20000), capFile(100000)
	mallocs(small) // warm up once-per-process state
	a, b := mallocs(small), mallocs(large)
	// 80 000 more packets; allow a little for GC and channel noise.
	if b > a+800 {
		t.Errorf("20 000 packets: %d allocations; 100 000 packets: %d (want about the same)", a, b)
	}
	t.Logf("allocations: %d for 20 000 packets, %d for 100 000", a, b)
}

// benchCapture is an in-memory pcap of n packets over 4096 flows: media
// both ways (RTP), TLS-port SYNs, DNS queries.
func benchCapture(tb testing.TB, n int) []byte {
	rtp := make([]byte, 172)
	rtp[0], rtp[1] = 0x80, 104
	var pkts [][]byte
	for f := 0; f < 4096; f++ {
		cli := fmt.Sprintf("10.%d.%d.%d", 1+f/65536, f/256%256, 1+f%254)
		switch f % 4 {
		case 0, 1:
			pkts = append(pkts, udpPacket(tb, cli, "52.114.250.141", uint16(50000+f%20), 3478, rtp),
				udpPacket(tb, "52.114.250.141", cli, 3478, uint16(50000+f%20), rtp))
		case 2:
			pkts = append(pkts, tcpPacket(tb, cli, "52.112.0.10", uint16(40000+f%20000), 443, true, false, nil))
		case 3:
			pkts = append(pkts, udpPacket(tb, cli, "10.0.0.53", uint16(40000+f%20000), 53, []byte{byte(f), 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}))
		}
	}
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = pkts[i%len(pkts)]
	}
	return pcapFile(frames, 10*time.Microsecond)
}

// BenchmarkFlowHash measures the reader's per-packet sharding hash.
func BenchmarkFlowHash(b *testing.B) {
	d := udpPacket(b, "192.168.1.10", "52.114.250.141", 50010, 3478, make([]byte, 172))
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	var sink uint64
	for b.Loop() {
		h, _ := flowHash(1, d)
		sink += h
	}
	_ = sink
}

// BenchmarkRun measures the whole pipeline (reader, two workers, report)
// on an in-memory capture of 200 000 packets; bytes/s is capture bytes.
func BenchmarkRun(b *testing.B) {
	file := benchCapture(b, 200000)
	b.ReportAllocs()
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		if _, err := Run(context.Background(), openPcap(b, file), Options{Workers: 2, NoFlowList: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFinish measures building the report (judging, calls, detectors,
// verdicts) for the 4096 flows of benchCapture.
func BenchmarkFinish(b *testing.B) {
	a := New(Options{NoFlowList: true})
	if _, err := readAll(context.Background(), openPcap(b, benchCapture(b, 20000)), a.Add); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.Finish(nil)
	}
}
