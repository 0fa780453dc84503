package analyze

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// wantFinding is a code that must appear, with the flows ("client ->
// server" as the report prints them) it must list.
type wantFinding struct {
	code  string
	flows []string
}

// scenarioCase is one capture's contract (pcaps/README.md, pcaps/lab).
type scenarioCase struct {
	file    string
	must    []wantFinding
	mustNot []string // codes that must not appear at all
	// notIn: flows ("client -> server") that no finding of the code may list.
	notIn   map[string][]string
	healthy bool // no error or warning finding
	none    bool // no finding at all
	// once: codes that must be exactly one finding (one root cause), with
	// text its title or detail must contain ("" = any).
	once map[string]string
}

func pair(client, server string) string { return client + " -> " + server }

// generatedCases mirrors the MUST / MUST NOT lines of pcaps/README.md.
var generatedCases = []scenarioCase{
	{file: "healthy-call.pcapng", healthy: true,
		mustNot: []string{CodeTURNAllocateFailed, CodeUDPNoAnswer}},
	{file: "failing-call.pcap", must: []wantFinding{
		{CodeTCPNoAnswer, []string{pair("192.168.1.10:49750", "52.112.196.42:443"), pair("192.168.1.10:49751", "52.113.194.132:443")}},
		{CodeUDPNoAnswer, []string{pair("192.168.1.10:50010", "52.114.250.27:3478")}},
		{CodeSourcePortOutOfRange, []string{pair("192.168.1.10:61234", "52.114.250.28:3479")}},
	}},
	{file: "tcp-no-answer.pcap", must: []wantFinding{
		{CodeTCPNoAnswer, []string{pair("192.168.1.10:49760", "52.112.196.42:443"), pair("192.168.1.10:49761", "52.113.194.132:443")}},
	}, mustNot: []string{CodeTCPRefused}, once: map[string]string{CodeTCPNoAnswer: "2 connections, 8 SYNs"}},
	{file: "tcp-refused.pcap", must: []wantFinding{
		{CodeTCPRefused, []string{pair("192.168.1.10:49770", "52.112.196.42:443"), pair("192.168.1.10:49771", "52.96.91.34:443")}},
	}, mustNot: []string{CodeTCPNoAnswer}},
	{file: "tcp-reset.pcap", must: []wantFinding{
		{CodeTCPReset, []string{pair("192.168.1.10:49780", "52.112.196.42:443")}},
	}, mustNot: []string{CodeTLSResetAfterHello},
		notIn: map[string][]string{CodeTCPReset: {pair("192.168.1.10:49781", "52.112.196.42:443")}},
		once:  map[string]string{CodeTCPReset: "TTL 254"}},
	{file: "tls-reset-after-hello.pcap", must: []wantFinding{
		{CodeTLSResetAfterHello, []string{pair("192.168.1.10:49790", "52.112.196.42:443"), pair("192.168.1.10:49791", "20.190.151.7:443")}},
	}, mustNot: []string{CodeTCPReset}, once: map[string]string{CodeTLSResetAfterHello: "forged by a middlebox"}},
	{file: "icmp-unreachable.pcap", must: []wantFinding{
		{CodeICMPUnreachable, []string{pair("192.168.1.10:50010", "52.114.250.27:3478"), pair("[2001:db8:10::10]:50020", "[2603:1063:2:4::15]:3478")}},
	}, mustNot: []string{CodeUDPNoAnswer}},
	{file: "udp-no-answer.pcap", must: []wantFinding{
		{CodeUDPNoAnswer, []string{pair("192.168.1.10:50010", "52.114.250.27:3478"), pair("192.168.1.10:50030", "52.114.250.27:3480"), pair("192.168.1.10:50045", "52.114.250.27:3481")}},
	}, notIn: map[string][]string{CodeUDPNoAnswer: {pair("192.168.1.10:50010", "10.0.5.23:50014")}},
		once: map[string]string{CodeUDPNoAnswer: "3 flows, 1 relay"}},
	{file: "one-way-media.pcap", must: []wantFinding{
		{CodeOneWayMedia, []string{pair("192.168.1.10:50010", "52.114.250.27:3478")}},
	}, mustNot: []string{CodeUDPNoAnswer, CodeTURNAllocateFailed}},
	{file: "media-over-tcp.pcap", must: []wantFinding{
		{CodeMediaOverTCP, []string{pair("192.168.1.10:50012", "52.114.250.27:443")}},
		{CodeUDPNoAnswer, []string{pair("192.168.1.10:50010", "52.114.250.27:3478")}},
	}},
	{file: "source-port-out-of-range.pcap", must: []wantFinding{
		{CodeSourcePortOutOfRange, []string{pair("192.168.1.10:62000", "52.114.250.27:3478"), pair("192.168.1.10:50005", "52.114.250.27:3478")}},
	}, notIn: map[string][]string{CodeSourcePortOutOfRange: {pair("192.168.1.10:50010", "52.114.250.27:3478")}}},
	{file: "edge-port-range-blocked.pcap", must: []wantFinding{
		{CodeEdgePortRangeBlocked, []string{pair("192.168.1.10:50010", "13.107.64.21:51000"), pair("192.168.1.10:50010", "13.107.64.21:55000")}},
	}, mustNot: []string{CodeUDPNoAnswer}, once: map[string]string{CodeEdgePortRangeBlocked: "50020, 50045"}},
	{file: "idle-cut.pcap", must: []wantFinding{
		{CodeIdleCut, []string{pair("192.168.1.10:49800", "52.112.196.42:443"), pair("192.168.1.10:49801", "52.112.196.42:443"), pair("192.168.1.10:49802", "52.112.196.42:443")}},
	}, mustNot: []string{CodeTLSResetAfterHello}, once: map[string]string{CodeIdleCut: "same ~300 s"}},
	{file: "dns-failure.pcap", must: []wantFinding{{CodeDNSFailure, nil}}},
	{file: "non-o365-destination.pcap", must: []wantFinding{
		{CodeNonO365Destination, []string{pair("192.168.1.10:49810", "203.0.113.10:443"), pair("192.168.1.10:50010", "198.51.100.7:3478")}},
	}},
	{file: "turn-allocate-failed.pcap", must: []wantFinding{
		{CodeTURNAllocateFailed, []string{pair("192.168.1.10:50010", "52.114.250.27:3478"), pair("192.168.1.10:50030", "52.114.250.28:3478")}},
	}, mustNot: []string{CodeUDPNoAnswer}},
	{file: "media-quality.pcap", must: []wantFinding{
		{CodeMediaQuality, []string{pair("192.168.1.10:50010", "52.114.250.27:3478")}},
	}, mustNot: []string{CodeOneWayMedia}},
	{file: "nat-mapping-changed.pcap", must: []wantFinding{
		{CodeNATMappingChanged, []string{pair("192.168.1.10:50010", "52.114.250.27:3478")}},
	}},
	{file: "tls-intercepted.pcap", must: []wantFinding{
		{CodeTLSIntercepted, []string{pair("192.168.1.10:49820", "52.112.196.42:443"), pair("192.168.1.10:49821", "52.112.197.30:443")}},
	}},
	{file: "via-proxy.pcap", must: []wantFinding{
		{CodeViaProxy, []string{pair("192.168.1.10:49830", "10.0.0.8:8080"), pair("192.168.1.10:49831", "10.0.0.8:8080")}},
	}, mustNot: []string{CodeTLSIntercepted, CodeNonO365Destination}},
	{file: "capture-gaps.pcap", must: []wantFinding{
		{CodeCaptureGaps, []string{pair("192.168.1.10:49840", "52.112.196.42:443"), pair("192.168.1.10:49841", "52.112.197.30:443")}},
	}, mustNot: []string{CodeTCPNoAnswer}},
	{file: "vlan-qinq.pcap", none: true},
	{file: "sll.pcap", none: true},
	{file: "sll2.pcap", none: true},
	{file: "raw-ip.pcap", none: true},
	{file: "two-interfaces.pcapng", none: true},
	{file: "ipv6-call.pcapng", healthy: true},
}

