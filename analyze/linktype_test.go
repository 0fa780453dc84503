package analyze

import (
	"slices"
	"strings"
	"testing"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// TestLinkTypesDecode: the same short call captured over different link
// layers must decode to the same flows, every packet in a flow and no decode
// problem. (The detector tests only assert that these captures raise no
// finding, which an undecodable capture would satisfy too.)
func TestLinkTypesDecode(t *testing.T) {
	type flowSig struct {
		transport, client, server string
		c2s, s2c                  int64
	}
	var want []flowSig
	for _, tc := range []struct {
		file  string
		links []string
	}{
		{"vlan-qinq.pcap", []string{"ethernet"}},
		{"sll.pcap", []string{"linux-sll"}},
		{"sll2.pcap", []string{"linux-sll2"}},
		{"raw-ip.pcap", []string{"raw-ip(101)"}},
		{"two-interfaces.pcapng", []string{"ethernet", "raw-ip(101)"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rep := analyzeFile(t, pcaptest.Pcaps(tc.file))
			if !slices.Equal(rep.Capture.LinkTypes, tc.links) {
				t.Errorf("link types %v, want %v", rep.Capture.LinkTypes, tc.links)
			}
			if len(rep.Capture.Problems) != 0 {
				t.Errorf("decode problems %v, want none", rep.Capture.Problems)
			}
			var inFlows int64
			var got []flowSig
			for _, f := range rep.Flows {
				inFlows += f.Packets.C2S + f.Packets.S2C
				client := f.Client
				if strings.HasSuffix(f.Server, ":53") {
					client = "(random client port)" // the generator draws one per file
				}
				got = append(got, flowSig{f.Transport, client, f.Server, f.Packets.C2S, f.Packets.S2C})
			}
			if len(got) == 0 || inFlows != rep.Capture.Packets {
				t.Fatalf("%d flows hold %d of %d packets, want every packet in a flow", len(got), inFlows, rep.Capture.Packets)
			}
			if tc.file == "two-interfaces.pcapng" {
				return // a different mix of the same call
			}
			if want == nil {
				want = got
			} else if !slices.Equal(got, want) {
				t.Errorf("flows %v differ from the VLAN capture's %v", got, want)
			}
		})
	}
}
