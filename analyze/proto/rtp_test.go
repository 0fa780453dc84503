package proto

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rtpFlows runs every UDP flow of a capture through an RTPStats; the first
// sender is the client.
func rtpFlows(pkts []pkt, ms bool) map[[2]netip.AddrPort]*RTPStats {
	flows := map[[2]netip.AddrPort]*RTPStats{}
	for _, p := range pkts {
		if p.tcp {
			continue
		}
		k, fromClient := [2]netip.AddrPort{p.src, p.dst}, true
		if _, ok := flows[[2]netip.AddrPort{p.dst, p.src}]; ok {
			k, fromClient = [2]netip.AddrPort{p.dst, p.src}, false
		}
		r := flows[k]
		if r == nil {
			r = &RTPStats{MSClockRates: ms}
			flows[k] = r
		}
		r.Observe(fromClient, p.payload, p.ts.UnixNano())
	}
	return flows
}

type tsharkStream struct {
	ssrc            uint32
	pkts, lost      int
	meanJit, maxJit float64
}

// Expected from: tshark -o rtp.heuristic_rtp:TRUE -q -z rtp,streams -r rtp.pcapng
// (TShark 4.x). Jitter 0 there means "clock unknown" (dynamic PT).
var rtpPcapngWant = []tsharkStream{
	{0xB80974D8, 29, 0, 0, 0},
	{0x001A757D, 6, 0, 0, 0},
	{0x001A759F, 12, 0, 0, 0},
	{0x001A7E73, 7, 0, 0, 0},
	{0x00001646, 15, 0, 0.692, 1.431},
}

func checkRTPAgainst(t *testing.T, flows map[[2]netip.AddrPort]*RTPStats, want []tsharkStream) {
	t.Helper()
	got := map[uint32]RTPStreamSummary{}
	for _, r := range flows {
		for _, s := range r.Summary().Streams {
			v, _ := strconv.ParseUint(s.SSRC[2:], 16, 32)
			got[uint32(v)] = s
		}
	}
	for _, w := range want {
		s, ok := got[w.ssrc]
		if !ok {
			t.Errorf("SSRC 0x%08X: missing", w.ssrc)
			continue
		}
		t.Logf("SSRC 0x%08X: got %d packets %d lost, jitter max %s mean %s; tshark %d %d %.3f %.3f",
			w.ssrc, s.Packets, s.Lost, fp(s.MaxJitterMs), fp(s.MeanJitterMs), w.pkts, w.lost, w.maxJit, w.meanJit)
		if abs(s.Packets-w.pkts) > 1 || abs(s.Lost-w.lost) > 1 {
			t.Errorf("SSRC 0x%08X: got %d packets %d lost, want %d %d", w.ssrc, s.Packets, s.Lost, w.pkts, w.lost)
		}
		if w.maxJit == 0 {
			if s.MaxJitterMs != nil && *s.MaxJitterMs != 0 {
				t.Errorf("SSRC 0x%08X: got jitter %v, want null (clock unknown)", w.ssrc, *s.MaxJitterMs)
			}
			continue
		}
		if s.MaxJitterMs == nil || math.Abs(*s.MaxJitterMs-w.maxJit) > 1 || math.Abs(*s.MeanJitterMs-w.meanJit) > 1 {
			t.Errorf("SSRC 0x%08X: got max/mean jitter %v/%v, want %v/%v", w.ssrc, fp(s.MaxJitterMs), fp(s.MeanJitterMs), w.maxJit, w.meanJit)
		}
	}
}

func fp(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%.3f", *p)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestRTPMatchesTshark(t *testing.T) {
	flows := rtpFlows(readShared(t, "pcaps/ndpi/rtp.pcapng"), false)
	checkRTPAgainst(t, flows, rtpPcapngWant)
}