// labCases: real captures from the firewall lab (pcaps/lab), one firewall
// misconfiguration each, named by the file.
var labCases = []scenarioCase{
	{file: "lab/01-all-open.pcap", healthy: true},
	// The lab's STUN/TURN clients use ephemeral source ports: `make lab`
	// changes them, so only fixed ports are named here.
	{file: "lab/02-udp-stun-dropped.pcap", must: []wantFinding{
		{CodeUDPNoAnswer, nil},
		{CodeMediaOverTCP, []string{pair("192.168.50.2:50012", "52.112.0.10:443")}},
	}},
	{file: "lab/03-udp-stun-rejected.pcap", must: []wantFinding{{CodeICMPUnreachable, nil}}},
	{file: "lab/04-edge-range-copied.pcap", must: []wantFinding{{CodeEdgePortRangeBlocked, nil}}},
	{file: "lab/05-tls-sni-reset.pcap", must: []wantFinding{{CodeTLSResetAfterHello, nil}}},
	{file: "lab/06-push-dropped.pcap", must: []wantFinding{{CodeTCPNoAnswer, nil}}, mustNot: []string{CodeNonO365Destination}},
	{file: "lab/07-tcp443-refused.pcap", must: []wantFinding{{CodeTCPRefused, nil}}},
	// One root cause: the firewall passes media only from the article's
	// client ports; the finding lists both flows and the working 50002.
	{file: "lab/08-source-port-out-of-range.pcap", must: []wantFinding{
		{CodeSourcePortOutOfRange, []string{pair("192.168.50.2:41000", "52.112.0.10:50010"), pair("192.168.50.2:60001", "52.112.0.10:50010")}},
	}},
	{file: "lab/09-idle-cut.pcap", must: []wantFinding{{CodeIdleCut, nil}}},
	{file: "lab/10-ipv6-rejected.pcap", must: []wantFinding{{CodeICMPUnreachable, nil}, {CodeTCPRefused, nil}}},
}

