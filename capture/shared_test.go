package capture

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// suite holds the expectations of pcaps/pcapng-suite/INDEX.md: packets,
// Ethernet and NULL packets, snaplen-cut packets.
var suite = []struct {
	test       string
	packets    int
	eth, null  int
	snaplenCut int
}{
	{"basic/test001", 4, 4, 0, 0},
	{"basic/test002", 0, 0, 0, 0},
	{"basic/test003", 0, 0, 0, 0},
	{"basic/test004", 4, 4, 0, 4},
	{"basic/test005", 4, 4, 0, 4},
	{"basic/test006", 5, 4, 1, 4},
	{"basic/test007", 1, 1, 0, 1},
	{"basic/test008", 4, 4, 0, 4},
	{"basic/test009", 2, 2, 0, 0},
	{"basic/test010", 4, 4, 0, 0},
	{"basic/test011", 4, 4, 0, 0},
	{"basic/test012", 4, 4, 0, 2},
	{"basic/test013", 0, 0, 0, 0},
	{"basic/test014", 0, 0, 0, 0},
	{"basic/test015", 0, 0, 0, 0},
	{"basic/test016", 4, 4, 0, 0},
	{"basic/test017", 0, 0, 0, 0},
	{"basic/test018", 4, 4, 0, 0},
	{"advanced/test100", 5, 4, 1, 0},
	{"advanced/test101", 4, 3, 1, 3},
	{"advanced/test102", 5, 4, 1, 3},
	{"difficult/test200", 0, 0, 0, 0},
	{"difficult/test201", 4, 3, 1, 3},
	{"difficult/test202", 8, 6, 2, 6},
}

// mixedOrder is the link type of each packet of the suite's mixed files.
var mixedOrder = map[string]string{
	"basic/test006":     "ENEEE",
	"advanced/test100":  "EEEEN",
	"advanced/test101":  "EEEN",
	"advanced/test102":  "EEEEN",
	"difficult/test201": "EEEN",
	"difficult/test202": "EENEEEEN",
}

// TestPcapngSuite reads every file of the pcapng conformance suite in both
// byte orders; the LE and BE copies must give identical packets.
func TestPcapngSuite(t *testing.T) {
	pcaptest.Shared(t, "pcaps/pcapng-suite/INDEX.md")
	for _, tt := range suite {
		t.Run(tt.test, func(t *testing.T) {
			var copies [2][]rec
			for i, order := range []string{"output_le", "output_be"} {
				path := pcaptest.Shared(t, filepath.Join("pcaps/pcapng-suite", order, tt.test+".pcapng"))
				got, info, err := readAll(t, path)
				if err != nil {
					t.Fatalf("%s: %v", order, err)
				}
				copies[i] = got
				fi := info.Files[0]
				if fi.Truncated || len(fi.Warnings) > 0 {
					t.Errorf("%s: got truncated %v warnings %q, want a clean read", order, fi.Truncated, fi.Warnings)
				}
				var eth, null, cut int
				for _, p := range got {
					switch p.LinkType {
					case layers.LinkTypeEthernet:
						eth++
					case layers.LinkTypeNull:
						null++
					}
					if len(p.Data) < p.Length {
						cut++
					}
				}
				if len(got) != tt.packets || eth != tt.eth || null != tt.null || cut != tt.snaplenCut {
					t.Errorf("%s: got %d packets (%d Ethernet, %d NULL, %d snaplen-cut), want %d (%d, %d, %d)",
						order, len(got), eth, null, cut, tt.packets, tt.eth, tt.null, tt.snaplenCut)
				}
				// Per-packet order of the mixed files, from tshark -e frame.encap_type.
				if want, ok := mixedOrder[tt.test]; ok {
					var lts []byte
					for _, p := range got {
						lts = append(lts, map[layers.LinkType]byte{layers.LinkTypeEthernet: 'E', layers.LinkTypeNull: 'N'}[p.LinkType])
					}
					if string(lts) != want {
						t.Errorf("%s: link types got %s, want %s (E Ethernet, N NULL)", order, lts, want)
					}
				}
				switch tt.test {
				case "basic/test002", "basic/test017":
					if len(fi.LinkTypes) != 0 {
						t.Errorf("%s: LinkTypes got %v, want none", order, fi.LinkTypes)
					}
				case "basic/test009":
					if got[0].Flags != 0 || got[0].DropCount != 0 || got[1].Flags != 0x48000000 || got[1].DropCount != 12345 {
						t.Errorf("%s: got flags %#x/%#x dropcount %d/%d, want 0/0x48000000 and 0/12345",
							order, got[0].Flags, got[1].Flags, got[0].DropCount, got[1].DropCount)
					}
				case "basic/test010":
					for _, p := range got {
						if !p.Timestamp.IsZero() {
							t.Errorf("%s: SPB timestamp got %v, want zero", order, p.Timestamp)
						}
					}
				case "basic/test008":
					// if_tsresol 9 (ns); tshark shows 1340954.905298858 and .905299858.
					if !got[0].Timestamp.Equal(time.Unix(1340954, 905298858)) || !got[1].Timestamp.Equal(time.Unix(1340954, 905299858)) {
						t.Errorf("%s: timestamps %v, %v, want 1340954.905298858, 1340954.905299858", order, got[0].Timestamp, got[1].Timestamp)
					}
				}
			}
			le, be := copies[0], copies[1]
			for i := range min(len(le), len(be)) {
				a, b := le[i], be[i]
				if !bytes.Equal(a.Data, b.Data) || a.Length != b.Length || !a.Timestamp.Equal(b.Timestamp) ||
					a.LinkType != b.LinkType || a.Interface != b.Interface || a.Flags != b.Flags || a.DropCount != b.DropCount {
					t.Errorf("packet %d: LE %+v and BE %+v differ", i+1, strip(a), strip(b))
				}
			}
		})
	}
}

