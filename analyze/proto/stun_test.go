package proto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSTUNTeams(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name               string
		hex                string
		method             STUNMethod
		class              STUNClass
		cookie, msturn     bool
		size               int
		code               int
		xorMapped, relayed netip.AddrPort
		peer               netip.AddrPort
		msVersion          uint32
		ufrag              string
		innerType          uint16
		msBits             MSAttrs
	}{
		{name: "allocate ok len 125", hex: hexTeamsAllocOK, method: MethodAllocate, class: ClassSuccess,
			cookie: true, msturn: true, size: 145, xorMapped: ap("80.181.206.72:60673"),
			relayed: ap("52.114.250.141:3480"), msVersion: 6, msBits: MSAttrVersion | MSAttrSequenceNumber | MSAttrMagicCookie},
		{name: "allocate 401 len 167", hex: hexTeamsAlloc401, method: MethodAllocate, class: ClassError,
			cookie: true, msturn: true, size: 187, code: 401, msVersion: 6, xorMapped: ap("80.181.206.72:57543"), msBits: MSAttrVersion | MSAttrMuxSessionID | MSAttrMagicCookie},
		{name: "data indication 0x0115 cookieless", hex: hexTeamsDataInd, method: MethodMSDataIndication, class: ClassIndication,
			msturn: true, size: 132, peer: ap("93.71.110.205:16332"), innerType: 0x0101, msBits: MSAttrMagicCookie},
		{name: "send 0x0004", hex: hexTeamsSend, method: MethodRefresh, class: ClassRequest,
			cookie: true, msturn: true, size: 272, peer: ap("93.71.110.205:16332"), innerType: 0x0001, msVersion: 6, msBits: MSAttrVersion | MSAttrMagicCookie},
		{name: "allocate request", hex: hexTeamsAllocReq, method: MethodAllocate, class: ClassRequest,
			cookie: true, msturn: true, size: 68, msVersion: 6, msBits: MSAttrAppID | MSAttrServiceQuality | MSAttrMagicCookie},
		{name: "binding ok 0x8020", hex: hexTeamsBindOK, method: MethodBinding, class: ClassSuccess,
			cookie: true, size: 80, xorMapped: ap("80.181.206.72:57543"), msBits: MSAttrImplVersion | MSAttrAppID},
		{name: "binding request ICE", hex: hexTeamsBindReq, method: MethodBinding, class: ClassRequest,
			cookie: true, size: 124, ufrag: "FY32", msBits: MSAttrImplVersion | MSAttrMuxSessionID | MSAttrAppID | MSAttr8036},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := unhex(t, tt.hex)
			m, ok := ParseSTUN(b)
			if !ok {
				t.Fatal("ParseSTUN rejected a real Teams message")
			}
			if m.Method != tt.method || m.Class != tt.class {
				t.Errorf("got %v %v, want %v %v", m.Method, m.Class, tt.method, tt.class)
			}
			if m.Cookie != tt.cookie || m.MSTURN != tt.msturn {
				t.Errorf("got cookie %v msturn %v, want %v %v", m.Cookie, m.MSTURN, tt.cookie, tt.msturn)
			}
			if m.Size != tt.size || m.Size != len(b) {
				t.Errorf("got size %d, want %d", m.Size, tt.size)
			}
			if m.ErrorCode != tt.code {
				t.Errorf("got error code %d, want %d", m.ErrorCode, tt.code)
			}
			if m.XORMapped != tt.xorMapped || m.Relayed != tt.relayed || m.Peer != tt.peer {
				t.Errorf("got xor-mapped %v relayed %v peer %v, want %v %v %v",
					m.XORMapped, m.Relayed, m.Peer, tt.xorMapped, tt.relayed, tt.peer)
			}
			if m.MSVersion != tt.msVersion {
				t.Errorf("got MS-VERSION %d, want %d", m.MSVersion, tt.msVersion)
			}
			if m.MS&tt.msBits != tt.msBits {
				t.Errorf("got MS attrs %b, want at least %b", m.MS, tt.msBits)
			}
			if string(m.Ufrag()) != tt.ufrag && tt.ufrag != "" {
				t.Errorf("got ufrag %q, want %q", m.Ufrag(), tt.ufrag)
			}
			if tt.innerType != 0 {
				in, ok := ParseSTUN(m.Data)
				if !ok || in.Type != tt.innerType {
					t.Errorf("inner: got %#04x %v, want %#04x", in.Type, ok, tt.innerType)
				}
			}
			if Classify(b) != KindSTUN {
				t.Errorf("Classify = %v, want stun", Classify(b))
			}
		})
	}
}

