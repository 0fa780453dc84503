package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// Synthetic flows for the detectors' edge cases: each test builds the
// flow state a capture would leave and runs one detector (or all).

const sec0 = int64(1_800_000_000) * int64(time.Second) // an arbitrary capture start

func at(s float64) int64 { return sec0 + int64(s*float64(time.Second)) }

type flowSpec struct {
	proto          uint8
	client, server string
	c2s, s2c       DirStats
}

func mkDC(t *testing.T, specs ...flowSpec) (*detectContext, []*judged) {
	t.Helper()
	a := New(Options{})
	var js []*judged
	for i, s := range specs {
		f := &Flow{Proto: s.proto, tcp: &tcpState{}}
		f.setEndpoints(netip.MustParseAddrPort(s.client), netip.MustParseAddrPort(s.server))
		f.Dir[c2s], f.Dir[s2c] = s.c2s, s.s2c
		f.area = areaID(a.ep.AreaOfAddr(f.Server().Addr()))
		for _, d := range f.Dir {
			if d.Packets == 0 {
				continue
			}
			if f.First == 0 || d.First < f.First {
				f.First = d.First
			}
			f.Last = max(f.Last, d.Last)
		}
		a.end = max(a.end, f.Last)
		j := &judged{Flow: f, ID: int32(i + 1), Class: classifyByPort(f)}
		js = append(js, j)
	}
	return &detectContext{a: a, flows: js, rep: &Report{Flows: []FlowReport{}, Findings: []Finding{}, Calls: []Call{}}}, js
}

func dir(pkts int64, first, last float64, frame int64) DirStats {
	return DirStats{Packets: pkts, Bytes: pkts * 100, First: at(first), Last: at(last), FirstFrame: frame, TTLFirst: 50, TTLMin: 50, TTLMax: 50}
}

func runAll(dc *detectContext) []Finding {
	dc.groupCalls()
	var fs []Finding
	for _, d := range detectors {
		fs = append(fs, d(dc)...)
	}
	return fs
}

func codes(fs []Finding) []string {
	var s []string
	for _, f := range fs {
		s = append(s, string(f.Severity)+" "+f.Code)
	}
	return s
}

// A capture that starts mid-flow (no SYN seen) is never "blocked".
func TestMidFlowTCPIsNotBlocked(t *testing.T) {
	c := dir(6, 0, 20, 1)
	c.Flags = tcpACK | tcpPSH
	dc, _ := mkDC(t, flowSpec{proto: protoTCP, client: "192.168.1.10:49800", server: "52.112.196.42:443", c2s: c})
	for _, f := range runAll(dc) {
		if f.Severity != SeverityInfo && f.Code != CodeCaptureGaps {
			t.Errorf("mid-flow connection judged: %s %s: %s", f.Severity, f.Code, f.Detail)
		}
	}
}

// Unanswered ICE checks to a peer's private host candidate, while another
// pair from the same local port works, are ICE at work: no finding.
func TestICEChecksToPrivatePeerAreNotFindings(t *testing.T) {
	dc, js := mkDC(t,
		flowSpec{proto: protoUDP, client: "192.168.1.10:50010", server: "52.114.250.27:3478", c2s: dir(500, 0, 10, 1), s2c: dir(500, 0.05, 10, 2)},
		flowSpec{proto: protoUDP, client: "192.168.1.10:50010", server: "10.0.5.23:50014", c2s: dir(5, 0.1, 1.6, 3)},
	)
	fs := runAll(dc)
	for _, f := range fs {
		if slices.Contains(f.Flows, int(js[1].ID)) {
			t.Errorf("%s %s lists the ICE check to a private candidate", f.Severity, f.Code)
		}
	}
	if js[1].Call == 0 || js[1].Call != js[0].Call {
		t.Errorf("ICE flow call %d, relay flow call %d: want the same call", js[1].Call, js[0].Call)
	}
	if got := dc.rep.Calls[0].Streams[0].Connectivity; got != ConnRelay {
		t.Errorf("stream connectivity %q, want RELAY", got)
	}
}

