package analyze

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sfbtrace/sfbtrace/analyze/proto"
	"github.com/sfbtrace/sfbtrace/capture"
)

// payloadState holds what the payload parsers learned about a flow. Parser
// state is allocated lazily, once per flow, when its protocol first appears.
type payloadState struct {
	msMux     bool  // Microsoft multiplexed TURN (0xFF10) framing seen
	tlsOff    bool  // the stream is not TLS (or the handshake is done): stop feeding it
	pseudo    bool  // SfB pseudo-TLS seen
	httpTried bool  // the client's first payload was checked for an HTTP request line
	lean      bool  // no flow list in the report: keep the facts, not the per-protocol summaries
	media     bool  // STUN or RTP seen on this UDP flow: the media timeout applies
	payloads  int32 // packets with payload
	stunS     *proto.STUNStats
	// cold holds the media parsers (stunS, rtpS) of a flow silent for
	// settleAfter, as a snapshot: see settle.
	cold string
	tcpx *tcpPayload // a TCP flow's, from its first payload: nil for the rest
	sipF *sipFacts
	rtpS *proto.RTPStats
	fz   *frozen // set by freeze: what the report and detectors read
}

// tcpPayload is what only TCP flows with payload parse: apart, behind one
// pointer, since most flows of a gateway are UDP or unanswered SYNs.
type tcpPayload struct {
	tlsC   *proto.TLSConn
	tlsF   *tlsFacts         // TLS facts taken when reassembly stopped
	tlsSum *proto.TLSSummary // and the summary, for the flow list only
	httpF  *httpFacts
}

// frozen is the compact, final form of a flow's payload facts: the parsers
// (reassembly buffers, transaction tables) are released when a flow ends.
type frozen struct {
	stun     *stunFacts
	tls      *tlsFacts
	rtp      *rtpFacts
	sums     *summaries   // for the flow list only: nil without one
	evidence evidenceBits // payload evidence only
	payloads bool
	pseudo   bool
}

// summaries are a flow's per-protocol summaries for the flow list, apart
// from the facts: a gateway's flows are mostly reported without a list.
type summaries struct {
	stun *proto.STUNSummary
	tls  *proto.TLSSummary
	rtp  []proto.RTPStreamSummary
}

// observe feeds one packet with payload (TCP SYNs are fed too, for the
// sequence base). It must not allocate on the steady path.
func (s *payloadState) observe(a *Analyzer, f *Flow, side int, frame, ts int64, r *decodeResult) {
	fromClient := side == c2s
	if len(r.payload) > 0 {
		s.payloads++
	}
	switch f.Proto {
	case protoUDP:
		s.observeUDP(a, f, fromClient, frame, ts, r)
	case protoTCP:
		s.observeTCP(a, f, fromClient, frame, ts, r)
	}
}

func (s *payloadState) observeUDP(a *Analyzer, f *Flow, fromClient bool, frame, ts int64, r *decodeResult) {
	p := r.payload
	if f.onPort(53) {
		return // read by dnsPacket, in every shard
	}
	if s.cold != "" {
		s.thaw(&a.parsers)
	}
	if s.rtpS != nil && len(p) > 0 && p[0]&0xC0 == 0x80 {
		// A known media flow: RTPStats parses RTP/RTCP itself, so the
		// demultiplexer's own parse of the same header is skipped.
		s.rtpS.Observe(fromClient, p, ts)
		return
	}
	k := proto.Classify(p)
	if k == proto.KindMSMux {
		// Microsoft's multiplexed TURN: judge the inner payload.
		if _, inner, ok := proto.MSMuxPayload(p); ok {
			s.msMux = true
			p = inner
			k = proto.Classify(p)
		}
	}
	switch k {
	case proto.KindSTUN:
		if s.stunS == nil {
			s.stunS = a.parsers.stun.get()
			s.stunS.FirstFrame = frame
			s.media = true
		}
		s.stunS.Observe(fromClient, p, false)
	case proto.KindRTP, proto.KindRTCP, proto.KindChannelData:
		if s.rtpS == nil {
			s.media = true
			s.rtpS = a.parsers.rtp.get()
			// Microsoft's dynamic payload-type clock rates apply to media
			// from the client media ports or to Office 365.
			s.rtpS.MSClockRates = mediaClassForPort(f.clientPort()) != "" || f.o365() != ""
		}
		s.rtpS.Observe(fromClient, p, ts)
	case proto.KindUnknown:
		if s.sipF == nil && f.onPort(5060) {
			s.sipF = parseSIPFacts(p)
		}
	}
}