func TestParseSTUNSynthetic(t *testing.T) {
	// RFC 3489 binding response: no cookie, MAPPED-ADDRESS 192.0.2.1:32853.
	classic := unhex(t, "0101000c"+"0102030405060708090a0b0c0d0e0f10"+"0001000800018055c0000201")
	m, ok := ParseSTUN(classic)
	if !ok || m.Cookie || m.Mapped != netip.MustParseAddrPort("192.0.2.1:32853") || m.Method != MethodBinding || m.Class != ClassSuccess {
		t.Errorf("classic: got %+v %v", m, ok)
	}
	// RFC 5769 §2.2 IPv4 response XOR-MAPPED-ADDRESS 192.0.2.1:32853.
	rfc5769 := unhex(t, "0101000c2112a442b7e7a701bc34d686fa87dfae"+"002000080001a147e112a643")
	if m, ok := ParseSTUN(rfc5769); !ok || m.XORMapped != netip.MustParseAddrPort("192.0.2.1:32853") {
		t.Errorf("rfc5769 v4: got %v %v", m.XORMapped, ok)
	}
	// RFC 5769 §2.3 IPv6 XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853.
	v6 := unhex(t, "010100182112a442b7e7a701bc34d686fa87dfae"+"002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9")
	if m, ok := ParseSTUN(v6); !ok || m.XORMapped != netip.MustParseAddrPort("[2001:db8:1234:5678:11:2233:4455:6677]:32853") {
		t.Errorf("rfc5769 v6: got %v %v", m.XORMapped, ok)
	}
	// MS-TURN Set Active Destination request without cookie: MAGIC-COOKIE
	// then DESTINATION-ADDRESS 93.71.110.205:16332.
	sad := unhex(t, "00060014"+"0102030405060708090a0b0c0d0e0f10"+"000f000472c64bc6"+"0011000800013fcc5d476ecd")
	if m, ok := ParseSTUN(sad); !ok || !m.MSTURN || m.Cookie || m.Method != MethodSend || m.Class != ClassRequest ||
		m.Peer != netip.MustParseAddrPort("93.71.110.205:16332") {
		t.Errorf("set active destination: got %+v %v", m, ok)
	}
	rejects := []struct{ name, hex string }{
		{"short", "0001000c2112a442"},
		{"top bits set", "c1010000" + "2112a442b7e7a701bc34d686fa87dfae"},
		{"length past end", "000100082112a442b7e7a701bc34d686fa87dfae"},
		{"cookieless unknown type", "0a010000" + "0102030405060708090a0b0c0d0e0f10"},
		{"cookieless attr overrun", "0101000c" + "0102030405060708090a0b0c0d0e0f10" + "0001001000018055c0000201"},
		{"attr header cut", "000100022112a442b7e7a701bc34d686fa87dfae0001"},
	}
	for _, r := range rejects {
		if m, ok := ParseSTUN(unhex(t, r.hex)); ok {
			t.Errorf("%s: accepted %+v", r.name, m)
		}
	}
}

