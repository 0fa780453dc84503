package analyze

import (
	"bufio"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// ndpiCaptures are the real captures whose STUN/TURN and TLS server names
// sfbtrace must read as nDPI does.
var ndpiCaptures = []string{"teams.pcap", "stun.pcap", "rtp.pcapng", "stun_dtls_rtp.pcapng",
	"stun_tcp_multiple_msgs_same_pkt.pcap", "stun_google_meet.pcapng", "stun_zoom.pcapng",
	"tls_1.2_unidirectional_client.pcapng", "tls_1.3_unidirectional_server.pcapng", "tls_2_reasms_b.pcapng",
	"tls_missing_ch_frag.pcap", "tls_multiple_synack_different_seq.pcapng"}

// TestNDPIOracle runs ../shared/tools/ndpioracle.py on each capture.
// stun.pcap is compared by TestNDPILabelsNormalized instead: nDPI prints
// IPv6 addresses as glibc does ("b00c::24d9", once even "5999::19::"),
// sfbtrace as RFC 5952 and tshark do ("b00c:0:24d9"), so the oracle's string
// match cannot pair them.
func TestNDPIOracle(t *testing.T) {
	oracle := pcaptest.Shared(t, "tools/ndpioracle.py")
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("skipping: python3 not installed")
	}
	for _, name := range ndpiCaptures {
		if name == "stun.pcap" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			path := pcaptest.Shared(t, "pcaps/ndpi/"+name)
			js := writeJSON(t, analyzeFile(t, path))
			out, err := exec.Command("python3", oracle, path+".ndpi.out", js).CombinedOutput()
			if err != nil {
				t.Errorf("ndpioracle: %v\n%s", err, out)
			}
		})
	}
}

var ndpiLabelLine = regexp.MustCompile(`^\s+\d+\s+(TCP|UDP)\s+(\S+)\s+<?->\s+(\S+)\s+\[proto: [^/]*/([^\]]+)\]`)

// normEndpoint parses "ip:port" or "[ip]:port" into canonical form; ok is
// false for addresses nDPI printed in a form that does not parse.
func normEndpoint(s string) (string, bool) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", false
	}
	return ap.String(), true
}

// TestNDPILabelsNormalized applies the oracle's STUN/SNI rules with IPv6
// addresses compared as addresses, on every capture.
func TestNDPILabelsNormalized(t *testing.T) {
	for _, name := range ndpiCaptures {
		t.Run(name, func(t *testing.T) {
			path := pcaptest.Shared(t, "pcaps/ndpi/"+name)
			rep := analyzeFile(t, path)
			flows := map[string]*FlowReport{}
			for i := range rep.Flows {
				f := &rep.Flows[i]
				e := []string{f.Client, f.Server}
				slices.Sort(e)
				flows[f.Transport+" "+strings.Join(e, " ")] = f
			}
			fh, err := os.Open(path + ".ndpi.out")
			if err != nil {
				t.Skip("no nDPI output")
			}
			defer fh.Close()
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				m := ndpiLabelLine.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				a, okA := normEndpoint(m[2])
				b, okB := normEndpoint(m[3])
				if !okA || !okB {
					t.Logf("nDPI line with an unparsable address skipped: %s %s", m[2], m[3])
					continue
				}
				e := []string{a, b}
				slices.Sort(e)
				f := flows[strings.ToLower(m[1])+" "+strings.Join(e, " ")]
				label := m[4]
				if sni := regexp.MustCompile(`\[Hostname/SNI: ([^\]]*)\]`).FindStringSubmatch(line); strings.Contains(label, "TLS") && sni != nil && sni[1] != "" {
					if f == nil || f.SNI != sni[1] {
						t.Errorf("SNI of %v: nDPI %q, sfbtrace %v", e, sni[1], f)
					}
				}
				if (strings.Contains(label, "STUN") || strings.Contains(label, "TeamsCall")) && !strings.Contains(line, "Match by port") {
					if f == nil || !(f.Class == ClassSTUN || isMediaClass(f.Class)) || !slices.Contains(f.Evidence, EvSTUN) {
						t.Errorf("nDPI says STUN for %v; sfbtrace: %+v", e, f)
					}
				}
			}
		})
	}
}