func (s *payloadState) observeTCP(a *Analyzer, f *Flow, fromClient bool, frame, ts int64, r *decodeResult) {
	p := r.payload
	syn := r.tcpFlags&tcpSYN != 0
	x := s.tcpx
	if x == nil {
		if len(p) == 0 {
			return // SYN-only (blocked) flows are common: nothing to keep
		}
		x = new(tcpPayload)
		s.tcpx = x
	}
	if !s.tlsOff && (len(p) > 0 || x.tlsC != nil) {
		if x.tlsC == nil {
			// Allocated at the first payload, not at the SYN: SYN-only
			// (blocked) flows are common and need no reassembler. The
			// client's ISN is replayed so its stream starts right.
			x.tlsC = a.parsers.tls.get()
			if f.tcp.synSeen {
				x.tlsC.Observe(true, f.tcp.synISN, true, nil)
			}
		}
		c := x.tlsC
		c.Observe(fromClient, r.seq, syn, p)
		// Release the reassembler once it has nothing more to learn, or at
		// once when the client's first bytes are not TLS.
		if c.Done() || (c.NotTLS && !c.HelloSeen) {
			s.stopTLS(&a.parsers)
		}
	}
	if len(p) == 0 {
		return
	}
	sp := f.serverPort()
	if sp == 53 {
		return // read by dnsPacket, in every shard
	}
	// STUN/TURN over TCP: on 3478-3481, or SfB's pseudo-TLS then MS-TURN
	// framing on 443 (REFERENCE.md, "Media over TCP 443").
	if (sp >= 3478 && sp <= 3481) || s.pseudo || (x.tlsC != nil && x.tlsC.PseudoTLS) || s.stunS != nil {
		if s.stunS == nil {
			s.stunS = a.parsers.stun.get()
			s.stunS.FirstFrame = frame
		}
		s.stunS.ObserveTCP(fromClient, r.seq, p)
		return
	}
	if fromClient && !s.httpTried {
		// A request line (CONNECT to a proxy) opens the stream: only the
		// client's first payload is looked at, not every data segment.
		s.httpTried = true
		x.httpF = parseHTTPRequest(p, frame)
	} else if x.httpF != nil && !fromClient && x.httpF.Status == 0 {
		if st, ok := parseHTTPStatus(p); ok {
			x.httpF.Status, x.httpF.ResponseFrame = st, frame
		}
	}
	if s.sipF == nil && (sp == 5060 || sp == 5061 || f.clientPort() == 5060) {
		s.sipF = parseSIPFacts(p)
	}
}

// parseHTTPRequest recognises a plain HTTP request line; CONNECT is how a
// client reaches Office 365 through an explicit proxy.
func parseHTTPRequest(p []byte, frame int64) *httpFacts {
	sp := bytes.IndexByte(p, ' ')
	if sp < 3 || sp > 8 {
		return nil
	}
	method := string(p[:sp])
	switch method {
	case "CONNECT", "GET", "POST", "HEAD", "PUT", "OPTIONS":
	default:
		return nil
	}
	rest := p[sp+1:]
	end := bytes.IndexByte(rest, ' ')
	if end < 0 {
		return nil
	}
	target := string(rest[:end])
	h := &httpFacts{Method: method, RequestFrame: frame}
	if method == "CONNECT" {
		host, port := splitHostPort(target)
		h.Host, h.Port = escapeName(host), port
		return h
	}
	if i := bytes.Index(p, []byte("\r\nHost: ")); i >= 0 {
		line := p[i+8:]
		if j := bytes.IndexByte(line, '\r'); j >= 0 {
			host, port := splitHostPort(string(line[:j]))
			h.Host, h.Port = escapeName(host), port
		}
	}
	return h
}

func splitHostPort(s string) (string, uint16) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.HasSuffix(s, "]") {
		return strings.Trim(s, "[]"), 0
	}
	p, _ := strconv.Atoi(s[i+1:])
	return strings.Trim(s[:i], "[]"), uint16(p)
}

func parseHTTPStatus(p []byte) (int, bool) {
	if len(p) < 12 || !bytes.HasPrefix(p, []byte("HTTP/1.")) {
		return 0, false
	}
	st, err := strconv.Atoi(string(p[9:12]))
	return st, err == nil
}

