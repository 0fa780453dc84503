package proto

import (
	"fmt"
	"time"
)

// RTP tracking bounds and thresholds.
const (
	rtpMaxStreams   = 16
	rtpConfirmRun   = 3    // consecutive in-order packets of one SSRC that make a flow RTP
	rtpMaxDropout   = 3000 // RFC 3550 A.1
	rtpMaxMisorder  = 100  // RFC 3550 A.1
	rtpWindow       = 15 * time.Second
	rtpMaxSeqJumpOK = 10 // "advancing" for confirmation: 1..10 ahead
)

// RTPClockRate returns the RTP clock rate of a payload type: the RFC 3551
// static assignments, plus with ms the dynamic types Lync/SfB/Teams use
// (SILK, x-msrta, SIREN, G.722.1, RT video, x-data). 0 means unknown: the
// jitter is then not computed rather than guessed wrong.
func RTPClockRate(pt uint8, ms bool) int {
	switch pt {
	case 0, 3, 4, 5, 7, 8, 9, 12, 13, 15, 18: // G.722 (9) uses an 8000 RTP clock (RFC 3551 §4.5.2)
		return 8000
	case 6:
		return 16000
	case 10, 11:
		return 44100
	case 16:
		return 11025
	case 17:
		return 22050
	case 14, 25, 26, 28, 31, 32, 33, 34:
		return 90000
	}
	if !ms {
		return 0
	}
	switch pt {
	case 103, 115, 117, 118: // SILK/8000, x-msrta/8000, G.722, CN
		return 8000
	case 104, 114, 111, 112: // SILK/16000, x-msrta/16000, SIREN, G.722.1
		return 16000
	case 121, 122, 123, 127: // x-rtvc1, X-H264UC, x-ulpfecuc, x-data
		return 90000
	}
	return 0
}

type rtpStream struct {
	// 32-bit counts (a stream would need two years at 50 packets/s to
	// overflow one) keep two streams inline in 272 bytes: a gateway holds
	// tens of thousands of live media flows.
	ssrc        uint32
	fromClient  bool
	pt          uint8
	maxSeq      uint16
	haveTransit bool
	packets     int32
	inOrderRun  int32
	baseSeq     uint32
	cycles      uint32
	badSeq      uint32
	reorder     int32
	dups        int32
	clock       int32
	nJitter     int32

	first     int64   // arrival of the first packet, ns: keeps the float math precise
	transit   float64 // arrival (seconds) * clock - RTP timestamp
	jitter    float64 // RFC 3550 A.8, timestamp units
	maxJitter float64
	sumJitter float64

	winStart       int64 // ns
	winExpected    uint32
	winReceived    int32
	worstWinLoss   float64 // fraction
	worstWinJitter float64
	winJitSum      float64 // jitter samples of the current window, for its mean
	winJitN        int32
}

func (s *rtpStream) extMax() uint32 { return s.cycles + uint32(s.maxSeq) }

// RTPStats follows the RTP/RTCP streams of one UDP flow (SRTP alike: only
// the clear header is read). A flow counts as RTP only after one SSRC shows
// rtpConfirmRun consecutive advancing sequence numbers, so random UDP is not
// misread. Observe allocates only when a new SSRC appears (at most 16 streams;
// single-packet "streams" (noise) are evicted first when the table is full).
// An RTPStats must not be copied after its first Observe (streams may point
// into its own inline array).
type RTPStats struct {
	// MSClockRates enables Microsoft's dynamic payload-type clock rates
	// (set it for flows known to be Lync/SfB/Teams media).
	MSClockRates bool

	Confirmed   bool
	NotRTP      int    // payloads neither RTP nor RTCP
	RTCP        [2]int // RTCP datagrams: [0] server->client, [1] client->server
	RTCPPackets int    // RTCP packets inside compound datagrams
	Dropped     int    // packets of SSRCs that found the table full

	// n sits beside the table: a packet's lookup touches one cache line
	// for both, then the stream's.
	n       int
	streams []rtpStream  // grown one SSRC at a time; starts in inline (no pointer chase per packet)
	inline  [2]rtpStream // most flows carry 1-2 SSRCs
}

