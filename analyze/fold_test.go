package analyze

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/capture"
)

// TestFoldBeyondMaxFlows: with a small --max-flows, finished look-alike
// flows fold into representatives; the class totals and the findings'
// flow counts stay what they are without a bound, and the report says so.
func TestFoldBeyondMaxFlows(t *testing.T) {
	var pkts [][]byte
	for i := 0; i < 400; i++ {
		cli := fmt.Sprintf("10.1.%d.%d", i/200, 1+i%200)
		switch i % 4 {
		case 0: // blocked: SYN, no answer
			pkts = append(pkts, tcpPacket(t, cli, "52.112.0.10", uint16(40000+i), 443, true, false, nil))
		case 1: // refused: SYN, RST
			pkts = append(pkts, tcpPacket(t, cli, "52.112.0.11", uint16(40000+i), 5223, true, false, nil),
				rstPacket(t, "52.112.0.11", cli, 5223, uint16(40000+i)))
		case 2: // media answered both ways
			pkts = append(pkts, udpPacket(t, cli, "52.113.0.20", 50010, 3478, []byte{1, 2, 3}),
				udpPacket(t, "52.113.0.20", cli, 3478, 50010, []byte{4, 5, 6}))
		case 3: // UDP to the relays unanswered
			pkts = append(pkts, udpPacket(t, cli, "52.113.0.21", 50012, 3479, []byte{7, 8}))
		}
	}
	run := func(maxFlows int) *Report {
		// The open timeout exceeds synAnswerWait, as the defaults do: a flow
		// must not finish before tcp-no-answer would count it.
		a := New(Options{MaxFlows: maxFlows, TCPOpenTimeout: 5 * time.Second, CloseGrace: time.Second, UDPTimeout: time.Second})
		a.scanEvery, a.scanStep = 1, 0
		t0 := time.Unix(1700000000, 0)
		for i, d := range pkts {
			// 10 packets per second: flows finish while later ones arrive.
			a.Add(&capture.Packet{Frame: int64(i + 1), LinkType: 1, Timestamp: t0.Add(time.Duration(i) * 100 * time.Millisecond), Data: d, Length: len(d)})
		}
		return a.Finish(nil)
	}
	full, bounded := run(0), run(60)
	if full.Capture.FlowsFolded != 0 || bounded.Capture.FlowsFolded == 0 {
		t.Fatalf("folded: %d without a bound, %d with --max-flows 60", full.Capture.FlowsFolded, bounded.Capture.FlowsFolded)
	}
	if len(bounded.Flows) > 60 || len(bounded.Flows)+int(bounded.Capture.FlowsFolded) != len(full.Flows) {
		t.Errorf("flows listed %d + folded %d, want <= 60 and %d in all", len(bounded.Flows), bounded.Capture.FlowsFolded, len(full.Flows))
	}
	if fmt.Sprint(bounded.Classes) != fmt.Sprint(full.Classes) {
		t.Errorf("class totals differ:\n bounded %+v\n full    %+v", bounded.Classes, full.Classes)
	}
	count := func(r *Report) map[string]int {
		m := map[string]int{}
		for _, f := range r.Findings {
			m[f.Code+" "+f.Title] += len(f.Flows) + int(f.MoreFlows)
		}
		return m
	}
	if fmt.Sprint(count(bounded)) != fmt.Sprint(count(full)) {
		t.Errorf("finding flow counts differ:\n bounded %v\n full    %v", count(bounded), count(full))
	}
	var folded int64
	for _, f := range bounded.Flows {
		folded += f.Folded
	}
	if folded != bounded.Capture.FlowsFolded || len(bounded.Capture.Warnings) == 0 {
		t.Errorf("rows carry %d folded flows, capture says %d; warnings %q", folded, bounded.Capture.FlowsFolded, bounded.Capture.Warnings)
	}
}

// rstPacket serializes a TCP RST+ACK (a refusal).
func rstPacket(t testing.TB, src, dst string, sport, dport uint16) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 60, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), RST: true, ACK: true, Ack: 1001}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFoldKeySTUN: the normal 401 challenge before a successful Allocate
// does not keep a media flow from folding; other errors do.
func TestFoldKeySTUN(t *testing.T) {
	a := New(Options{})
	for _, tc := range []struct {
		facts stunFacts
		ok    bool
	}{
		{stunFacts{}, true},
		{stunFacts{AllocErrors: []int{401}, Errors: 1, AllocSuccess: 1}, true},
		{stunFacts{AllocErrors: []int{401}, Errors: 1}, false},                       // challenged, never allocated
		{stunFacts{AllocErrors: []int{401, 486}, Errors: 2, AllocSuccess: 1}, false}, // quota reached
		{stunFacts{Errors: 1, BindingRequests: 1}, false},
	} {
		f := &Flow{Proto: protoUDP, tcp: &noTCP}
		f.setEndpoints(netip.MustParseAddrPort("10.0.0.1:50010"), netip.MustParseAddrPort("52.113.0.20:3478"))
		facts := tc.facts
		f.pl.fz = &frozen{stun: &facts, payloads: true}
		if _, ok := a.foldKeyOf(f); ok != tc.ok {
			t.Errorf("%+v: foldable %v, want %v", tc.facts, ok, tc.ok)
		}
	}
}