// UDP to the relays sent just before the capture ended had no time to be
// answered.
func TestUDPNoAnswerNeedsTime(t *testing.T) {
	dc, _ := mkDC(t,
		flowSpec{proto: protoUDP, client: "192.168.1.10:50010", server: "52.114.250.27:3478", c2s: dir(1, 9.8, 9.8, 10)},
		flowSpec{proto: protoUDP, client: "192.168.1.10:60000", server: "192.168.1.1:53", c2s: dir(1, 0, 0, 1), s2c: dir(1, 10, 10, 11)},
	)
	if fs := detectUDPNoAnswer(dc); len(fs) != 0 {
		t.Errorf("got %v, want nothing for a request 0.2 s before the end", codes(fs))
	}
	dc, _ = mkDC(t,
		flowSpec{proto: protoUDP, client: "192.168.1.10:50010", server: "52.114.250.27:3478", c2s: dir(7, 0, 31.5, 1)},
	)
	fs := detectUDPNoAnswer(dc)
	if len(fs) != 1 || fs[0].Severity != SeverityError || fs[0].Remediation != ruleUDPSkype {
		t.Fatalf("got %+v, want one error with the UDP 3478-3481 rule", fs)
	}
	if !strings.Contains(fs[0].Detail, "1 flow, 1 relay, 7 packets") {
		t.Errorf("detail lacks verifiable figures: %s", fs[0].Detail)
	}
}

// TCP 5223 goes to Apple's push service: judged as push, never as a
// non-Office 365 destination.
func TestPushIsNotNonO365(t *testing.T) {
	syn := dir(4, 0, 7, 1)
	syn.Flags = tcpSYN
	dc, js := mkDC(t,
		flowSpec{proto: protoTCP, client: "192.168.1.10:49720", server: "17.57.144.84:5223", c2s: syn},
	)
	js[0].tcp = &tcpState{synSeen: true, synFrame: 1, synCount: 4}
	js[0].pl.fz = &frozen{tls: &tlsFacts{SNI: "x.online.lync.com"}} // even with an Office 365 name
	fs := runAll(dc)
	var got *Finding
	for i, f := range fs {
		if f.Code == CodeNonO365Destination {
			t.Errorf("push judged as non-o365-destination: %s", f.Detail)
		}
		if f.Code == CodeTCPNoAnswer {
			got = &fs[i]
		}
	}
	if got == nil || got.Remediation != rulePush || !strings.Contains(got.Title, "push") {
		t.Fatalf("got %+v, want tcp-no-answer with the push rule", got)
	}
	for _, v := range verdicts(nil, js, fs) {
		if v.Feature == FeaturePush && v.Status != StatusFailing {
			t.Errorf("push verdict %s, want failing", v.Status)
		}
	}
}

// A RST "from the server" with a TTL unlike the server's SYN-ACK is forged
// by a middlebox; a client's own RST is the application closing.
func TestTCPResetSidesAndTTL(t *testing.T) {
	mk := func(rstSide int8, rstTTL uint8) *detectContext {
		c, s := dir(10, 0, 4, 1), dir(10, 0.02, 4.8, 2)
		c.TTLFirst, c.TTLMin, c.TTLMax = 128, 128, 128
		dc, js := mkDC(t, flowSpec{proto: protoTCP, client: "192.168.1.10:49780", server: "52.112.196.42:443", c2s: c, s2c: s})
		js[0].Dir[c2s].PayloadBytes, js[0].Dir[s2c].PayloadBytes = 3000, 6000
		js[0].tcp = &tcpState{synSeen: true, synFrame: 1, synCount: 1, synAckSeen: true, established: true,
			rstFrame: 30, rstSide: rstSide, rstTTL: rstTTL, rstTime: at(4.8), helloFrame: 4,
			lastPayload: [2]int64{at(4), at(4)}, lastPayloadAny: at(4)}
		return dc
	}
	fs := detectTCPReset(mk(s2c, 254))
	if len(fs) != 1 || !strings.Contains(fs[0].Detail, "forged by a middlebox") || !strings.Contains(fs[0].Detail, "mid-data") {
		t.Fatalf("server-side RST TTL 254 vs SYN-ACK 50: got %+v", fs)
	}
	if fs := detectTCPReset(mk(s2c, 50)); len(fs) != 1 || strings.Contains(fs[0].Detail, "forged") {
		t.Errorf("genuine server RST: got %+v", fs)
	}
	if fs := detectTCPReset(mk(c2s, 128)); len(fs) != 0 {
		t.Errorf("client's own RST reported: %+v", fs)
	}
}