// Warm reads what the next packet's stream lookup reads and changes
// nothing: a worker calls it for a group of packets at once so that their
// cache misses overlap (the analyzer's warm).
func (r *RTPStats) Warm() (sum uint32) {
	for i := range r.streams[:r.n] {
		sum += r.streams[i].ssrc
	}
	return sum
}

// Observe feeds one UDP payload (or de-framed TCP payload) and its capture
// timestamp (unix ns). TURN ChannelData and MS multiplexed TURN frames are
// unwrapped.
func (r *RTPStats) Observe(fromClient bool, payload []byte, arrival int64) {
	dir := 0
	if fromClient {
		dir = 1
	}
	payload = unwrapTURN(payload)
	if n, _ := RTCPPackets(payload); n > 0 {
		r.RTCP[dir]++
		r.RTCPPackets += n
		return
	}
	h, ok := ParseRTP(payload)
	if !ok {
		r.NotRTP++
		return
	}
	s := r.stream(h.SSRC, fromClient, h.PayloadType)
	if s == nil {
		r.Dropped++
		return
	}
	s.update(&h, arrival, r.MSClockRates)
	if s.inOrderRun >= rtpConfirmRun {
		r.Confirmed = true
	}
}

// unwrapTURN strips TURN ChannelData (RFC 8656 §12.4) and MS multiplexed
// TURN (0xFF10) framing so media relayed through a TURN server is seen.
func unwrapTURN(b []byte) []byte {
	if len(b) >= 4 && b[0] >= 0x40 && b[0] <= 0x4F {
		if n := int(be16(b[2:])); 4+n <= len(b) {
			return b[4 : 4+n]
		}
	}
	if _, inner, ok := MSMuxPayload(b); ok {
		return inner
	}
	return b
}

func (r *RTPStats) stream(ssrc uint32, fromClient bool, pt uint8) *rtpStream {
	for i := range r.streams[:r.n] {
		if s := &r.streams[i]; s.ssrc == ssrc && s.fromClient == fromClient {
			return s
		}
	}
	i := r.n
	if i == rtpMaxStreams {
		// Full: reuse the oldest one-packet stream, which is likely noise.
		i = -1
		for j := range r.streams {
			if r.streams[j].packets <= 1 {
				i = j
				break
			}
		}
		if i < 0 {
			return nil
		}
		copy(r.streams[i:], r.streams[i+1:])
		i = rtpMaxStreams - 1
	} else {
		if r.streams == nil {
			r.streams = r.inline[:0:len(r.inline)]
		}
		if r.n == len(r.streams) {
			r.streams = append(r.streams, rtpStream{})
		}
		r.n++
	}
	r.streams[i] = rtpStream{ssrc: ssrc, fromClient: fromClient, pt: pt}
	return &r.streams[i]
}