func runScenario(t *testing.T, tc scenarioCase) {
	path := pcaptest.Pcaps(tc.file)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("skipping: %s not generated yet", tc.file)
	}
	rep := analyzeFile(t, path)
	byID := map[int]string{}
	for _, f := range rep.Flows {
		byID[f.ID] = pair(f.Client, f.Server)
	}
	flowsOf := func(code string) []string {
		var out []string
		for _, f := range rep.Findings {
			if f.Code == code {
				for _, id := range f.Flows {
					out = append(out, byID[id])
				}
			}
		}
		return out
	}
	has := func(code string) bool {
		return slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Code == code })
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, string(f.Severity)+" "+f.Code)
	}
	for _, w := range tc.must {
		if !has(w.code) {
			t.Errorf("finding %s missing; got %v", w.code, got)
			continue
		}
		fl := flowsOf(w.code)
		for _, p := range w.flows {
			if !slices.Contains(fl, p) {
				t.Errorf("%s: flow %s not listed; got %v", w.code, p, fl)
			}
		}
	}
	for code, text := range tc.once {
		var fs []Finding
		for _, f := range rep.Findings {
			if f.Code == code {
				fs = append(fs, f)
			}
		}
		if len(fs) != 1 {
			t.Errorf("%s: %d findings, want 1 (one per root cause)", code, len(fs))
			continue
		}
		if !strings.Contains(fs[0].Title+" "+fs[0].Detail, text) {
			t.Errorf("%s: detail lacks %q: %s", code, text, fs[0].Detail)
		}
	}
	for _, c := range tc.mustNot {
		if has(c) {
			t.Errorf("finding %s reported, want none; got %v", c, got)
		}
	}
	for code, ps := range tc.notIn {
		fl := flowsOf(code)
		for _, p := range ps {
			if slices.Contains(fl, p) {
				t.Errorf("%s lists %s, which is normal", code, p)
			}
		}
	}
	for _, f := range rep.Findings {
		if tc.none || tc.healthy && f.Severity != SeverityInfo {
			t.Errorf("unexpected finding on a healthy capture: %s %s: %s", f.Severity, f.Code, f.Detail)
		}
		if f.FirstSeen.IsZero() {
			t.Errorf("%s: first_seen not set", f.Code)
		}
		if len(f.Frames) == 0 {
			t.Errorf("%s: no frames to check in Wireshark", f.Code)
		}
		if f.Severity != SeverityInfo && f.Remediation == "" {
			t.Errorf("%s: %s finding without remediation", f.Code, f.Severity)
		}
	}
}

