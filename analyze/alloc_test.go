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

// TestShardedPathDoesNotAllocatePerPacket: through the reader, the batches
// and two workers, the allocations of a run do not grow with the number of
// packets of established flows (each run pays only for its setup, its
// flows and its report).
func TestShardedPathDoesNotAllocatePerPacket(t *testing.T) {
	rtp := make([]byte, 172)
	rtp[0], rtp[1] = 0x80, 104
	capFile := func(n int) []byte {
		o := binary.LittleEndian
		b := pcaptest.PcapHeader(o, pcaptest.MagicMicro, 2, 4, 65535, 1)
		for i := 0; i < n; i++ {
			flow := i % 8 // eight media flows, both directions
			d := udpPacket(t, "192.168.1.10", "52.114.250.141", uint16(50000+flow), 3478, rtp)
			if i%16 >= 8 {
				d = udpPacket(t, "52.114.250.141", "192.168.1.10", 3478, uint16(50000+flow), rtp)
			}
			d[14+20+8+3] = byte(i / 16) // RTP sequence number (low byte) advances
			b = append(b, pcaptest.PcapRecord(o, 1700000000+uint32(i/50), uint32(i%50)*20000, uint32(len(d)), uint32(len(d)), d)...)
		}
		return b
	}
	mallocs := func(file []byte) uint64 {
		src, err := capture.OpenReader("media.pcap", bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
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
	o := binary.LittleEndian
	b := pcaptest.PcapHeader(o, pcaptest.MagicMicro, 2, 4, 65535, 1)
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
	for i := 0; i < n; i++ {
		d := pkts[i%len(pkts)]
		b = append(b, pcaptest.PcapRecord(o, 1700000000+uint32(i/100000), uint32(i%100000)*10, uint32(len(d)), uint32(len(d)), d)...)
	}
	return b
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
		src, err := capture.OpenReader("bench.pcap", bytes.NewReader(file))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Run(context.Background(), src, Options{Workers: 2, NoFlowList: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFinish measures building the report (judging, calls, detectors,
// verdicts) for the 4096 flows of benchCapture.
func BenchmarkFinish(b *testing.B) {
	src, err := capture.OpenReader("bench.pcap", bytes.NewReader(benchCapture(b, 20000)))
	if err != nil {
		b.Fatal(err)
	}
	a := New(Options{NoFlowList: true})
	if _, err := readAll(context.Background(), src, a.Add); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.Finish(nil)
	}
}