// parseSIPFacts reads the first line and a few headers of a SIP message.
func parseSIPFacts(p []byte) *sipFacts {
	line := p
	if i := bytes.Index(p, []byte("\r\n")); i >= 0 {
		line = p[:i]
	}
	f := &sipFacts{}
	switch {
	case bytes.HasPrefix(line, []byte("SIP/2.0 ")) && len(line) >= 11:
		f.Status, _ = strconv.Atoi(string(line[8:11]))
	case bytes.HasSuffix(line, []byte(" SIP/2.0")):
		sp := bytes.IndexByte(line, ' ')
		f.Method = escapeName(string(line[:sp]))
	default:
		return nil
	}
	f.CallID = sipHeader(p, "Call-ID", "i")
	f.From = sipHost(sipHeader(p, "From", "f"))
	f.To = sipHost(sipHeader(p, "To", "t"))
	return f
}

func sipHeader(p []byte, long, short string) string {
	for _, l := range bytes.Split(p, []byte("\r\n")) {
		i := bytes.IndexByte(l, ':')
		if i <= 0 {
			continue
		}
		name := strings.TrimSpace(string(l[:i]))
		if strings.EqualFold(name, long) || name == short {
			return escapeName(strings.TrimSpace(string(l[i+1:])))
		}
	}
	return ""
}

func sipHost(v string) string {
	if i := strings.Index(v, "sip:"); i >= 0 {
		v = v[i+4:]
	}
	if i := strings.IndexByte(v, '@'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.IndexAny(v, ">;: "); i >= 0 {
		v = v[:i]
	}
	return v
}

// escapeName makes packet-derived text safe to print: non-printable bytes
// become \xNN.
func escapeName(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\' {
			var b strings.Builder
			for j := 0; j < len(s); j++ {
				c := s[j]
				if c < 0x20 || c > 0x7e || c == '\\' {
					b.WriteString(`\x`)
					b.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
					b.WriteString(strconv.FormatUint(uint64(c)&15, 16))
				} else {
					b.WriteByte(c)
				}
			}
			return b.String()
		}
	}
	return s
}

// stopTLS keeps the TLS facts and releases the reassembler.
func (s *payloadState) stopTLS(ps *parsers) {
	s.tlsOff = true
	x := s.tcpx
	if x == nil || x.tlsC == nil {
		return
	}
	c := x.tlsC
	x.tlsC = nil
	if c.HelloSeen || c.ServerHelloSeen {
		sum := c.Summary()
		sum.SNI = escapeName(sum.SNI)
		x.tlsF = tlsFactsOf(&sum)
		if !s.lean { // most flows stay live long after their handshake
			kept := sum // a copy, so that sum stays off the heap when lean
			x.tlsSum = &kept
		}
		s.pseudo = c.PseudoTLS
	}
	ps.release(nil, nil, c)
}

// freeze computes the flow's final facts and releases the parsers. It is
// idempotent; accessors call it, so reading facts ends payload parsing.
func (s *payloadState) freeze() *frozen { return s.freezeInto(nil) }

// freezeInto is freeze, releasing the parsers into ps for reuse (nil: to
// the collector).
func (s *payloadState) freezeInto(ps *parsers) *frozen {
	if s.fz != nil {
		return s.fz
	}
	if s.cold != "" {
		s.thaw(ps)
	}
	z := &frozen{payloads: s.payloads > 0}
	var sums summaries
	var ev evidenceBits
	if s.stunS != nil && s.stunS.Messages > 0 {
		z.stun = s.stunFacts()
		if !s.lean {
			sum := s.stunS.Summary()
			sums.stun = &sum
		}
		ev |= evSTUN
		if z.stun.MSTURN {
			ev |= evMSTURN
		}
	}
	if s.msMux {
		ev |= evMSTURN
	}
	s.stopTLS(ps)
	if x := s.tcpx; x != nil && x.tlsF != nil {
		z.tls, sums.tls, z.pseudo = x.tlsF, x.tlsSum, s.pseudo
		ev |= evTLS
	}
	if r := s.rtpS; r != nil && r.Confirmed {
		if !s.lean {
			sums.rtp = r.Summary().Streams
		}
		z.rtp = rtpFactsOf(r)
		ev |= evRTP
	}
	if r := s.rtpS; r != nil && r.RTCPPackets > 0 {
		ev |= evRTCP
		if z.rtp == nil {
			z.rtp = &rtpFacts{}
		}
		z.rtp.RTCP = int64(r.RTCPPackets)
	}
	if s.sipF != nil {
		ev |= evSIP
	}
	z.evidence = ev
	if sums.stun != nil || sums.tls != nil || sums.rtp != nil {
		z.sums = &sums
	}
	if z.stun == nil && z.tls == nil && z.rtp == nil && ev == 0 {
		// Most flows (SYN-only, DNS, plain data) learned nothing: share
		// one read-only value instead of 100 000 identical ones.
		z = &frozenNone[b2i(z.payloads)]
	}
	s.fz = z
	ps.release(s.stunS, s.rtpS, nil)
	s.stunS, s.rtpS = nil, nil
	if x := s.tcpx; x != nil {
		// The TLS facts are the frozen ones now; HTTP facts stay here.
		x.tlsSum, x.tlsF = nil, nil
		if x.httpF == nil {
			s.tcpx = nil
		}
	}
	return z
}

