package analyze

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

func analyzeFile(t testing.TB, path string) *Report {
	t.Helper()
	rep, err := AnalyzeFiles([]string{path}, Options{})
	if err != nil {
		t.Fatalf("AnalyzeFiles(%s): %v", path, err)
	}
	return rep
}

func flowByEnds(rep *Report, client, server string) *FlowReport {
	for i := range rep.Flows {
		if rep.Flows[i].Client == client && rep.Flows[i].Server == server {
			return &rep.Flows[i]
		}
	}
	return nil
}

// writeJSON writes the report as the CLI would, for the oracles.
func writeJSON(t testing.TB, rep *Report) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "report.json")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Render(f, rep, RenderOptions{Format: "json"}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTeamsCallMediaFlows(t *testing.T) {
	path := pcaptest.Shared(t, "pcaps/ndpi/teams.pcap")
	rep := analyzeFile(t, path)
	if rep.Capture.Packets != 1540 { // capinfos -c
		t.Errorf("packets = %d, want 1540 (capinfos)", rep.Capture.Packets)
	}
	for _, tc := range []struct{ client, server, class string }{
		{"192.168.1.6:50016", "52.114.250.141:3478", ClassAudio},
		{"192.168.1.6:50036", "52.114.250.137:3478", ClassVideo},
	} {
		f := flowByEnds(rep, tc.client, tc.server)
		if f == nil {
			t.Errorf("flow %s -> %s missing", tc.client, tc.server)
			continue
		}
		if f.Class != tc.class || f.O365 != AreaSkype {
			t.Errorf("flow %s -> %s: class %q o365 %q, want %q skype", tc.client, tc.server, f.Class, f.O365, tc.class)
		}
	}
}

// ndpiFlowLine matches a flow line of ndpiReader's output with its counts.
var ndpiFlowLine = regexp.MustCompile(`^\s+\d+\s+(TCP|UDP)\s+(\S+)\s+<?->\s+(\S+)\s+.*?\[(\d+) pkts/(\d+) bytes (?:<->|->) (\d+) pkts/(\d+) bytes\]`)

// TestTeamsFlowsMatchNDPI checks that every flow nDPI lists appears with the
// same endpoints, packets and bytes each way.
func TestTeamsFlowsMatchNDPI(t *testing.T) {
	path := pcaptest.Shared(t, "pcaps/ndpi/teams.pcap")
	out := pcaptest.Shared(t, "pcaps/ndpi/teams.pcap.ndpi.out")
	rep := analyzeFile(t, path)
	type side struct{ pkts, bytes int64 }
	got := map[string]map[string]side{}
	for _, f := range rep.Flows {
		k := f.Transport + " " + strings.Join(sorted(f.Client, f.Server), " ")
		got[k] = map[string]side{f.Client: {f.Packets.C2S, f.Bytes.C2S}, f.Server: {f.Packets.S2C, f.Bytes.S2C}}
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	n := 0
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := ndpiFlowLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n++
		k := strings.ToLower(m[1]) + " " + strings.Join(sorted(m[2], m[3]), " ")
		g, ok := got[k]
		if !ok {
			t.Errorf("nDPI flow %s missing from the report", k)
			continue
		}
		p1, _ := strconv.ParseInt(m[4], 10, 64)
		b1, _ := strconv.ParseInt(m[5], 10, 64)
		p2, _ := strconv.ParseInt(m[6], 10, 64)
		b2, _ := strconv.ParseInt(m[7], 10, 64)
		if g[m[2]] != (side{p1, b1}) || g[m[3]] != (side{p2, b2}) {
			t.Errorf("flow %s: got %v, nDPI %s %d/%d, %s %d/%d", k, g, m[2], p1, b1, m[3], p2, b2)
		}
	}
	if n < 80 {
		t.Fatalf("parsed only %d nDPI flow lines", n)
	}
}

func sorted(a, b string) []string {
	s := []string{a, b}
	sort.Strings(s)
	return s
}

// TestFlowOracle runs ../shared/tools/floworacle.py (tshark) on real captures.
// 6in4tunnel.pcap is left out: the oracle takes ip.src before ipv6.src, so
// for IPv6 inside IPv4 it pairs the outer IPv4 addresses with the inner
// ports; sfbtrace keys flows by the innermost IP header, as tshark's own
// conversation table does.
func TestFlowOracle(t *testing.T) {
	oracle := pcaptest.Shared(t, "tools/floworacle.py")
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipping: tshark not installed (apt-get install tshark)")
	}
	for _, name := range []string{"teams.pcap", "stun.pcap", "rtp.pcapng", "sip.pcap", "http_ipv6.pcap",
		"tls_2_reasms_b.pcapng", "stun_tcp_multiple_msgs_same_pkt.pcap", "synscan.pcap", "dlt_ppp.pcap", "4in6tunnel.pcap"} {
		t.Run(name, func(t *testing.T) {
			path := pcaptest.Shared(t, "pcaps/ndpi/"+name)
			js := writeJSON(t, analyzeFile(t, path))
			out, err := exec.Command("python3", oracle, path, js).CombinedOutput()
			if err != nil {
				t.Errorf("floworacle: %v\n%s", err, out)
			}
		})
	}
}

func TestJSONSchemaFields(t *testing.T) {
	path := pcaptest.Shared(t, "pcaps/ndpi/teams.pcap")
	js := writeJSON(t, analyzeFile(t, path))
	b, _ := os.ReadFile(js)
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"capture", "flows", "findings"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("top-level %q missing", k)
		}
	}
	capt := doc["capture"].(map[string]any)
	for _, k := range []string{"files", "packets", "bytes", "start", "end", "link_types", "decode_errors", "truncated", "warnings"} {
		if _, ok := capt[k]; !ok {
			t.Errorf("capture.%s missing", k)
		}
	}
	fl := doc["flows"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "transport", "client", "server", "class", "evidence", "o365", "packets", "bytes", "first", "last", "first_frame", "sni", "dns_name", "call", "connectivity"} {
		if _, ok := fl[k]; !ok {
			t.Errorf("flows[0].%s missing", k)
		}
	}
}