// TestDetectScenarios checks the findings of each generated capture
// against its contract in pcaps/README.md.
func TestDetectScenarios(t *testing.T) {
	for _, tc := range generatedCases {
		t.Run(tc.file, func(t *testing.T) { runScenario(t, tc) })
	}
}

// TestDetectLab checks the firewall lab's real captures.
func TestDetectLab(t *testing.T) {
	for _, tc := range labCases {
		t.Run(tc.file, func(t *testing.T) { runScenario(t, tc) })
	}
}

// readmeContract parses a pcaps README: "## file" sections with
// "- MUST `code`" / "- MUST NOT `code`" lines and the "MUST NOT report any
// finding" sentences.
func readmeContract(t *testing.T, path string) []scenarioCase {
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("skipping: %s: %v", path, err)
	}
	defer f.Close()
	dir := filepath.Base(filepath.Dir(path))
	prefix := ""
	if dir == "lab" {
		prefix = "lab/"
	}
	must := regexp.MustCompile("^- MUST `([a-z0-9-]+)`")
	mustNot := regexp.MustCompile("^- MUST NOT `([a-z0-9-]+)`")
	var cases []scenarioCase
	var cur *scenarioCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "## "):
			name := strings.Trim(strings.TrimSpace(line[3:]), "`")
			if !strings.HasSuffix(name, ".pcap") && !strings.HasSuffix(name, ".pcapng") {
				cur = nil
				continue
			}
			cases = append(cases, scenarioCase{file: prefix + name})
			cur = &cases[len(cases)-1]
		case cur == nil:
		case must.MatchString(line):
			cur.must = append(cur.must, wantFinding{code: must.FindStringSubmatch(line)[1]})
		case mustNot.MatchString(line):
			cur.mustNot = append(cur.mustNot, mustNot.FindStringSubmatch(line)[1])
		case strings.Contains(line, "MUST NOT report any finding of severity error or warning"):
			cur.healthy = true
		case strings.Contains(line, "MUST NOT report any finding"):
			cur.none = true
		}
	}
	// A MUST NOT of a code that is also a MUST names particular flows
	// (checked by the explicit tables), not the whole file.
	for i := range cases {
		c := &cases[i]
		c.mustNot = slices.DeleteFunc(c.mustNot, func(code string) bool {
			return slices.ContainsFunc(c.must, func(w wantFinding) bool { return w.code == code })
		})
	}
	return cases
}

// TestDetectReadmeContracts runs the contracts as written in the READMEs,
// so a scenario added by the generator or the lab is checked at once.
func TestDetectReadmeContracts(t *testing.T) {
	for _, readme := range []string{"README.md", "lab/README.md"} {
		t.Run(readme, func(t *testing.T) {
			for _, tc := range readmeContract(t, pcaptest.Pcaps(readme)) {
				t.Run(tc.file, func(t *testing.T) { runScenario(t, tc) })
			}
		})
	}
}

