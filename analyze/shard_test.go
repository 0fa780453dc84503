package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfbtrace/sfbtrace/capture"
	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// projectCaptures lists the captures in the project's pcaps/.
func projectCaptures(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(pcaptest.Pcaps("*.pcap*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no project captures: %v", err)
	}
	return paths
}

// runFile analyzes the capture at path.
func runFile(t *testing.T, path string, opts Options) *Report {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rep, err := Run(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func reportJSON(t *testing.T, path string, workers int) []byte {
	t.Helper()
	rep := runFile(t, path, Options{Workers: workers})
	var b bytes.Buffer
	if err := Render(&b, rep, RenderOptions{Format: "json"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestWorkersDeterministic: the report is byte for byte the same for 1 and
// N workers.
func TestWorkersDeterministic(t *testing.T) {
	// The project's own captures (ICMP errors tied to flows, DNS names,
	// calls) run everywhere; the shared real ones when ../shared exists.
	var names []string
	for _, n := range []string{"icmp-unreachable.pcap", "healthy-call.pcapng", "dns-failure.pcap", "lab/10-ipv6-rejected.pcap"} {
		names = append(names, "project:"+n)
	}
	names = append(names, "teams.pcap", "stun.pcap", "ip_fragmented_garbage.pcap", "malformed_icmp.pcap", "tcp_scan.pcapng", "4in6tunnel.pcap",
		"fuzz-2006-06-26-2594.pcap", "fuzz-2020-02-16-11740.pcap") // bad IP version nibbles: decoder and reader once disagreed, splitting a flow across shards
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			path, ok := strings.CutPrefix(name, "project:")
			if ok {
				path = pcaptest.Pcaps(path)
			} else {
				path = pcaptest.Shared(t, "pcaps/ndpi/"+name)
			}
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
	hash := func(b []byte) uint64 { h, _ := flowHash(1, b); return h }
	a := udpPacket(t, "192.168.1.10", "52.114.250.141", 50010, 3478, []byte{1, 2, 3})
	b := udpPacket(t, "52.114.250.141", "192.168.1.10", 3478, 50010, []byte{4, 5})
	if hash(a) != hash(b) {
		t.Fatal("flowHash differs between the two directions of a flow")
	}
	c := udpPacket(t, "192.168.1.10", "52.114.250.141", 50011, 3478, nil)
	if hash(a) == hash(c) {
		t.Fatal("flowHash ignores ports")
	}
	// The reader's hash must be the index's, or warm touches the wrong slots.
	an := New(Options{})
	an.Add(&capture.Packet{Frame: 1, LinkType: 1, Data: a, Length: len(a)})
	var key FlowKey
	an.index.each(func(i int32) { key = an.flows.get(i).Key })
	if hashKey(&key) != hash(a) {
		t.Fatalf("flowHash %x, index hashKey %x", hash(a), hashKey(&key))
	}
	// An ICMP port unreachable quoting a's IP header and first 8 bytes must
	// land on a's shard, or the decoder could not tie it to the flow.
	icmp := udpPacket(t, "192.168.1.1", "192.168.1.10", 0, 0, nil)[:14]
	quote := a[14 : 14+28]
	ip := []byte{0x45, 0, 0, byte(20 + 8 + len(quote)), 0, 0, 0, 0, 64, 1, 0, 0, 192, 168, 1, 1, 192, 168, 1, 10}
	icmp = append(append(append(icmp, ip...), 3, 3, 0, 0, 0, 0, 0, 0), quote...)
	if hash(icmp) != hash(a) {
		t.Fatal("an ICMP error does not hash to the shard of the flow it quotes")
	}
	dnsQuery := udpPacket(t, "192.168.1.10", "192.168.1.1", 40000, 53, nil)
	if _, dns := flowHash(1, dnsQuery); !dns {
		t.Fatal("a DNS query is not marked as DNS (every shard reads a copy)")
	}
	// An ICMP error quoting a DNS query goes to that flow's shard only: the
	// copies are for answers.
	icmp = append(append(append(icmp[:14:14], ip...), 3, 3, 0, 0, 0, 0, 0, 0), dnsQuery[14:14+28]...)
	if h, dns := flowHash(1, icmp); dns || h != hash(dnsQuery) {
		t.Fatal("an ICMP error quoting a DNS query is copied to every shard, or hashed elsewhere than the query")
	}
}

// TestFlowBoundShared: --max-flows bounds the whole table, whatever the
// worker count and however the flows spread over the workers (each once
// took the whole default, then a fixed share that an unlucky spread
// filled early); the report names the whole bound.
func TestFlowBoundShared(t *testing.T) {
	syns := func(n int) []byte {
		var frames [][]byte
		for i := range n {
			frames = append(frames, tcpPacket(t, fmt.Sprintf("10.1.%d.%d", i/200, 1+i%200), "52.112.0.10", uint16(40000+i), 443, true, false, nil))
		}
		return pcapFile(frames, time.Millisecond)
	}
	for _, workers := range []int{1, 2, 3, 7} {
		// Exactly the bound: every flow kept, however they spread.
		rep, err := Run(context.Background(), openPcap(t, syns(40)), Options{Workers: workers, MaxFlows: 40})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Flows) != 40 || rep.Capture.FlowsEvicted != 0 {
			t.Errorf("%d workers, 40 flows, --max-flows 40: %d kept, %d packets untracked", workers, len(rep.Flows), rep.Capture.FlowsEvicted)
		}
		// Past it: the bound holds and is named whole.
		rep, err = Run(context.Background(), openPcap(t, syns(100)), Options{Workers: workers, MaxFlows: 40})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Flows) != 40 || rep.Capture.FlowsEvicted != 60 ||
			!slices.ContainsFunc(rep.Capture.Warnings, func(w string) bool { return strings.Contains(w, "flow table full (40 flows)") }) {
			t.Errorf("%d workers, 100 flows, --max-flows 40: %d kept, %d untracked, warnings %q", workers, len(rep.Flows), rep.Capture.FlowsEvicted, rep.Capture.Warnings)
		}
	}
	// The default too is the whole table's.
	if got := New(Options{}).maxHeld; got != defaultMaxFlows {
		t.Errorf("default bound %d, want %d", got, defaultMaxFlows)
	}
}

// TestNoFlowListSameReport: without a flow list the analyzer keeps facts
// instead of per-protocol summaries (TLS facts taken when the handshake
// ends, RTP figures read as numbers); findings, calls, classes and verdicts
// must be what the full run says; the calls, those the table lists.
func TestNoFlowListSameReport(t *testing.T) {
	for _, p := range projectCaptures(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			report := func(lean bool) string {
				rep := runFile(t, p, Options{NoFlowList: lean})
				rep.Flows = nil
				if n := len(rep.Calls); !lean && n > maxTableCalls {
					rep.Calls, rep.CallsOmitted = rep.Calls[:maxTableCalls], n-maxTableCalls
				}
				b, err := json.Marshal(rep)
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			if full, lean := report(false), report(true); full != lean {
				t.Errorf("report without the flow list differs:\n full %s\n lean %s", full, lean)
			}
		})
	}
}

// TestShardedEmptyPacketLast: a worker touches each packet's first byte
// before decoding a group; an empty packet that ends a batch has none, and
// must be counted, not crash the worker.
func TestShardedEmptyPacketLast(t *testing.T) {
	pkt := udpPacket(t, "192.168.1.10", "52.114.250.141", 50010, 3478, []byte{1, 2, 3})
	for _, frames := range [][][]byte{{pkt, {}}, {{}}, {pkt, {}, pkt, {}}} {
		rep, err := Run(context.Background(), openPcap(t, pcapFile(frames, time.Millisecond)), Options{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Capture.Packets != int64(len(frames)) || rep.Capture.Problems["empty packet"] == 0 {
			t.Errorf("%d frames: %d packets, problems %v", len(frames), rep.Capture.Packets, rep.Capture.Problems)
		}
	}
}

// TestIndependentDetectorsIgnoreClaims: Finish runs detectorsIndependent
// beside the claiming chain, which is only safe while they neither claim
// flows nor read claims. Each must find the same with every flow claimed as
// with none, and claim nothing.
func TestIndependentDetectorsIgnoreClaims(t *testing.T) {
	for _, p := range projectCaptures(t) {
		src, err := capture.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		a := New(Options{})
		if _, err := readAll(context.Background(), src, a.Add); err != nil {
			t.Fatal(err)
		}
		src.Close()
		js := a.judgeAll(a.sortedFlows())
		dc := &detectContext{a: a, flows: js, rep: &Report{}}
		dc.groupCalls()
		dc.findO365Calls()
		all := map[int]string{}
		for _, j := range js {
			all[int(j.ID)] = "claimed"
		}
		for i, d := range detectorsIndependent {
			dc.claimed = nil
			free, _ := json.Marshal(d(dc))
			if dc.claimed != nil {
				t.Errorf("%s: independent detector %d claims flows", filepath.Base(p), i)
			}
			dc.claimed = all
			claimed, _ := json.Marshal(d(dc))
			if !bytes.Equal(free, claimed) {
				t.Errorf("%s: independent detector %d reads claims:\n none claimed %s\n all claimed  %s", filepath.Base(p), i, free, claimed)
			}
		}
	}
}

// TestNoFlowListCalls: without a flow list, only the calls the table lists
// are described, and the others counted: the table says the same.
func TestNoFlowListCalls(t *testing.T) {
	const calls = maxTableCalls + 10
	var frames [][]byte
	for i := range calls {
		// One client each: one call each.
		client := fmt.Sprintf("10.1.%d.%d", i/200, 1+i%200)
		frames = append(frames, udpPacket(t, client, "52.112.0.10", 50010, 3478, []byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, byte(i)}))
	}
	file := pcapFile(frames, time.Millisecond)
	run := func(lean bool) (*Report, string) {
		rep, err := Run(context.Background(), openPcap(t, file), Options{NoFlowList: lean})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := Render(&b, rep, RenderOptions{Format: "table"}); err != nil {
			t.Fatal(err)
		}
		return rep, b.String()
	}
	full, fullTable := run(false)
	lean, leanTable := run(true)
	if len(full.Calls) != calls || full.CallsOmitted != 0 {
		t.Fatalf("full report: %d calls, %d omitted, want %d and 0", len(full.Calls), full.CallsOmitted, calls)
	}
	if len(lean.Calls) != maxTableCalls || lean.CallsOmitted != calls-maxTableCalls {
		t.Errorf("without a flow list: %d calls, %d omitted, want %d and %d", len(lean.Calls), lean.CallsOmitted, maxTableCalls, calls-maxTableCalls)
	}
	if !reflect.DeepEqual(lean.Calls, full.Calls[:len(lean.Calls)]) {
		t.Errorf("the calls described differ:\n lean %+v\n full %+v", lean.Calls, full.Calls[:len(lean.Calls)])
	}
	if leanTable != fullTable || !strings.Contains(leanTable, "... 10 more calls") {
		t.Errorf("tables differ or miss the count:\n lean %s\n full %s", leanTable, fullTable)
	}
}
