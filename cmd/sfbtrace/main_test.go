package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// synPacket is an Ethernet/IPv4 TCP SYN from the client to an Office 365 address.
func synPacket(t *testing.T, sport uint16) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 128, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 168, 1, 10}, DstIP: net.IP{52, 112, 0, 10}}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 443, SYN: true, Seq: 1, Window: 64240}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writePcap writes n SYN packets as a classic pcap and returns its bytes.
func writePcap(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		d := synPacket(t, uint16(50000+i))
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+int64(i), 0), CaptureLength: len(d), Length: len(d)}
		if err := w.WritePacket(ci, d); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInput(t *testing.T) {
	good := writePcap(t, 3)
	huge := append([]byte(nil), good...)
	// Second record (offset 24+16+len(first)) claims 0x7fffffff captured bytes.
	first := len(synPacket(t, 1))
	binary.LittleEndian.PutUint32(huge[24+16+first+8:], 0x7fffffff)
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		path     string
		wantCode int
		wantErr  string // fragment of stderr
	}{
		{"missing", filepath.Join(dir, "nope.pcap"), 2, "nope.pcap"},
		{"directory", dir, 2, "directory"},
		{"text", writeFile(t, "notes.pcap", []byte("This is not a capture file at all\n")), 2, "not a pcap or pcapng capture (starts with 54 68 69 73)"},
		{"empty", writeFile(t, "empty.pcap", nil), 2, "empty (0 bytes)"},
		{"header cut", writeFile(t, "cut.pcap", good[:12]), 2, "header truncated"},
		{"cut mid-record", writeFile(t, "mid.pcap", good[:len(good)-10]), 0, "cut short"},
		{"record too big", writeFile(t, "huge.pcap", huge), 0, "limit 262144"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, "analyze", "--format", "json", tc.path)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.wantCode, errs)
			}
			if !strings.Contains(errs, tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", errs, tc.wantErr)
			}
			if strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic") {
				t.Errorf("stack trace on stderr: %q", errs)
			}
			if tc.wantCode == 2 {
				if n := strings.Count(strings.TrimSpace(errs), "\n"); n != 0 {
					t.Errorf("error is %d lines, want one: %q", n+1, errs)
				}
				return
			}
			var doc struct {
				Capture struct {
					Packets   int64 `json:"packets"`
					Truncated bool  `json:"truncated"`
				} `json:"capture"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("bad JSON: %v", err)
			}
			if !doc.Capture.Truncated {
				t.Errorf("truncated = false, want true")
			}
			if doc.Capture.Packets < 1 || doc.Capture.Packets > 2 {
				t.Errorf("packets = %d, want the 1-2 good records kept", doc.Capture.Packets)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"version"}, 0, "sfbtrace "},
		{[]string{"help"}, 0, "Usage:"},
		{[]string{"analyze", "-h"}, 0, ""},
		{[]string{"analyze", "--format", "xml", "x.pcap"}, 2, ""},
		{[]string{"analyze", "--tcp-open-timeout", "-1s", "x.pcap"}, 2, ""},
		{[]string{"analyze"}, 2, ""},
		{[]string{"frobnicate"}, 2, ""},
		{nil, 2, ""},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errs)
		}
		if !strings.Contains(out, tc.out) {
			t.Errorf("%v: stdout %q lacks %q", tc.args, out, tc.out)
		}
	}
	_, _, errs := runCLI(t, "analyze", "-h")
	if !strings.Contains(errs, "Examples:") {
		t.Errorf("analyze -h has no examples: %q", errs)
	}
	_, _, errs = runCLI(t, "analyze", "--udp-timeout", "0s", "x.pcap")
	if !strings.Contains(errs, "invalid --udp-timeout 0s (want a positive duration") {
		t.Errorf("bad --udp-timeout message: %q", errs)
	}
	_, _, errs = runCLI(t, "analyze", "--format", "xml", "x.pcap")
	if !strings.Contains(errs, `invalid --format "xml" (want table, json or csv)`) {
		t.Errorf("bad --format message: %q", errs)
	}
}

func TestOutputFileAndFailOn(t *testing.T) {
	in := writeFile(t, "syn.pcap", writePcap(t, 3))
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, errs := runCLI(t, "analyze", "--format", "json", "-o", out, in)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, errs)
	}
	b, err := os.ReadFile(out)
	if err != nil || !json.Valid(b) {
		t.Fatalf("report file: %v valid=%v", err, json.Valid(b))
	}
	// The bundled failing call has error findings: exit 1 only with --fail-on.
	failing := pcaptest.Pcaps("failing-call.pcap")
	if code, _, errs := runCLI(t, "analyze", failing); code != 0 {
		t.Errorf("without --fail-on: exit %d, want 0 (%s)", code, errs)
	}
	if code, _, _ := runCLI(t, "analyze", "--fail-on", "error", failing); code != 1 {
		t.Errorf("--fail-on error: exit %d, want 1", code)
	}
	if code, _, _ := runCLI(t, "analyze", "--fail-on", "error", pcaptest.Pcaps("healthy-call.pcapng")); code != 0 {
		t.Errorf("--fail-on error on the healthy call: exit %d, want 0", code)
	}
	if code, _, errs := runCLI(t, "analyze", "--fail-on", "fatal", failing); code != 2 || !strings.Contains(errs, `invalid --fail-on "fatal"`) {
		t.Errorf("bad --fail-on: exit %d %q", code, errs)
	}
}

func TestEndpointsFlag(t *testing.T) {
	bad := writeFile(t, "endpoints.json", []byte("<html>not json</html>"))
	code, _, errs := runCLI(t, "analyze", "--endpoints", bad, pcaptest.Pcaps("failing-call.pcap"))
	if code != 2 || !strings.Contains(errs, "endpoints.json") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("bad endpoints file: exit %d, stderr %q; want 2 and one line naming the file", code, errs)
	}
	// A list where 52.112.0.0/14 is not Office 365: the flows lose their area.
	other := writeFile(t, "ws.json", []byte(`[{"id": 1, "serviceArea": "Skype", "ips": ["198.51.100.0/24"]}]`))
	code, out, errs := runCLI(t, "analyze", "--format", "json", "--endpoints", other, pcaptest.Pcaps("failing-call.pcap"))
	if code != 0 || strings.Contains(out, `"o365": "skype"`) {
		t.Errorf("--endpoints not applied: exit %d %s", code, errs)
	}
}

func TestTwoInterfacesPcapng(t *testing.T) {
	// Interface 0 Ethernet, interface 1 raw IPv4: both packets must count and decode.
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, SnapLength: 65535}); err != nil {
		t.Fatal(err)
	}
	eth := synPacket(t, 50001)
	raw := synPacket(t, 50002)[14:]
	for i, d := range [][]byte{eth, raw} {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+int64(i), 0), CaptureLength: len(d), Length: len(d), InterfaceIndex: i}
		if err := w.WritePacket(ci, d); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	in := writeFile(t, "two.pcapng", b.Bytes())
	code, out, errs := runCLI(t, "analyze", "--format", "json", in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Capture struct {
			Packets   int64    `json:"packets"`
			LinkTypes []string `json:"link_types"`
		} `json:"capture"`
		Flows []struct {
			Client string `json:"client"`
		} `json:"flows"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Capture.Packets != 2 || len(doc.Flows) != 2 || len(doc.Capture.LinkTypes) != 2 {
		t.Errorf("got %d packets, %d flows, link types %v; want 2, 2, two types", doc.Capture.Packets, len(doc.Flows), doc.Capture.LinkTypes)
	}
}