// Several connections cut after the same idle time: one idle-cut finding
// that says so; an HTTPS server closing an idle keep-alive with FIN is not.
func TestIdleCutSameInterval(t *testing.T) {
	var specs []flowSpec
	for i, port := range []string{"49800", "49801"} {
		base := float64(i) * 400
		specs = append(specs, flowSpec{proto: protoTCP, client: "192.168.1.10:" + port, server: "52.113.194.132:443",
			c2s: dir(10, base, base+2, int64(1+i*20)), s2c: dir(10, base+0.02, base+302, int64(2+i*20))})
	}
	specs = append(specs, flowSpec{proto: protoTCP, client: "192.168.1.10:49900", server: "52.113.194.132:443",
		c2s: dir(10, 900, 902, 50), s2c: dir(10, 900.02, 972, 51)})
	dc, js := mkDC(t, specs...)
	for i, j := range js {
		j.Class = ClassHTTPS
		j.Dir[c2s].PayloadBytes, j.Dir[s2c].PayloadBytes = 2000, 4000
		last := j.Dir[c2s].Last
		j.tcp = &tcpState{synSeen: true, synAckSeen: true, established: true, helloFrame: j.Dir[c2s].FirstFrame + 2,
			lastPayload: [2]int64{last, last}, lastPayloadAny: last}
		if i < 2 {
			j.tcp.rstFrame, j.tcp.rstSide, j.tcp.rstTTL, j.tcp.rstTime = j.Dir[s2c].FirstFrame+10, s2c, 50, j.Dir[s2c].Last
		} else {
			j.tcp.finFrame[s2c] = 60 // keep-alive close by the server, 70 s idle
		}
	}
	fs := detectIdleCut(dc)
	if len(fs) != 1 {
		t.Fatalf("got %d findings, want 1: %+v", len(fs), fs)
	}
	f := fs[0]
	if !slices.Equal(f.Flows, []int{1, 2}) || !strings.Contains(f.Detail, "same ~300 s") || f.Remediation != ruleIdle {
		t.Errorf("got flows %v, detail %q, remediation %q", f.Flows, f.Detail, f.Remediation)
	}
}

// The stale-state cut: after a silence the client's next packet is
// answered by a RST at once (pcaps/lab/09-idle-cut.pcap).
func TestIdleCutStaleState(t *testing.T) {
	dc, js := mkDC(t, flowSpec{proto: protoTCP, client: "192.168.50.2:49890", server: "52.112.0.10:443",
		c2s: dir(8, 0, 5.0138, 1), s2c: dir(6, 0.0001, 5.0139, 2)})
	j := js[0]
	j.Class = ClassSIP
	j.Dir[c2s].PayloadBytes, j.Dir[s2c].PayloadBytes = 600, 900
	j.tcp = &tcpState{synSeen: true, synAckSeen: true, established: true, helloFrame: 4,
		rstFrame: 14, rstSide: s2c, rstTTL: 50, rstTime: at(5.0139),
		lastPayload: [2]int64{at(5.0138), at(0.0077)}, lastPayloadAny: at(5.0138)}
	fs := detectIdleCut(dc)
	if len(fs) != 1 || !strings.Contains(fs[0].Detail, "after 5 s of silence the client's next packet was answered by a RST") {
		t.Fatalf("got %+v", fs)
	}
	if fs := detectTCPReset(dc); len(fs) != 0 {
		t.Errorf("also reported as tcp-reset: %+v", fs)
	}
}

// Media over TCP only when UDP to the relays does not work, and only with
// real media on it (Teams opens idle TCP relay candidates in every call).
func TestMediaOverTCPNeedsUDPFailure(t *testing.T) {
	tcpMedia := flowSpec{proto: protoTCP, client: "192.168.1.10:50012", server: "52.114.250.27:443", c2s: dir(400, 2, 10, 5), s2c: dir(400, 2, 10, 6)}
	udpOK := flowSpec{proto: protoUDP, client: "192.168.1.10:50010", server: "52.114.250.27:3478", c2s: dir(10, 0, 10, 1), s2c: dir(10, 0, 10, 2)}
	udpBad := flowSpec{proto: protoUDP, client: "192.168.1.10:50010", server: "52.114.250.27:3478", c2s: dir(7, 0, 31.5, 1)}
	for _, tc := range []struct {
		name  string
		specs []flowSpec
		want  int
	}{
		{"udp works", []flowSpec{udpOK, tcpMedia}, 0},
		{"udp fails", []flowSpec{udpBad, tcpMedia}, 1},
		{"udp never tried", []flowSpec{tcpMedia}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dc, js := mkDC(t, tc.specs...)
			for _, j := range js {
				if j.Proto == protoTCP {
					j.Dir[s2c].PayloadBytes = 40000
					j.tcp = &tcpState{synSeen: true, synAckSeen: true, established: true}
				}
			}
			fs := detectMediaOverTCP(dc)
			if len(fs) != tc.want {
				t.Fatalf("got %v, want %d finding", codes(fs), tc.want)
			}
			if tc.want == 1 && fs[0].Remediation != ruleUDPSkype {
				t.Errorf("remediation %q", fs[0].Remediation)
			}
			dc.groupCalls()
			if tc.want == 1 && dc.rep.Calls[0].Streams[0].Connectivity != ConnTCP {
				t.Errorf("stream %+v, want TCP", dc.rep.Calls[0].Streams[0])
			}
		})
	}
}