// frozenNone are the shared facts of flows whose payloads told nothing:
// [0] without payload, [1] with. Never written.
var frozenNone = [2]frozen{{}, {payloads: true}}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *payloadState) sni() string {
	if t := s.freeze().tls; t != nil {
		return t.SNI
	}
	return ""
}

func (s *payloadState) hasSTUN() bool    { return s.freeze().stun != nil }
func (s *payloadState) hasRTP() bool     { z := s.freeze(); return z.rtp != nil && len(z.rtp.Streams) > 0 }
func (s *payloadState) sawPayload() bool { return s.freeze().payloads }
func (s *payloadState) isSIP() bool      { return s.sipF != nil }

// mediaOverTCP reports SfB media over TCP: pseudo-TLS then MS-TURN framing.
func (s *payloadState) mediaOverTCP() bool { return s.freeze().pseudo }

// guessModality infers audio/video/sharing from RTP payload types.
// It is derived, not kept: a gateway's report holds a hundred thousand
// frozen flows.
func (s *payloadState) guessModality() string {
	if z := s.freeze(); z.rtp != nil {
		return modalityOf(z.rtp)
	}
	return ""
}

func (s *payloadState) evidence() evidenceBits { return s.freeze().evidence }

func (s *payloadState) fillReport(fr *FlowReport) {
	// The report's fields are interfaces: only set ones may be non-nil.
	if z := s.freeze().sums; z != nil {
		if z.stun != nil {
			fr.STUN = z.stun
		}
		if z.tls != nil {
			fr.TLS = z.tls
		}
		if z.rtp != nil {
			fr.RTP = z.rtp
		}
	}
	if s.sipF != nil {
		fr.SIP = s.sipF
	}
}

// stun returns the STUN/TURN facts, nil when no STUN was seen.
func (s *payloadState) stun() *stunFacts { return s.freeze().stun }

func (s *payloadState) stunFacts() *stunFacts {
	st := s.stunS
	un, ua := st.Unanswered()
	f := &stunFacts{
		Requests: int32(st.Requests), Responses: int32(st.Responses), Errors: int32(st.Errors),
		BindingRequests: int32(st.BindingRequests), BindingSuccess: int32(st.BindingSuccesses),
		AllocRequests: int32(st.AllocateRequests), AllocSuccess: int32(st.AllocateSuccesses),
		Unanswered: int32(un), MSTURN: st.MSTURN || st.MS != 0,
		FirstRequestFrame: st.FirstFrame,
	}
	var more stunMore
	for _, c := range st.AllocateErrorCodes[:st.NumAllocateErrors] {
		more.AllocErrors = append(more.AllocErrors, int(c))
	}
	f.AllocUnansweredAfterChallenge = ua > 0 && st.NumAllocateErrors > 0 && st.AllocateErrorCodes[0] == 401 && !st.AllocateOKAfter401
	f.Mapped = append(f.Mapped, st.Mapped[:st.NumMapped]...)
	if st.Relayed.IsValid() {
		more.Relayed = append(more.Relayed, st.Relayed)
	}
	for _, u := range st.Usernames {
		more.Ufrags = append(more.Ufrags, escapeName(u))
	}
	if more.AllocErrors != nil || more.Relayed != nil || more.Ufrags != nil {
		f.more = &more
	}
	return f
}

// tlsFactsOf reads the detectors' TLS facts from the summary kept when
// reassembly stopped (its SNI is already escaped).
func tlsFactsOf(sum *proto.TLSSummary) *tlsFacts {
	f := &tlsFacts{SNI: sum.SNI, ALPN: sum.ALPN, Versions: sum.Versions, ServerVersion: sum.ServerVersion,
		CertSubject: escapeName(sum.CertSubject), CertIssuer: escapeName(sum.CertIssuer), PseudoTLS: sum.PseudoTLS}
	for _, al := range sum.Alerts {
		if al.Encrypted {
			f.Alerts = append(f.Alerts, al.From+" encrypted alert")
		} else {
			f.Alerts = append(f.Alerts, al.From+" alert "+strconv.Itoa(al.Description))
		}
	}
	return f
}