// stunTCPSegments returns the payload-bearing TCP segments of one direction.
func TestSTUNStreamRFC4571(t *testing.T) {
	pkts := readShared(t, "pcaps/ndpi/stun.pcap")
	var st STUNStats
	var client netip.AddrPort
	for _, p := range pkts {
		if !p.tcp || len(p.payload) == 0 || (p.src.Port() != 42000 && p.dst.Port() != 42000) {
			continue
		}
		if !client.IsValid() {
			client = p.src
		}
		st.ObserveTCP(p.src == client, p.seq, p.payload)
	}
	if got := st.Framing(); got != FramingRFC4571 {
		t.Errorf("got framing %v, want rfc4571", got)
	}
	// 12 segments, one message each: 6 requests (2 distinct per side... 4
	// retransmitted) and 6 responses.
	if st.Messages != 12 || st.Requests != 6 || st.Responses != 6 || st.Malformed != 0 {
		t.Errorf("got %d messages %d requests %d responses %d malformed, want 12 6 6 0", st.Messages, st.Requests, st.Responses, st.Malformed)
	}
	if st.NumMapped != 1 || st.Mapped[0] != netip.MustParseAddrPort("10.77.110.51:41588") {
		t.Errorf("got mapped %v", st.Mapped[:st.NumMapped])
	}
}

func TestSTUNStreamBackToBack(t *testing.T) {
	pkts := readShared(t, "pcaps/ndpi/stun_tcp_multiple_msgs_same_pkt.pcap")
	var st STUNStats
	for _, p := range pkts {
		if p.tcp && len(p.payload) > 0 {
			st.ObserveTCP(true, p.seq, p.payload)
		}
	}
	// nDPI: 4 client packets, the last holding three 28-byte Allocates.
	if st.Framing() != FramingPlain || st.Messages != 6 || st.Malformed != 0 {
		t.Errorf("got framing %v, %d messages, %d malformed; want plain, 6, 0", st.Framing(), st.Messages, st.Malformed)
	}
}

// TestSTUNStreamSplit cuts a stream of framed messages at every offset and
// checks the same messages come out: partial frames carry over.
func TestSTUNStreamSplit(t *testing.T) {
	a, b := unhex(t, hexTeamsAllocReq), unhex(t, hexTeamsAllocOK)
	frame := func(prefix byte, m []byte) []byte {
		n := len(m)
		return append([]byte{prefix, 0, byte(n >> 8), byte(n)}, m...)
	}
	media := append([]byte{3, 0, 0, 6}, 0x80, 0, 1, 2, 3, 4)
	cases := map[string]struct {
		stream  []byte
		framing Framing
		want    [][]byte
	}{
		"plain": {slices.Concat(a, []byte{0x40, 0, 0, 3, 1, 2, 3, 0}, b, a), FramingPlain, [][]byte{a, b, a}},
		"rfc4571": {slices.Concat([]byte{0, byte(len(a))}, a, []byte{0, 4, 0x80, 0, 0, 0},
			[]byte{0, byte(len(b))}, b), FramingRFC4571, [][]byte{a, b}},
		"ms-turn after pseudo-TLS": {slices.Concat([]byte{0x16, 3, 1, 0, 4, 2, 0, 0, 0, 0x16, 3, 1, 0, 2, 0x0e, 0},
			frame(2, a), media, frame(2, b)), FramingMSTURN, [][]byte{a, b}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for cut1 := 0; cut1 <= len(c.stream); cut1++ {
				for _, cut2 := range []int{cut1, min(cut1+1, len(c.stream)), min(cut1+23, len(c.stream)), len(c.stream)} {
					var s STUNStream
					var got [][]byte
					for _, seg := range [][]byte{c.stream[:cut1], c.stream[cut1:cut2], c.stream[cut2:]} {
						s.Write(seg)
						for {
							m, ok := s.Next()
							if !ok {
								break
							}
							got = append(got, bytes.Clone(m))
						}
					}
					if s.Framing != c.framing || s.Broken || len(got) != len(c.want) {
						t.Fatalf("cuts %d,%d: framing %v broken %v, %d messages, want %v, %d", cut1, cut2, s.Framing, s.Broken, len(got), c.framing, len(c.want))
					}
					for i := range got {
						if !bytes.Equal(got[i], c.want[i]) {
							t.Fatalf("cuts %d,%d: message %d differs", cut1, cut2, i)
						}
					}
				}
			}
		})
	}
}