func TestTeamsJSONEndToEnd(t *testing.T) {
	path := pcaptest.Shared(t, "pcaps/ndpi/teams.pcap")
	code, out, errs := runCLI(t, "analyze", "--format", "json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"client": "192.168.1.6:50016"`) || !strings.Contains(out, `"server": "52.114.250.141:3478"`) {
		t.Errorf("media flow missing from JSON")
	}
	code, out, _ = runCLI(t, "analyze", "--flows", path)
	if code != 0 || !strings.Contains(out, "Flows by class") || !strings.Contains(out, "52.114.250.141:3478") {
		t.Errorf("table output lacks class summary or flows:\n%s", out)
	}
}

// TestTimeoutFlags: the expiry flags reach the analyzer (a SYN repeated
// after 5 s is one flow by default, two with --tcp-open-timeout 1s).
func TestTimeoutFlags(t *testing.T) {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	d := synPacket(t, 50000)
	for i := 0; i < 2; i++ {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+5*int64(i), 0), CaptureLength: len(d), Length: len(d)}
		if err := w.WritePacket(ci, d); err != nil {
			t.Fatal(err)
		}
	}
	in := writeFile(t, "syn2.pcap", b.Bytes())
	for _, tc := range []struct {
		args  []string
		flows int
	}{{nil, 1}, {[]string{"--tcp-open-timeout", "1s"}, 2}} {
		code, out, errs := runCLI(t, append(append([]string{"analyze", "--format", "json"}, tc.args...), in)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errs)
		}
		var rep struct{ Flows []json.RawMessage }
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Flows) != tc.flows {
			t.Errorf("%v: %d flows, want %d", tc.args, len(rep.Flows), tc.flows)
		}
	}
}

// TestMemoryLimitFor: the base limit holds while the live heap fits it
// with 24 MiB to spare; beyond, the limit stays above the live heap by 24
// MiB or a quarter of it (a limit at the live heap makes the collector run
// nonstop).
func TestMemoryLimitFor(t *testing.T) {
	const base = memoryLimit
	for _, tc := range []struct{ live, want int64 }{
		{0, base},
		{80 << 20, base},
		{92 << 20, base},
		{96 << 20, 120 << 20},
		{112 << 20, 140 << 20},
		{128 << 20, 160 << 20},
		{400 << 20, 500 << 20},
	} {
		if got := memoryLimitFor(base, tc.live); got != tc.want {
			t.Errorf("live %d MiB: limit %d MiB, want %d MiB", tc.live>>20, got>>20, tc.want>>20)
		}
	}
}
