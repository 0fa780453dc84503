package analyze

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/sfbtrace/sfbtrace/capture"
	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// settleCaptures are media captures: the project's and, when ../shared is
// there, nDPI's STUN/RTP/Teams traces.
func settleCaptures(t *testing.T) []string {
	paths := projectCaptures(t)
	if d := pcaptest.SharedDir(); d != "" {
		for _, n := range []string{"teams.pcap", "stun.pcap", "rtp.pcapng", "stun_dtls_rtp.pcapng",
			"stun_google_meet.pcapng", "stun_zoom.pcapng", "rtcp_multiple_pkts_in_the_same_datagram.pcap",
			"fuzz-2006-06-26-2594.pcap", "fuzz-2020-02-16-11740.pcap"} {
			paths = append(paths, filepath.Join(d, "pcaps", "ndpi", n))
		}
	} else {
		t.Log("../shared not found beside the repository: the project's captures only")
	}
	return paths
}

// TestSettleSameReport: settling a silent media flow keeps its parsers as a
// snapshot, restored at its next packet or at the end. Settling every media
// flow after every packet (then restoring it at the next) must change
// nothing in the report, flow list included.
func TestSettleSameReport(t *testing.T) {
	settledAny := false
	for _, p := range settleCaptures(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			report := func(settle time.Duration) (string, int) {
				src, err := capture.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				a := New(Options{scanEveryPacket: true, settleAfter: settle})
				if _, err := readAll(context.Background(), src, a.Add); err != nil {
					t.Fatal(err)
				}
				cold := 0
				a.flows.each(func(f *Flow) {
					if f.pl.cold != "" {
						cold++
					}
				})
				b, err := json.Marshal(a.Finish(src.Info()))
				if err != nil {
					t.Fatal(err)
				}
				return string(b), cold
			}
			never, _ := report(-1)
			always, cold := report(time.Nanosecond)
			if never != always {
				t.Errorf("settling changes the report:\n without %s\n with    %s", never, always)
			}
			settledAny = settledAny || cold > 0
		})
	}
	if !settledAny {
		t.Error("no media flow settled in any capture: the test exercises nothing")
	}
}
