package analyze

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
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
		a := New(Options{MaxFlows: maxFlows, TCPOpenTimeout: 5 * time.Second, CloseGrace: time.Second, UDPTimeout: time.Second,
			scanEveryPacket: true})
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
	// Flows, and the SYNs and packets the details count, folded included.
	counted := regexp.MustCompile(`\d+ (SYNs? \(retransmissions|packets sent)`)
	count := func(r *Report) map[string]string {
		m := map[string]string{}
		for _, f := range r.Findings {
			m[f.Code+" "+f.Title] = fmt.Sprint(len(f.Flows)+int(f.MoreFlows), counted.FindAllString(f.Detail, -1))
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

// TestFoldKeySTUN: the normal 401 challenge before a successful Allocate
// does not keep a media flow from folding; other errors do.
func TestFoldKeySTUN(t *testing.T) {
	a := New(Options{})
	for _, tc := range []struct {
		facts stunFacts
		ok    bool
	}{
		{stunFacts{}, true},
		{stunFacts{more: &stunMore{AllocErrors: []int{401}}, Errors: 1, AllocSuccess: 1}, true},
		{stunFacts{more: &stunMore{AllocErrors: []int{401}}, Errors: 1}, false},                       // challenged, never allocated
		{stunFacts{more: &stunMore{AllocErrors: []int{401, 486}}, Errors: 2, AllocSuccess: 1}, false}, // quota reached
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

// TestFoldShardedNamesFromDNS: with two workers, flows hashed to the shard
// that does not own the DNS flow are still named (and so classed) by the
// answers when they fold: every shard reads every DNS answer.
func TestFoldShardedNamesFromDNS(t *testing.T) {
	dns := layers.DNS{ID: 7, QR: true, RD: true, RA: true, ResponseCode: layers.DNSResponseCodeNoErr,
		Questions: []layers.DNSQuestion{{Name: []byte("sipdir.online.lync.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers: []layers.DNSResourceRecord{{Name: []byte("sipdir.online.lync.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN,
			TTL: 60, IP: net.ParseIP("52.112.0.50").To4()}}}
	buf := gopacket.NewSerializeBuffer()
	if err := dns.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	pkts := [][]byte{udpPacket(t, "192.168.1.1", "10.1.0.1", 53, 40000, buf.Bytes())}
	for i := 0; i < 300; i++ {
		// SYN-only from many clients to the SIP server (named by DNS) and
		// to one no answer names: alike but for the name.
		srv := "52.112.0.50"
		if i%2 == 1 {
			srv = "52.112.0.51"
		}
		pkts = append(pkts, tcpPacket(t, fmt.Sprintf("10.1.%d.%d", i/200, 1+i%200), srv, uint16(40000+i), 443, true, false, nil))
	}
	// A packet every 100 ms, so flows finish as the capture streams.
	file := pcapFile(pkts, 100*time.Millisecond)
	run := func(maxFlows int) *Report {
		rep, err := Run(context.Background(), openPcap(t, file), Options{Workers: 2, MaxFlows: maxFlows, TCPOpenTimeout: 5 * time.Second, scanEveryPacket: true})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	// 120 held flows, 60 a shard, fold past 45: about 25 are live at once.
	full, bounded := run(0), run(120)
	if bounded.Capture.FlowsFolded == 0 || bounded.Capture.FlowsEvicted != 0 {
		t.Fatalf("folded %d, evicted %d: want some folded, none evicted", bounded.Capture.FlowsFolded, bounded.Capture.FlowsEvicted)
	}
	if fmt.Sprint(bounded.Classes) != fmt.Sprint(full.Classes) {
		t.Errorf("class totals differ:\n bounded %+v\n full    %+v", bounded.Classes, full.Classes)
	}
	for _, c := range bounded.Classes {
		if (c.Class == ClassHTTPS || c.Class == ClassSIP) && c.Flows != 150 {
			t.Errorf("%s: %d flows, want 150 (flows to the named and the unnamed server folded together?)", c.Class, c.Flows)
		}
	}
}

// TestFoldSameForAnyWorkerCount: which flows fold while streaming depends
// on the shards (each keeps the first look-alike that finished in it, and
// finishes flows at its own scans); the report must not. Past the fold
// threshold, every foldable flow finished by the end folds into the
// look-alike with the lowest first frame.
func TestFoldSameForAnyWorkerCount(t *testing.T) {
	var pkts [][]byte
	late := map[int][][]byte{} // packets of long flows, by the iteration they go out at
	for i := 0; i < 600; i++ {
		pkts = append(pkts, late[i]...)
		if i == 200 || i == 205 || i == 210 {
			// Three look-alike video flows after folding started: the
			// first lasts longest, a packet a second, so the others
			// finish first; one worker keeps the second, a worker
			// without it the first, unless the earliest always stays.
			cli := fmt.Sprintf("10.9.0.%d", i-190)
			up := udpPacket(t, cli, "52.113.0.30", 50030, 3480, []byte{1, 2, 3})
			pkts = append(pkts, up, udpPacket(t, "52.113.0.30", cli, 3480, 50030, []byte{4, 5, 6}))
			for k := i + 10; i == 200 && k < 260; k += 10 {
				late[k] = append(late[k], up)
			}
		}
		cli := fmt.Sprintf("10.1.%d.%d", i/200, 1+i%200)
		switch i % 5 {
		case 0: // blocked, to one of three servers
			pkts = append(pkts, tcpPacket(t, cli, fmt.Sprintf("52.112.0.%d", 10+i%3), uint16(40000+i), 443, true, false, nil))
		case 1: // refused
			pkts = append(pkts, tcpPacket(t, cli, "52.112.0.11", uint16(40000+i), 5223, true, false, nil),
				rstPacket(t, "52.112.0.11", cli, 5223, uint16(40000+i)))
		case 2: // media both ways
			pkts = append(pkts, udpPacket(t, cli, "52.113.0.20", uint16(50000+i%20), 3478, []byte{1, 2, 3}),
				udpPacket(t, "52.113.0.20", cli, 3478, uint16(50000+i%20), []byte{4, 5, 6}))

		case 3: // unanswered UDP to the relays
			pkts = append(pkts, udpPacket(t, cli, "52.113.0.21", 50012, 3479, []byte{7, 8}))
		case 4: // DNS query and answer
			q := []byte{byte(i), byte(i >> 8), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}
			pkts = append(pkts, udpPacket(t, cli, "10.0.0.53", uint16(30000+i), 53, q),
				udpPacket(t, "10.0.0.53", cli, 53, uint16(30000+i), append([]byte{byte(i), byte(i >> 8), 0x81, 0x80}, q[4:]...)))
		}
	}
	file := pcapFile(pkts, 100*time.Millisecond)
	report := func(workers int) []byte {
		rep, err := Run(context.Background(), openPcap(t, file), Options{Workers: workers, MaxFlows: 700,
			TCPOpenTimeout: 5 * time.Second, UDPTimeout: 2 * time.Second, MediaTimeout: 2 * time.Second, scanEveryPacket: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Capture.FlowsFolded == 0 || rep.Capture.FlowsEvicted != 0 {
			t.Fatalf("%d workers: folded %d, evicted %d: want some folded, none evicted", workers, rep.Capture.FlowsFolded, rep.Capture.FlowsEvicted)
		}
		var b bytes.Buffer
		if err := Render(&b, rep, RenderOptions{Format: "json"}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	one := report(1)
	for _, n := range []int{2, 3, 7} {
		if got := report(n); !bytes.Equal(one, got) {
			t.Errorf("report with %d workers differs from 1 worker (%d vs %d bytes)", n, len(got), len(one))
		}
	}
}

// TestFoldStartsWithEarlierFlows: when folding starts, the flows that
// finished before it fold too, instead of waiting for the report: past the
// threshold the table holds the live flows and one look-alike per kind.
func TestFoldStartsWithEarlierFlows(t *testing.T) {
	a := New(Options{MaxFlows: 200, TCPOpenTimeout: 5 * time.Second, CloseGrace: time.Second, UDPTimeout: time.Second,
		scanEveryPacket: true})
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < 400; i++ {
		cli := fmt.Sprintf("10.1.%d.%d", i/200, 1+i%200)
		var d []byte
		if i%2 == 0 { // blocked: SYN, no answer
			d = tcpPacket(t, cli, "52.112.0.10", uint16(40000+i), 443, true, false, nil)
		} else { // UDP to the relays unanswered
			d = udpPacket(t, cli, "52.113.0.21", 50012, 3479, []byte{7, 8})
		}
		a.Add(&capture.Packet{Frame: int64(i + 1), LinkType: 1, Timestamp: t0.Add(time.Duration(i) * 100 * time.Millisecond), Data: d, Length: len(d)})
	}
	if held, live := a.flows.len(), a.index.len(); held > live+4 {
		t.Errorf("%d flows held, %d live: the ones finished before folding started were kept", held, live)
	}
}

// TestFoldEdgePorts: media to the edge's ports above 50059 folds whatever
// the port (the edge picks one per call: kept apart, each port would keep a
// look-alike, and their number grows with the capture), ports 50000-50059
// do not fold with them, and the findings still count every flow and
// every packet sent, and say that their port lists are a floor.
func TestFoldEdgePorts(t *testing.T) {
	var pkts [][]byte
	for i := 0; i < 300; i++ {
		cli := fmt.Sprintf("10.1.%d.%d", i/200, 1+i%200)
		if i%2 == 0 { // answered, on the client range
			pkts = append(pkts, udpPacket(t, cli, "52.113.0.30", 50010, uint16(50000+i%60), []byte{1, 2, 3}),
				udpPacket(t, "52.113.0.30", cli, uint16(50000+i%60), 50010, []byte{4, 5, 6}))
			continue
		}
		// Unanswered, each to a port of its own above the client range.
		up := udpPacket(t, cli, "52.113.0.30", 50010, uint16(50100+i), []byte{7, 8})
		pkts = append(pkts, up, up)
		if i < 100 { // and to a relay, for udp-no-answer's count of packets
			up := udpPacket(t, cli, "52.113.0.21", 50012, 3479, []byte{7, 8})
			pkts = append(pkts, up, up, up)
		}
	}
	run := func(maxFlows int) *Report {
		a := New(Options{MaxFlows: maxFlows, UDPTimeout: time.Second, scanEveryPacket: true})
		t0 := time.Unix(1700000000, 0)
		for i, d := range pkts {
			a.Add(&capture.Packet{Frame: int64(i + 1), LinkType: 1, Timestamp: t0.Add(time.Duration(i) * 100 * time.Millisecond), Data: d, Length: len(d)})
		}
		return a.Finish(nil)
	}
	full, bounded := run(0), run(100)
	high := 0
	for _, f := range bounded.Flows {
		if p := netip.MustParseAddrPort(f.Server).Port(); p > 50059 {
			high++
		}
	}
	// The flows of the last second are still live at the end: not folded.
	if high > 8 || bounded.Capture.FlowsFolded < 140 {
		t.Errorf("%d flows above 50059 kept, %d folded in all: want the ports above 50059 folded as one", high, bounded.Capture.FlowsFolded)
	}
	sent := regexp.MustCompile(`\d+ packets sent`)
	summary := func(r *Report) map[string]string {
		m := map[string]string{}
		for _, f := range r.Findings {
			m[f.Code] = fmt.Sprint(len(f.Flows)+int(f.MoreFlows), " flows, ", sent.FindString(f.Detail))
		}
		return m
	}
	// The ports of the flows folded into a look-alike are not known: the
	// list of failing ports says it is a floor.
	floor := regexp.MustCompile(`and (others|at least \d+ more)`)
	for _, r := range []*Report{full, bounded} {
		for _, f := range r.Findings {
			if f.Code == CodeEdgePortRangeBlocked && floor.MatchString(f.Detail) != (r == bounded) {
				t.Errorf("folded %d: ports described as %q", r.Capture.FlowsFolded, f.Detail)
			}
		}
	}
	want, got := summary(full), summary(bounded)
	if fmt.Sprint(got) != fmt.Sprint(want) || want[CodeEdgePortRangeBlocked] == "" || want[CodeUDPNoAnswer] == "" {
		t.Errorf("findings with folding:\n %v\nwithout:\n %v\n(want the same, edge-port-range-blocked and udp-no-answer among them)", got, want)
	}
}