// TestRTPMatchesTsharkLive recomputes the expectations with tshark when it
// is installed, for any capture with RTP.
func TestRTPMatchesTsharkLive(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	for _, name := range []string{"rtp.pcapng", "stun_dtls_rtp.pcapng", "teams.pcap"} {
		t.Run(name, func(t *testing.T) {
			path := sharedPath(t, "pcaps/ndpi/"+name)
			out, err := exec.Command("tshark", "-o", "rtp.heuristic_rtp:TRUE", "-q", "-z", "rtp,streams",
				"-2", "-R", "!tcp", "-r", path).Output() // UDP only: TURN-over-TCP framing is the caller's.Output()
			if err != nil {
				t.Skipf("tshark: %v", err)
			}
			want := parseTsharkStreams(out)
			if len(want) == 0 {
				t.Skip("tshark found no RTP streams")
			}
			checkRTPAgainst(t, rtpFlows(readCapture(t, path), false), want)
		})
	}
}

func parseTsharkStreams(out []byte) []tsharkStream {
	var ws []tsharkStream
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// start end src sport dst dport SSRC payload pkts lost (pct) mind meand maxd minj meanj maxj
		if len(f) < 17 || !strings.HasPrefix(f[6], "0x") {
			continue
		}
		ssrc, _ := strconv.ParseUint(f[6][2:], 16, 32)
		pkts, _ := strconv.Atoi(f[8])
		lost, _ := strconv.Atoi(f[9])
		meanj, _ := strconv.ParseFloat(f[15], 64)
		maxj, _ := strconv.ParseFloat(f[16], 64)
		ws = append(ws, tsharkStream{uint32(ssrc), pkts, lost, meanj, maxj})
	}
	return ws
}