// Remediation: deduplicated, no info, no capture advice.
func TestRemediationList(t *testing.T) {
	fs := []Finding{
		{Code: CodeTCPNoAnswer, Severity: SeverityError, Remediation: ruleTCP443Skype},
		{Code: CodeTCPRefused, Severity: SeverityError, Remediation: ruleTCP443Skype},
		{Code: CodeCaptureGaps, Severity: SeverityWarning, Remediation: ruleCapture},
		{Code: CodeNonO365Destination, Severity: SeverityInfo, Remediation: "x"},
		{Code: CodeMediaOverTCP, Severity: SeverityWarning, Remediation: ruleUDPSkype},
	}
	if got, want := remediation(fs), []string{ruleTCP443Skype, ruleUDPSkype}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The edge range: low destination ports answered, high ones silent.
func TestEdgePortRangeNeedsContrast(t *testing.T) {
	ok := flowSpec{proto: protoUDP, client: "192.168.1.10:50010", server: "13.107.64.21:50020", c2s: dir(100, 0, 2, 1), s2c: dir(100, 0, 2, 2)}
	bad := flowSpec{proto: protoUDP, client: "192.168.1.10:50010", server: "13.107.64.21:51000", c2s: dir(7, 0, 31.5, 3)}
	dc, _ := mkDC(t, ok, bad)
	fs := detectEdgePortRange(dc)
	if len(fs) != 1 || !slices.Equal(fs[0].Flows, []int{2}) || fs[0].Remediation != ruleEdgeRange {
		t.Fatalf("got %+v", fs)
	}
	if fs := detectUDPNoAnswer(dc); len(fs) != 0 {
		t.Errorf("the same root cause reported twice: %v", codes(fs))
	}
	dc, _ = mkDC(t, bad)
	if fs := detectEdgePortRange(dc); len(fs) != 0 {
		t.Errorf("no contrast, still edge-port-range-blocked: %+v", fs)
	}
}

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n          int
		word, want string
	}{{1, "flow", "1 flow"}, {3, "flow", "3 flows"}, {2, "relay", "2 relays"}, {2, "query", "2 queries"}, {0, "hop", "0 hops"}} {
		if got := plural(tc.n, tc.word); got != tc.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tc.n, tc.word, got, tc.want)
		}
	}
}

// The capture itself: a file cut short and packets cut by the snaplen.
func TestCaptureTruncated(t *testing.T) {
	dc, _ := mkDC(t)
	if fs := detectCaptureTruncated(dc); len(fs) != 0 {
		t.Fatalf("complete capture: got %+v", fs)
	}
	dc.rep.Capture.Truncated = true
	dc.rep.Capture.Packets = 42
	dc.rep.Capture.Warnings = []string{"x.pcap: capture cut short: record 43 header has 2 of 16 bytes (offset 9000)"}
	dc.rep.Capture.Problems = map[string]int{"truncated by snaplen": 3}
	dc.a.snapTruncated = 3 // the analyzer's count behind that problem
	fs := detectCaptureTruncated(dc)
	if len(fs) != 1 || fs[0].Severity != SeverityWarning || !slices.Equal(fs[0].Frames, []int64{42}) {
		t.Fatalf("got %+v", fs)
	}
	for _, s := range []string{"after 42 packets", "record 43 header", "3 packets were cut by the capture's snaplen"} {
		if !strings.Contains(fs[0].Detail, s) {
			t.Errorf("detail lacks %q: %s", s, fs[0].Detail)
		}
	}
	if got := remediation(fs); len(got) != 0 {
		t.Errorf("capture advice in the rules list: %q", got)
	}
}