// update applies RFC 3550 A.1 (sequence) and A.8 (jitter) to one packet.
func (s *rtpStream) update(h *RTPHeader, now int64, ms bool) {
	seq := h.Seq
	if s.packets == 0 {
		s.baseSeq, s.maxSeq, s.badSeq = uint32(seq), seq, 1<<16+1
		s.clock = int32(RTPClockRate(h.PayloadType, ms))
		s.winStart, s.first = now, now
		s.inOrderRun = 1
	} else {
		// Close the 15 s window before this packet touches the sequence
		// state: it belongs to the next window, as expected and as received.
		if now-s.winStart >= int64(rtpWindow) {
			s.closeWindow()
			s.winStart = now
		}
		delta := seq - s.maxSeq
		switch {
		case delta == 0:
			s.dups++
			s.inOrderRun = 0
		case delta < rtpMaxDropout:
			if seq < s.maxSeq {
				s.cycles += 1 << 16 // wrapped
			}
			s.maxSeq = seq
			if delta <= rtpMaxSeqJumpOK {
				s.inOrderRun++
			} else {
				s.inOrderRun = 0
			}
			s.badSeq = 1<<16 + 1
		case delta <= 1<<16-rtpMaxMisorder:
			// A big jump: restart if the next packet follows it (A.1).
			if uint32(seq) == s.badSeq {
				s.baseSeq, s.maxSeq, s.cycles = uint32(seq), seq, 0
				s.packets, s.reorder, s.dups = 0, 0, 0
				s.winExpected, s.winReceived = 0, 0
			} else {
				s.badSeq = uint32(seq+1) & 0xFFFF
				s.inOrderRun = 0
				return // not counted, as in A.1
			}
		default:
			s.reorder++ // late or duplicate within the misorder window
			s.inOrderRun = 0
		}
	}
	s.packets++
	s.pt = h.PayloadType
	if s.clock > 0 {
		arr := float64(now-s.first) / 1e9 * float64(s.clock)
		transit := arr - float64(h.Timestamp)
		if s.haveTransit {
			d := transit - s.transit
			// RTP timestamps wrap at 2^32: fold the difference back.
			if d > 1<<31 {
				d -= 1 << 32
			} else if d < -(1 << 31) {
				d += 1 << 32
			}
			if d < 0 {
				d = -d
			}
			s.jitter += (d - s.jitter) / 16
			// Like Wireshark, leave marker packets (talkspurt start, last
			// packet of a video frame) out of max/mean: the jump is expected.
			if !h.Marker {
				s.maxJitter = max(s.maxJitter, s.jitter)
				s.sumJitter += s.jitter
				s.nJitter++
				s.winJitSum += s.jitter
				s.winJitN++
			}
		}
		s.transit, s.haveTransit = transit, true
	}
	s.winReceived++
}

func (s *rtpStream) closeWindow() {
	expected := s.extMax() - s.baseSeq + 1
	exp := int(expected - s.winExpected)
	if exp > 0 {
		if lost := float64(exp-int(s.winReceived)) / float64(exp); lost > s.worstWinLoss {
			s.worstWinLoss = lost
		}
	}
	if s.winJitN > 0 {
		s.worstWinJitter = max(s.worstWinJitter, s.winJitSum/float64(s.winJitN))
	}
	s.winExpected, s.winReceived = expected, 0
	s.winJitSum, s.winJitN = 0, 0
}

// RTPStreamSummary is the JSON form of one SSRC's statistics. Jitter fields
// are null when the payload type's clock rate is unknown.
type RTPStreamSummary struct {
	SSRC           string   `json:"ssrc"`
	PayloadType    int      `json:"payload_type"`
	Direction      string   `json:"direction"` // "c2s" or "s2c"
	Packets        int      `json:"packets"`
	Lost           int      `json:"lost"` // expected - received (RFC 3550 A.3); negative with duplicates
	Reordered      int      `json:"reordered"`
	Duplicates     int      `json:"duplicates"`
	FirstSeq       uint32   `json:"first_seq"`
	LastSeq        uint32   `json:"last_seq"` // extended
	ClockRate      int      `json:"clock_rate,omitempty"`
	JitterMs       *float64 `json:"jitter_ms"` // final RFC 3550 estimate
	MaxJitterMs    *float64 `json:"max_jitter_ms"`
	MeanJitterMs   *float64 `json:"mean_jitter_ms"`
	WorstLossPct15 float64  `json:"worst_loss_pct_15s"`  // worst 15 s window, percent
	WorstJitter15  *float64 `json:"worst_jitter_ms_15s"` // highest mean jitter of a 15 s window
}

// RTPSummary is the JSON form of a flow's RTP/RTCP statistics.
type RTPSummary struct {
	RTP         bool               `json:"rtp"`
	Streams     []RTPStreamSummary `json:"streams"`
	RTCPC2S     int                `json:"rtcp_c2s"`
	RTCPS2C     int                `json:"rtcp_s2c"`
	RTCPPackets int                `json:"rtcp_packets"`
	NotRTP      int                `json:"not_rtp"`
}