// TestSTUNObserveTCPRetransmit: retransmitted and overlapping segments are
// trimmed by sequence number; a gap restarts framing at the next segment.
func TestSTUNObserveTCPRetransmit(t *testing.T) {
	a := unhex(t, hexTeamsAllocReq)
	f := slices.Concat([]byte{0, byte(len(a))}, a) // RFC 4571 frame, 70 bytes
	stream := slices.Concat(f, f, f)
	var st STUNStats
	var isn uint32 = 0xFFFFFFF0 // wraps
	st.ObserveTCP(true, isn, stream[:50])
	st.ObserveTCP(true, isn, stream[:50])         // retransmission
	st.ObserveTCP(true, isn+30, stream[30:100])   // overlap
	st.ObserveTCP(true, isn+100, stream[100:140]) // completes frame 2
	st.ObserveTCP(true, isn+140, stream[140:])
	if st.Messages != 3 || st.TCPRetransmits != 2 || st.Malformed != 0 {
		t.Errorf("got %d messages %d retransmits %d malformed; want 3 2 0", st.Messages, st.TCPRetransmits, st.Malformed)
	}
	var gap STUNStats
	gap.ObserveTCP(true, 1, stream[:30])  // partial frame 1
	gap.ObserveTCP(true, 71, stream[70:]) // frame 1's tail lost: restart at frame 2
	if gap.Messages != 2 || gap.TCPGaps != 1 || gap.Malformed != 0 {
		t.Errorf("gap: got %d messages %d gaps %d malformed; want 2 1 0", gap.Messages, gap.TCPGaps, gap.Malformed)
	}
}

func TestSTUNStatsMSMux(t *testing.T) {
	var st STUNStats
	st.Observe(true, unhex(t, hexTeamsMSMux), false)
	st.Observe(true, rtpPacket(1, 2, 3, 0), false)
	if st.MSMux != 1 || st.BindingSuccesses != 1 || st.Other != 1 || st.Malformed != 0 {
		t.Errorf("got mux %d binding successes %d other %d malformed %d; want 1 1 1 0", st.MSMux, st.BindingSuccesses, st.Other, st.Malformed)
	}
}

func TestSTUNStatsTeams(t *testing.T) {
	var st STUNStats
	for _, step := range []struct {
		fromClient bool
		hex        string
	}{
		{true, hexTeamsAllocReq}, {false, hexTeamsAlloc401}, {true, hexTeamsAllocReq},
		{false, hexTeamsAllocOK}, {true, hexTeamsSend}, {false, hexTeamsDataInd},
	} {
		st.Observe(step.fromClient, unhex(t, step.hex), false)
	}
	s := st.Summary()
	if !s.MSTURN || s.MSVersion != 6 || !slices.Equal(s.AllocateErrors, []int{401}) || s.AllocateFailed {
		t.Errorf("got %+v", s)
	}
	if !slices.Equal(s.Mapped, []string{"80.181.206.72:60673"}) || s.Relayed != "52.114.250.141:3480" {
		t.Errorf("got mapped %v relayed %q", s.Mapped, s.Relayed)
	}
	// Allocate 401 and the OK have other txids than our canned request; the
	// Send's inner check and the Data Indication's inner answer are separate.
	if s.AllocateRequests != 1 || st.Retransmits != 1 || s.Errors != 1 {
		t.Errorf("got %d allocate requests, %d retransmits, %d errors; want 1 1 1", s.AllocateRequests, st.Retransmits, s.Errors)
	}
}