// TestKernelDropsReported: pcapng drop counts (the suite's test009 EPB has
// epb_dropcount 12345) make the capture itself suspect.
func TestKernelDropsReported(t *testing.T) {
	rep := analyzeFile(t, pcaptest.Shared(t, "pcaps/pcapng-suite/output_be/basic/test009.pcapng"))
	if rep.Capture.KernelDrops != 12345 {
		t.Errorf("kernel_drops = %d, want 12345", rep.Capture.KernelDrops)
	}
	for _, f := range rep.Findings {
		if f.Code == CodeCaptureTruncated && strings.Contains(f.Detail, "12345 packets lost") {
			return
		}
	}
	t.Errorf("no capture-truncated finding naming the 12345 dropped packets: %+v", rep.Findings)
}

// setEndpoints keys a flow built by hand from its client and server.
func (f *Flow) setEndpoints(client, server netip.AddrPort) {
	r := decodeResult{proto: f.Proto, srcPort: client.Port(), dstPort: server.Port()}
	put := func(b *[16]byte, a netip.Addr) {
		if a.Is4() {
			v4 := a.As4()
			copy(b[:], v4[:])
		} else {
			*b, r.ipv6 = a.As16(), true
		}
	}
	put(&r.src, client.Addr())
	put(&r.dst, server.Addr())
	f.Key, f.clientIsA = makeKey(&r)
}

// TestTCPMediaByRelayName: a TCP flow whose only sign of media is its
// server's name (a Teams relay, REFERENCE.md "Media over TCP 443") is
// media over TCP; any other name is not.
func TestTCPMediaByRelayName(t *testing.T) {
	a := New(Options{})
	dc := &detectContext{a: a}
	for name, want := range map[string]bool{"worldaz.relay.teams.microsoft.com": true, "presence.teams.microsoft.com": false} {
		f := &Flow{Proto: protoTCP, tcp: &tcpState{}}
		f.setEndpoints(netip.MustParseAddrPort("192.168.1.10:49720"), netip.MustParseAddrPort("52.113.1.1:443"))
		f.pl.fz = &frozen{tls: &tlsFacts{SNI: name}}
		var j judged
		a.judge(&j, f, 1)
		if got := dc.isTCPMedia(&j); got != want {
			t.Errorf("%s: media over TCP %v, want %v", name, got, want)
		}
	}
}

// TestCallsJoinedByKey: media flows that neither share a client address
// nor overlap in time are one call when they share a local media socket,
// an ICE username or a relay allocation; without any of these, two calls.
func TestCallsJoinedByKey(t *testing.T) {
	stun := func(ufrag string, relayed string) *frozen {
		m := &stunMore{}
		if ufrag != "" {
			m.Ufrags = []string{ufrag}
		}
		if relayed != "" {
			m.Relayed = []netip.AddrPort{netip.MustParseAddrPort(relayed)}
		}
		return &frozen{stun: &stunFacts{more: m}}
	}
	for _, tc := range []struct {
		name         string
		clientB      string // the second flow's client, 60 s after the first
		stunA, stunB *frozen
		calls        int
	}{
		{"local socket", "10.0.0.5:50010", nil, nil, 1},
		{"ICE username", "10.0.0.6:50012", stun("abcd", ""), stun("abcd", ""), 1},
		{"relay allocation", "10.0.0.7:50014", stun("", "52.113.0.9:50500"), stun("", "52.113.0.9:50500"), 1},
		{"nothing shared", "10.0.0.8:50016", stun("abcd", "52.113.0.9:50500"), stun("efgh", "52.113.0.9:50502"), 2},
	} {
		dc, js := mkDC(t,
			flowSpec{proto: protoUDP, client: "10.0.0.5:50010", server: "52.113.0.1:3478", c2s: dir(10, 0, 10, 1), s2c: dir(10, 0, 10, 2)},
			flowSpec{proto: protoUDP, client: tc.clientB, server: "52.113.0.2:3478", c2s: dir(10, 60, 70, 30), s2c: dir(10, 60, 70, 31)},
		)
		if tc.stunA != nil {
			js[0].pl.fz, js[1].pl.fz = tc.stunA, tc.stunB
		}
		dc.groupCalls()
		if len(dc.rep.Calls) != tc.calls {
			t.Errorf("%s: %d calls, want %d", tc.name, len(dc.rep.Calls), tc.calls)
		}
	}
}