func strip(r rec) string {
	return fmt.Sprintf("{len %d/%d at %v lt %v if %d flags %#x drops %d}", len(r.Data), r.Length, r.Timestamp, r.LinkType, r.Interface, r.Flags, r.DropCount)
}

// ndpi holds packet totals of ../shared/pcaps/ndpi measured with
// `capinfos -c -M` 4.0.17 (2026-11-25), so the test works without it.
var ndpi = map[string]struct {
	packets   int
	truncated bool
}{
	"4in6tunnel.pcap":                              {4, false},
	"6in4tunnel.pcap":                              {127, false},
	"dlt_ppp.pcap":                                 {1, false},
	"ethernetIP.pcap":                              {100, false},
	"fuzz-2006-06-26-2594.pcap":                    {691, false},
	"fuzz-2006-09-29-28586.pcap":                   {131, false},
	"fuzz-2020-02-16-11740.pcap":                   {366, false},
	"fuzz-2021-06-07-c6c72a0a56.pcap":              {1, false},
	"fuzz-2021-10-13.pcap":                         {1, true}, // capinfos: "cut short in the middle of a packet"
	"gre.pcapng":                                   {1, false},
	"http_ipv6.pcap":                               {193, false},
	"ip_fragmented_garbage.pcap":                   {1252, false},
	"malformed_icmp.pcap":                          {1, false},
	"ossfuzz_seed_fake_traces_1.pcapng":            {21, false},
	"ossfuzz_seed_fake_traces_2.pcapng":            {101, false},
	"ossfuzz_seed_fake_traces_3.pcapng":            {4, false},
	"ossfuzz_seed_fake_traces_4.pcapng":            {2, false},
	"rtcp_multiple_pkts_in_the_same_datagram.pcap": {5, false},
	"rtp.pcapng":                                   {112, false},
	"sip.pcap":                                     {112, false},
	"stun.pcap":                                    {201, false},
	"stun_dtls_rtp.pcapng":                         {102, false},
	"stun_google_meet.pcapng":                      {362, false},
	"stun_tcp_multiple_msgs_same_pkt.pcap":         {5, false},
	"stun_zoom.pcapng":                             {70, false},
	"synscan.pcap":                                 {2011, false},
	"tcp_scan.pcapng":                              {30, false},
	"teams.pcap":                                   {1540, false},
	"tls_1.2_unidirectional_client.pcapng":         {17, false},
	"tls_1.3_unidirectional_server.pcapng":         {9, false},
	"tls_2_reasms_b.pcapng":                        {15, false},
	"tls_missing_ch_frag.pcap":                     {14, false},
	"tls_multiple_synack_different_seq.pcapng":     {10, false},
}

var capinfosCount = regexp.MustCompile(`(?m)^Number of packets:\s+(\d+)`)

// TestNDPI reads every nDPI capture; totals equal capinfos's (run when
// installed) and the table above.
func TestNDPI(t *testing.T) {
	dir := filepath.Dir(pcaptest.Shared(t, "pcaps/ndpi/teams.pcap"))
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	if len(files) != len(ndpi) {
		t.Errorf("found %d captures in %s, the table has %d", len(files), dir, len(ndpi))
	}
	_, capinfosErr := exec.LookPath("capinfos")
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			got, info, err := readAll(t, path)
			if err != nil {
				t.Fatal(err)
			}
			fi := info.Files[0]
			want, ok := ndpi[name]
			if !ok {
				t.Errorf("no expected count for %s: got %d packets", name, len(got))
			}
			if len(got) != want.packets || fi.Truncated != want.truncated {
				t.Errorf("got %d packets truncated %v, want %d truncated %v (warnings %q)", len(got), fi.Truncated, want.packets, want.truncated, fi.Warnings)
			}
			if capinfosErr != nil {
				t.Log("capinfos not installed: checked against the table only")
				return
			}
			out, _ := exec.Command("capinfos", "-c", "-M", path).CombinedOutput()
			m := capinfosCount.FindSubmatch(out)
			if m == nil {
				t.Fatalf("capinfos gave no count: %s", strings.TrimSpace(string(out)))
			}
			if n, _ := strconv.Atoi(string(m[1])); n != len(got) {
				t.Errorf("got %d packets, capinfos says %d", len(got), n)
			}
		})
	}
}