// TestSTUNTeamsCapture: every UDP flow of teams.pcap that carries STUN parses
// without loss, including the 133/167-length relay responses.
func TestSTUNTeamsCapture(t *testing.T) {
	var allocOK, alloc401, dataInd, lenOdd int
	for _, p := range readShared(t, "pcaps/ndpi/teams.pcap") {
		if p.tcp || len(p.payload) < 20 || p.payload[0] > 1 {
			continue
		}
		if p.src.Port() != 3478 && p.dst.Port() != 3478 && p.src.Port()/10 != 5001 && p.dst.Port()/10 != 5001 {
			continue
		}
		m, ok := ParseSTUN(p.payload)
		if !ok {
			t.Errorf("frame %d: %x not parsed", p.frame, p.payload[:4])
			continue
		}
		if m.Size != len(p.payload) {
			t.Errorf("frame %d: size %d of %d", p.frame, m.Size, len(p.payload))
		}
		switch m.Type {
		case 0x0103:
			allocOK++
		case 0x0113:
			alloc401++
		case 0x0115:
			dataInd++
		}
		if m.Length%4 != 0 {
			lenOdd++
		}
	}
	if allocOK == 0 || alloc401 == 0 || dataInd == 0 || lenOdd == 0 {
		t.Errorf("got %d allocate OK, %d 401, %d data indications, %d odd lengths", allocOK, alloc401, dataInd, lenOdd)
	}
}

func TestSTUNNoAlloc(t *testing.T) {
	msgs := [][]byte{unhex(t, hexTeamsAllocOK), unhex(t, hexTeamsSend), unhex(t, hexTeamsDataInd), unhex(t, hexTeamsBindReq)}
	if n := testing.AllocsPerRun(100, func() {
		for _, b := range msgs {
			ParseSTUN(b)
			Classify(b)
		}
	}); n != 0 {
		t.Errorf("ParseSTUN allocates %v times, want 0", n)
	}
	var st STUNStats
	for _, b := range msgs {
		st.Observe(false, b, false) // first sight: username appended
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, b := range msgs {
			st.Observe(false, b, false)
		}
	}); n != 0 {
		t.Errorf("STUNStats.Observe (UDP) allocates %v times, want 0", n)
	}
	seg := slices.Concat([]byte{0, byte(len(msgs[3]))}, msgs[3], []byte{0, byte(len(msgs[3]))}, msgs[3][:30])
	rest := msgs[3][30:]
	st.Observe(true, seg, true)
	st.Observe(true, rest, true)
	seq := uint32(0)
	if n := testing.AllocsPerRun(100, func() {
		st.Observe(true, seg, true)
		st.Observe(true, rest, true)
		st.ObserveTCP(false, seq, seg)
		st.ObserveTCP(false, seq+uint32(len(seg)), rest)
		seq += uint32(len(seg) + len(rest))
	}); n != 0 {
		t.Errorf("STUNStats.Observe (TCP) allocates %v times, want 0", n)
	}
}

func BenchmarkParseSTUN(b *testing.B) {
	m := unhex(b, hexTeamsAllocOK)
	b.ReportAllocs()
	b.SetBytes(int64(len(m)))
	for b.Loop() {
		ParseSTUN(m)
	}
}

func BenchmarkSTUNStatsObserve(b *testing.B) {
	m := unhex(b, hexTeamsSend)
	var st STUNStats
	b.ReportAllocs()
	b.SetBytes(int64(len(m)))
	for b.Loop() {
		st.Observe(true, m, false)
	}
}