func ms(v float64, clock int32) float64 { return v / float64(clock) * 1000 }

// RTPStreamStats are one SSRC's figures as numbers (Summary formats them).
type RTPStreamStats struct {
	SSRC            uint32
	PayloadType     uint8
	FromClient      bool
	Packets         int
	Lost            int // expected - received (RFC 3550 A.3); negative with duplicates
	Reordered       int
	Duplicates      int
	FirstSeq        uint32
	LastSeq         uint32 // extended
	ClockRate       int    // 0: unknown, and the jitter figures are 0
	JitterMs        float64
	MaxJitterMs     float64
	MeanJitterMs    float64
	WorstLossPct15  float64 // worst 15 s window, percent
	WorstJitter15Ms float64 // highest mean jitter of a 15 s window
}

// AppendStreams appends the figures of the streams with 2 or more packets
// to dst, closing their current 15 s windows on copies (the state is not
// changed). It allocates nothing beyond dst's growth.
func (r *RTPStats) AppendStreams(dst []RTPStreamStats) []RTPStreamStats {
	for i := range r.streams[:r.n] {
		s := r.streams[i] // copy: closing the window must not change state
		if s.packets < 2 {
			continue
		}
		s.closeWindow()
		st := RTPStreamStats{
			SSRC:           s.ssrc,
			PayloadType:    s.pt,
			FromClient:     s.fromClient,
			Packets:        int(s.packets),
			Lost:           int(s.extMax()-s.baseSeq+1) - int(s.packets),
			Reordered:      int(s.reorder),
			Duplicates:     int(s.dups),
			FirstSeq:       s.baseSeq,
			LastSeq:        s.extMax(),
			ClockRate:      int(s.clock),
			WorstLossPct15: s.worstWinLoss * 100,
		}
		if s.clock > 0 {
			st.JitterMs = ms(s.jitter, s.clock)
			st.MaxJitterMs = ms(s.maxJitter, s.clock)
			st.WorstJitter15Ms = ms(s.worstWinJitter, s.clock)
			mean := 0.0
			if s.nJitter > 0 {
				mean = s.sumJitter / float64(s.nJitter)
			}
			st.MeanJitterMs = ms(mean, s.clock)
		}
		dst = append(dst, st)
	}
	return dst
}

// Summary returns the JSON-ready summary of streams with 2 or more packets
// (allocates; call once per flow). It closes the current 15 s windows.
func (r *RTPStats) Summary() RTPSummary {
	out := RTPSummary{RTP: r.Confirmed, RTCPC2S: r.RTCP[1], RTCPS2C: r.RTCP[0], RTCPPackets: r.RTCPPackets, NotRTP: r.NotRTP, Streams: []RTPStreamSummary{}}
	var buf [4]RTPStreamStats
	for _, st := range r.AppendStreams(buf[:0]) {
		ss := RTPStreamSummary{
			SSRC:           fmt.Sprintf("0x%08X", st.SSRC),
			PayloadType:    int(st.PayloadType),
			Direction:      "s2c",
			Packets:        st.Packets,
			Lost:           st.Lost,
			Reordered:      st.Reordered,
			Duplicates:     st.Duplicates,
			FirstSeq:       st.FirstSeq,
			LastSeq:        st.LastSeq,
			ClockRate:      st.ClockRate,
			WorstLossPct15: st.WorstLossPct15,
		}
		if st.FromClient {
			ss.Direction = "c2s"
		}
		if st.ClockRate > 0 {
			ss.JitterMs, ss.MaxJitterMs, ss.MeanJitterMs = &st.JitterMs, &st.MaxJitterMs, &st.MeanJitterMs
			ss.WorstJitter15 = &st.WorstJitter15Ms
		}
		out.Streams = append(out.Streams, ss)
	}
	return out
}
