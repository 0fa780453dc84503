package analyze

import (
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/sfbtrace/sfbtrace/analyze/proto"
	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

type rtpWant struct {
	ssrc    string
	packets int
	lost    int
	jitter  float64 // max jitter as tshark prints it; < 0 = not computed
}

// rtpStreamsOf flattens the report's RTP streams by SSRC.
func rtpStreamsOf(rep *Report) map[string]proto.RTPStreamSummary {
	out := map[string]proto.RTPStreamSummary{}
	for _, f := range rep.Flows {
		if ss, ok := f.RTP.([]proto.RTPStreamSummary); ok {
			for _, s := range ss {
				out[s.SSRC] = s
			}
		}
	}
	return out
}

// TestRTPMatchesTshark compares per-stream packets, loss and jitter on
// rtp.pcapng with `tshark -z rtp,streams` (figures recorded from tshark
// 4.0; re-checked live when tshark is installed).
func TestRTPMatchesTshark(t *testing.T) {
	path := pcaptest.Shared(t, "pcaps/ndpi/rtp.pcapng")
	want := []rtpWant{
		{"0xB80974D8", 29, 0, -1},
		{"0x001A757D", 6, 0, -1},
		{"0x001A759F", 12, 0, -1},
		{"0x001A7E73", 7, 0, -1},
		{"0x00001646", 15, 0, 1.431},
	}
	if _, err := exec.LookPath("tshark"); err == nil {
		want = tsharkRTP(t, path)
	}
	got := rtpStreamsOf(analyzeFile(t, path))
	for _, w := range want {
		g, ok := got[w.ssrc]
		if !ok {
			t.Errorf("stream %s missing", w.ssrc)
			continue
		}
		if absInt(g.Packets-w.packets) > 1 || absInt(g.Lost-w.lost) > 1 {
			t.Errorf("stream %s: packets %d lost %d, tshark %d %d", w.ssrc, g.Packets, g.Lost, w.packets, w.lost)
		}
		if w.jitter >= 0 {
			if g.MaxJitterMs == nil || math.Abs(*g.MaxJitterMs-w.jitter) > 1 {
				t.Errorf("stream %s: max jitter %v ms, tshark %.3f", w.ssrc, g.MaxJitterMs, w.jitter)
			}
		}
	}
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func tsharkRTP(t *testing.T, path string) []rtpWant {
	out, err := exec.Command("tshark", "-n", "-o", "rtp.heuristic_rtp:TRUE", "-q", "-z", "rtp,streams", "-r", path).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var ws []rtpWant
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		// start end src sport dst dport ssrc payload pkts lost (pct) mind meand maxd minj meanj maxj
		if len(f) < 17 || !strings.HasPrefix(f[6], "0x") {
			continue
		}
		pk, _ := strconv.Atoi(f[8])
		lost, _ := strconv.Atoi(f[9])
		minJ, _ := strconv.ParseFloat(f[14], 64)
		maxJ, _ := strconv.ParseFloat(f[16], 64)
		w := rtpWant{ssrc: f[6], packets: pk, lost: lost, jitter: maxJ}
		if minJ < 0 { // tshark prints -1 when it knows no clock rate
			w.jitter = -1
		}
		ws = append(ws, w)
	}
	if len(ws) == 0 {
		t.Fatal("no RTP streams parsed from tshark")
	}
	return ws
}