func FuzzParseSTUN(f *testing.F) {
	f.Add(unhex(f, hexTeamsAllocOK))  // header length 125, unpadded SOFTWARE
	f.Add(unhex(f, hexTeamsAlloc401)) // length 167, unpadded reason phrase
	f.Add(unhex(f, hexTeamsDataInd))  // no cookie; DATA holds a whole STUN message
	f.Add(unhex(f, hexTeamsSend))     // DESTINATION-ADDRESS + DATA
	f.Add(unhex(f, hexTeamsBindReq))  // USERNAME with ':' ufrag split
	f.Add([]byte{0, 1, 0, 0})         // shorter than a header
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := ParseSTUN(b)
		if ok && (m.Size > len(b) || m.Size < 20) {
			t.Fatalf("size %d of %d", m.Size, len(b))
		}
		_ = m.Ufrag()
		Classify(b)
		var st STUNStats
		st.Observe(true, b, false)
		st.Observe(true, b, true)
		st.Observe(false, b, true)
		st.ObserveTCP(false, 7, b)
		st.ObserveTCP(false, 3, b)     // overlap
		st.ObserveTCP(false, 1<<31, b) // gap
	})
}

func FuzzSTUNStream(f *testing.F) {
	a := unhex(f, hexTeamsAllocReq)
	f.Add(slices.Concat([]byte{0, byte(len(a))}, a), 7)                  // RFC 4571 split in the header
	f.Add(slices.Concat(a, []byte{0x40, 0, 0, 3, 1, 2, 3, 0}, a), 30)    // plain with ChannelData
	f.Add(slices.Concat([]byte{0x16, 3, 1, 0, 1, 0, 2, 0, 0, 68}, a), 3) // pseudo-TLS then MS-TURN
	f.Add([]byte{0, 0xFF, 0, 1}, 1)                                      // oversized RFC 4571 frame
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		if cut < 0 || cut > len(b) {
			cut = len(b) / 2
		}
		var s STUNStream
		for _, seg := range [][]byte{b[:cut], b[cut:]} {
			s.Write(seg)
			for i := 0; ; i++ {
				m, ok := s.Next()
				if !ok {
					break
				}
				if i > len(b) {
					t.Fatal("Next does not progress")
				}
				ParseSTUN(m)
			}
		}
	})
}

// TestSTUNStreamMediaFrames: NextFrame hands back relayed media so RTP over
// TCP (RFC 4571 and MS-TURN 0x03 frames) can be measured.
func TestSTUNStreamMediaFrames(t *testing.T) {
	a := unhex(t, hexTeamsAllocReq)
	rtp := rtpPacket(7, 160, 0xABC, 0)
	stream := slices.Concat([]byte{2, 0, 0, byte(len(a))}, a, []byte{3, 0, 0, byte(len(rtp))}, rtp)
	var s STUNStream
	s.Write(stream)
	var stun, media int
	for {
		b, isSTUN, ok := s.NextFrame()
		if !ok {
			break
		}
		if isSTUN {
			stun++
		} else if media++; !bytes.Equal(b, rtp) {
			t.Errorf("media frame %x, want %x", b, rtp)
		}
	}
	if stun != 1 || media != 1 || s.Framing != FramingMSTURN {
		t.Errorf("got %d STUN %d media framing %v", stun, media, s.Framing)
	}
}

var ndpiUDPLine = regexp.MustCompile(`^\s+\d+\s+UDP (\S+) <?-> (\S+) \[proto: ([^\]]+)\]`)