func rtpPacket(seq uint16, ts, ssrc uint32, pt byte) []byte {
	b := make([]byte, 12+20)
	b[0], b[1] = 0x80, pt
	b[2], b[3] = byte(seq>>8), byte(seq)
	b[4], b[5], b[6], b[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	b[8], b[9], b[10], b[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
	return b
}

func TestRTPStatsLossReorderJitter(t *testing.T) {
	var r RTPStats
	t0 := time.Unix(1000, 0)
	// 20 ms PCMU packets, seq wraps at 65535; 65537 missing, 65540/65539 swapped.
	seqs := []uint16{65533, 65534, 65535, 0, 2, 4, 3, 5}
	for i, s := range seqs {
		n := uint32(s) + 3 // timestamp follows the sequence (160 per packet)
		if s < 100 {
			n += 65536
		}
		r.Observe(true, rtpPacket(s, n*160, 0xCAFE, 0), t0.Add(time.Duration(i)*20*time.Millisecond).UnixNano())
	}
	sum := r.Summary()
	if !sum.RTP || len(sum.Streams) != 1 {
		t.Fatalf("got %+v", sum)
	}
	s := sum.Streams[0]
	if s.Packets != 8 || s.Lost != 1 || s.Reordered != 1 || s.LastSeq != 65536+5 || s.Direction != "c2s" || s.SSRC != "0x0000CAFE" {
		t.Errorf("got %+v", s)
	}
	if s.JitterMs == nil || *s.JitterMs <= 0 {
		t.Errorf("got jitter %v, want > 0 (arrival is not in step with timestamps)", fp(s.JitterMs))
	}
	// Random UDP never confirms.
	var noise RTPStats
	for i := range 50 {
		noise.Observe(true, rtpPacket(uint16(i*7919), uint32(i), uint32(i*31), 0), t0.UnixNano())
	}
	if noise.Confirmed {
		t.Error("random SSRCs confirmed as RTP")
	}
}

func TestRTPNoAlloc(t *testing.T) {
	var r RTPStats
	t0 := time.Unix(1000, 0)
	p := rtpPacket(1, 160, 1, 0)
	rtcp := []byte{0x81, 200, 0, 1, 0, 0, 0, 1}
	r.Observe(true, p, t0.UnixNano())
	seq := uint16(1)
	if n := testing.AllocsPerRun(1000, func() {
		seq++
		p[2], p[3] = byte(seq>>8), byte(seq)
		t0 = t0.Add(20 * time.Millisecond)
		r.Observe(true, p, t0.UnixNano())
		r.Observe(false, rtcp, t0.UnixNano())
		ParseRTP(p)
		IsRTCP(rtcp)
	}); n != 0 {
		t.Errorf("RTPStats.Observe allocates %v times, want 0", n)
	}
}

func BenchmarkRTPStatsObserve(b *testing.B) {
	var r RTPStats
	p := rtpPacket(1, 160, 1, 0)
	t0 := time.Unix(1000, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	seq := uint16(0)
	for b.Loop() {
		seq++
		p[2], p[3] = byte(seq>>8), byte(seq)
		r.Observe(true, p, t0.UnixNano())
	}
}

func FuzzRTP(f *testing.F) {
	f.Add([]byte{0x90, 0x78, 0xcd, 0x0a, 0, 0, 0, 1, 0, 0x1a, 0x75, 0x7d, 0xbe, 0xde, 0, 1, 0, 0, 0, 0}) // Discord: extension header
	f.Add([]byte{0xa0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xFF})                                           // padding count past the payload
	f.Add([]byte{0x8F, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1})                                                 // 15 CSRCs missing
	f.Add([]byte{0x81, 200, 0, 1, 0, 0, 0, 1, 0x81, 202, 0, 0})                                          // compound RTCP SR + SDES
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := ParseRTP(b)
		if ok && h.HeaderLen+h.Padding+h.PayloadLen != len(b) {
			t.Fatalf("header %d + padding %d + payload %d != %d", h.HeaderLen, h.Padding, h.PayloadLen, len(b))
		}
		RTCPPackets(b)
		var r RTPStats
		r.Observe(true, b, time.Unix(0, 0).UnixNano())
		r.Observe(true, b, time.Unix(1, 0).UnixNano())
		r.Summary()
		Classify(b)
	})
}

// TestRTPH263Offline replays the h263 stream of rtp.pcapng from
// testdata/rtp_h263.txt (arrival epoch and RTP header, from
// tshark -Y udp.srcport==6000 -T fields -e frame.time_epoch -e udp.payload)
// and checks tshark's figures: 15 packets, 0 lost, max jitter 1.431 ms.
func TestRTPH263Offline(t *testing.T) {
	raw, err := os.ReadFile("testdata/rtp_h263.txt")
	if err != nil {
		t.Fatal(err)
	}
	var r RTPStats
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Fields(l)
		sec, frac, _ := strings.Cut(f[0], ".")
		s, _ := strconv.ParseInt(sec, 10, 64)
		ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		h := unhex(t, f[1])
		h[0] &^= 0x20 // only the header is stored: its padding count is gone
		r.Observe(true, h, time.Unix(s, ns).UnixNano())
	}
	sum := r.Summary()
	if len(sum.Streams) != 1 {
		t.Fatalf("got %+v", sum)
	}
	st := sum.Streams[0]
	if st.Packets != 15 || st.Lost != 0 || st.MaxJitterMs == nil || math.Abs(*st.MaxJitterMs-1.431) > 0.01 {
		t.Errorf("got %d packets %d lost max jitter %s; want 15 0 1.431", st.Packets, st.Lost, fp(st.MaxJitterMs))
	}
}

// TestRTPWorstWindow: 50 s of 20 ms PCMU; packets 1000-1039 (second 20-21)
// are lost: 40 of the 750 expected in that 15 s window, 5.3 %.
func TestRTPWorstWindow(t *testing.T) {
	var r RTPStats
	t0 := time.Unix(1000, 0)
	for i := range 2500 {
		if i >= 1000 && i < 1040 {
			continue
		}
		r.Observe(false, rtpPacket(uint16(i), uint32(i)*160, 7, 0), t0.Add(time.Duration(i)*20*time.Millisecond).UnixNano())
	}
	s := r.Summary().Streams[0]
	if s.Lost != 40 || s.Direction != "s2c" || math.Abs(s.WorstLossPct15-40.0/750*100) > 0.2 {
		t.Errorf("got lost %d worst window %.2f%%, want 40 and %.2f%%", s.Lost, s.WorstLossPct15, 40.0/750*100)
	}
	if s.JitterMs == nil || *s.JitterMs > 0.001 || s.WorstJitter15 == nil {
		t.Errorf("got jitter %s worst window %s, want 0", fp(s.JitterMs), fp(s.WorstJitter15))
	}
}