func rtpFactsOf(r *proto.RTPStats) *rtpFacts {
	var buf [4]proto.RTPStreamStats // most flows carry 1-2 streams
	sts := r.AppendStreams(buf[:0])
	f := &rtpFacts{RTCP: int64(r.RTCPPackets), Streams: make([]rtpStreamFacts, 0, len(sts))}
	for _, st := range sts {
		sf := rtpStreamFacts{SSRC: st.SSRC, PayloadType: st.PayloadType, Dir: s2c,
			Packets: int64(st.Packets), Lost: int64(st.Lost), Reordered: int64(st.Reordered),
			WorstLossPct: st.WorstLossPct15, WorstJitterMs: st.WorstJitter15Ms}
		if st.FromClient {
			sf.Dir = c2s
		}
		f.Streams = append(f.Streams, sf)
	}
	return f
}

// modalityOf infers the modality from RTP payload types seen from
// Lync/SfB/Teams (REFERENCE.md): 121-123 video, 127 application sharing,
// the rest of the list audio. The stream with the most packets decides.
func modalityOf(r *rtpFacts) string {
	var best *rtpStreamFacts
	for i := range r.Streams {
		if best == nil || r.Streams[i].Packets > best.Packets {
			best = &r.Streams[i]
		}
	}
	if best == nil {
		return ""
	}
	switch best.PayloadType {
	case 121, 122, 123, 26, 31, 32, 33, 34: // + RFC 3551 static video types
		return ClassVideo
	case 127:
		return ClassDesktopShare
	case 0, 8, 9, 13, 97, 101, 103, 104, 111, 112, 114, 115, 117, 118:
		return ClassAudio
	}
	if best.PayloadType < 24 { // RFC 3551 static audio types
		return ClassAudio
	}
	return ""
}

// rtp returns the RTP/RTCP facts, nil when the flow is not RTP.
func (s *payloadState) rtp() *rtpFacts { return s.freeze().rtp }

// tls returns the TLS facts, nil when no TLS handshake was seen.
func (s *payloadState) tls() *tlsFacts { return s.freeze().tls }

// http returns the first plain HTTP request (CONNECT to a proxy), or nil.
func (s *payloadState) http() *httpFacts {
	if s.tcpx == nil {
		return nil
	}
	return s.tcpx.httpF
}

// dnsState maps answered addresses to the names clients looked up. Every
// shard reads every DNS packet, its own and copies of the others' (see
// dnsPacket), in capture order: each table is the same whatever the worker
// count, and shard 0's is the one reported.
type dnsState struct {
	t *proto.DNSTable
}

func (d *dnsState) observe(p []byte, tcp bool, frame, ts int64) {
	if d.t == nil {
		d.t = proto.NewDNSTable()
	}
	d.t.Observe(p, tcp, int(frame), time.Unix(0, ts))
}

// dnsPacket reads a decoded packet to or from port 53 into the name table.
// The shard that owns the flow and the shards given a copy (observeDNS)
// read it the same way.
func (a *Analyzer) dnsPacket(r *decodeResult, frame, ts int64) {
	if len(r.payload) > 0 && (r.srcPort == 53 || r.dstPort == 53) {
		a.dns.observe(r.payload, r.proto == protoTCP, frame, ts)
	}
}

// observeDNS reads a DNS packet that belongs to another shard into this
// shard's name table only: flows here are then named as shard 0 names
// them. The owning shard counts the packet and reports its problems.
func (a *Analyzer) observeDNS(p *capture.Packet) {
	defer func() { _ = recover() }() // the owning shard reports a bug on this packet
	r := &a.res
	if a.dec.decode(p.LinkType, p.Data, p.Length, r) != decodedOK || (r.proto != protoUDP && r.proto != protoTCP) {
		return
	}
	var ts int64
	if !p.Timestamp.IsZero() {
		ts = p.Timestamp.UnixNano()
	}
	a.dnsPacket(r, p.Frame, ts)
}

func (d *dnsState) nameFor(a netip.Addr) string {
	if d.t == nil {
		return ""
	}
	return escapeName(d.t.NameFor(a))
}

// failures returns DNS names that did not resolve (NXDOMAIN, SERVFAIL,
// unanswered), in first-seen order.
func (d *dnsState) failures() []dnsFailure {
	if d.t == nil {
		return nil
	}
	var out []dnsFailure
	for _, f := range d.t.Failures() {
		rc := f.Rcode
		if rc == "NOANSWER" {
			rc = "no answer"
		}
		out = append(out, dnsFailure{Name: escapeName(f.Name), Rcode: rc, Count: f.Count,
			Frames: []int64{int64(f.FirstFrame)}, FirstSeen: f.FirstSeen.UnixNano()})
	}
	return out
}