// TestSTUNMatchesNDPI: every UDP flow nDPI recognised by payload as STUN, a
// Teams/Skype call, or DTLS after STUN has parsed STUN messages here.
func TestSTUNMatchesNDPI(t *testing.T) {
	for _, name := range []string{"teams.pcap", "stun.pcap", "stun_google_meet.pcapng", "stun_zoom.pcapng", "stun_dtls_rtp.pcapng"} {
		t.Run(name, func(t *testing.T) {
			flows := map[[2]netip.AddrPort]*STUNStats{}
			for _, p := range readShared(t, "pcaps/ndpi/"+name) {
				if p.tcp {
					continue
				}
				k := [2]netip.AddrPort{p.src, p.dst}
				if p.dst.Compare(p.src) < 0 {
					k = [2]netip.AddrPort{p.dst, p.src}
				}
				st := flows[k]
				if st == nil {
					st = new(STUNStats)
					flows[k] = st
				}
				st.Observe(true, p.payload, false)
			}
			raw, err := os.ReadFile(sharedPath(t, "pcaps/ndpi/"+name+".ndpi.out"))
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, l := range strings.Split(string(raw), "\n") {
				m := ndpiUDPLine.FindStringSubmatch(l)
				if m == nil || strings.Contains(l, "Match by port") || strings.Contains(m[3], "DNS") ||
					!strings.Contains(m[3], "STUN") && !strings.Contains(m[3], "TeamsCall") && !strings.Contains(m[3], "DTLS") {
					continue
				}
				a, err1 := netip.ParseAddrPort(m[1])
				b, err2 := netip.ParseAddrPort(m[2])
				if err1 != nil || err2 != nil {
					t.Logf("skipping nDPI's unparsable address in %q", m[0])
					continue
				}
				k := [2]netip.AddrPort{a, b}
				if b.Compare(a) < 0 {
					k = [2]netip.AddrPort{b, a}
				}
				checked++
				if st := flows[k]; st == nil || st.Messages == 0 {
					t.Errorf("%v (%s): no STUN parsed", k, m[3])
				}
			}
			if checked == 0 {
				t.Error("no flows checked")
			}
			// The flight proxy on UDP 3478 is not STUN, whatever the port says.
			fp := [2]netip.AddrPort{netip.MustParseAddrPort("192.168.1.6:51681"), netip.MustParseAddrPort("52.114.77.136:3478")}
			if st := flows[fp]; st != nil && (st.Messages != 0 || st.Malformed == 0) {
				t.Errorf("flight proxy flow: %d STUN messages, %d malformed; want 0 and all", st.Messages, st.Malformed)
			}
			t.Logf("%d flows checked", checked)
		})
	}
}

// TestSTUNTeamsAllocateFlow checks one relay leg of teams.pcap end to end:
// 401 challenge, then success, MS-TURN version 6, reflexive and relayed
// addresses (expected values decoded by hand from frames 1478-1491).
func TestSTUNTeamsAllocateFlow(t *testing.T) {
	client := netip.MustParseAddrPort("192.168.1.6:50017")
	server := netip.MustParseAddrPort("52.114.250.141:3478")
	var st STUNStats
	for _, p := range readShared(t, "pcaps/ndpi/teams.pcap") {
		if !p.tcp && (p.src == client && p.dst == server || p.src == server && p.dst == client) {
			st.Observe(p.src == client, p.payload, false)
		}
	}
	s := st.Summary()
	j, _ := json.Marshal(s)
	want := `{"requests":3,"responses":2,"errors":1,"answered":3,"unanswered":0,"binding_requests":0,"binding_successes":0,` +
		`"allocate_requests":3,"allocate_successes":2,"allocate_errors":[401],"allocate_unanswered":0,` +
		`"allocate_ok_after_401":true,"allocate_failed":false,"ms_turn":true,"ms_version":6,` +
		`"ms_attributes":["0x8008","0x8050","0x8055","0x8095","0x8037","0x8006","0x000F","0x0010"],` +
		`"mapped":["80.181.206.72:60673"],"mapped_changed":false,"relayed":"52.114.250.141:3480"}`
	if string(j) != want {
		t.Errorf("got  %s\nwant %s", j, want)
	}
}

// TestSTUNTxnKeyDistinct: the transaction table keys ids by a digest; ids
// one byte apart, in either half, must not share a key.
func TestSTUNTxnKeyDistinct(t *testing.T) {
	var base [16]byte
	for i := range base {
		base[i] = byte(0x11 * i)
	}
	seen := map[uint64]int{txnKey(&base): -1}
	for i := range base {
		for _, x := range []byte{1, 0x80} {
			id := base
			id[i] ^= x
			k := txnKey(&id)
			if j, dup := seen[k]; dup {
				t.Fatalf("ids differing at byte %d and %d share key %#x", i, j, k)
			}
			seen[k] = i
		}
	}
}