// TestTeamsCallNoError: the real Teams call must produce no error finding,
// and its ICE checks to the peer's private host candidates are not findings.
func TestTeamsCallNoError(t *testing.T) {
	rep := analyzeFile(t, pcaptest.Shared(t, "pcaps/ndpi/teams.pcap"))
	for _, f := range rep.Findings {
		if f.Severity == SeverityError {
			t.Errorf("error finding on a healthy Teams call: %s: %s", f.Code, f.Detail)
		}
	}
	ice := flowByEnds(rep, "192.168.1.6:50016", "192.168.0.4:50005")
	if ice == nil {
		t.Fatal("ICE check flow 192.168.1.6:50016 -> 192.168.0.4:50005 missing")
	}
	for _, f := range rep.Findings {
		if slices.Contains(f.Flows, ice.ID) {
			t.Errorf("%s lists the ICE check to a private peer candidate", f.Code)
		}
	}
	if len(rep.Calls) != 1 {
		t.Fatalf("calls = %d, want 1", len(rep.Calls))
	}
	for _, s := range rep.Calls[0].Streams {
		if s.Connectivity == ConnFailed {
			t.Errorf("%s stream FAILED on a working call: %s", s.Modality, s.Why)
		}
	}
	if ice.Call == nil || *ice.Call != rep.Calls[0].ID || ice.Connectivity != ConnFailed {
		t.Errorf("ICE flow: call %v connectivity %q, want call %d, FAILED (its own pair)", ice.Call, ice.Connectivity, rep.Calls[0].ID)
	}
	for _, v := range rep.Verdicts {
		if v.Status == StatusFailing {
			t.Errorf("verdict %s failing on a healthy call (%v)", v.Feature, v.Findings)
		}
	}
}

// TestHealthyCallCallsAndVerdicts: the generated healthy call is one call
// with three RELAY streams, and every feature it exercises is ok.
func TestHealthyCallCallsAndVerdicts(t *testing.T) {
	path := pcaptest.Pcaps("healthy-call.pcapng")
	if _, err := os.Stat(path); err != nil {
		t.Skip("skipping: healthy-call.pcapng not generated yet")
	}
	rep := analyzeFile(t, path)
	if len(rep.Calls) != 1 {
		t.Fatalf("calls = %d, want 1: %+v", len(rep.Calls), rep.Calls)
	}
	got := map[string]string{}
	for _, s := range rep.Calls[0].Streams {
		got[s.Modality] = s.Connectivity
	}
	want := map[string]string{ClassAudio: ConnRelay, ClassVideo: ConnRelay, ClassDesktopShare: ConnRelay}
	for m, c := range want {
		if got[m] != c {
			t.Errorf("%s stream: got %q, want %q", m, got[m], c)
		}
	}
	status := map[string]string{}
	for _, v := range rep.Verdicts {
		status[v.Feature] = v.Status
	}
	for _, f := range []string{FeatureSignIn, FeaturePresence, FeatureOutlook, FeatureFileTransfer, FeatureAudio, FeatureVideo, FeatureSharing, FeaturePush} {
		if status[f] != StatusOK {
			t.Errorf("verdict %s = %q, want ok", f, status[f])
		}
	}
}

// TestFailingVerdicts: features hit by error findings are failing, with the
// codes listed.
func TestFailingVerdicts(t *testing.T) {
	for _, tc := range []struct {
		file, feature, code string
	}{
		{"failing-call.pcap", FeatureSignIn, CodeTCPNoAnswer},
		{"udp-no-answer.pcap", FeatureAudio, CodeUDPNoAnswer},
		{"lab/06-push-dropped.pcap", FeaturePush, CodeTCPNoAnswer},
		{"tcp-refused.pcap", FeatureOutlook, CodeTCPRefused},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := pcaptest.Pcaps(tc.file)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("skipping: %s not there yet", tc.file)
			}
			rep := analyzeFile(t, path)
			for _, v := range rep.Verdicts {
				if v.Feature == tc.feature {
					if v.Status != StatusFailing || !slices.Contains(v.Findings, tc.code) {
						t.Errorf("%s: got %s %v, want failing with %s", tc.feature, v.Status, v.Findings, tc.code)
					}
					return
				}
			}
			t.Errorf("no verdict for %s", tc.feature)
		})
	}
}
