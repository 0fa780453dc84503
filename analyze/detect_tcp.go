package analyze

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Thresholds of the TCP detectors.
const (
	// synAnswerWait: a single SYN sent this close to the end of the capture
	// may simply not have had time to be answered (Windows retransmits a
	// SYN after 1 s, then 2 s: three seconds covers the first two tries).
	synAnswerWait = 3 * time.Second

	// middleboxTTLDelta: a RST "from the server" whose TTL differs from the
	// server's own packets (SYN-ACK) by more than this many hops was forged
	// on the path. Real paths change by a hop or two; forged RSTs usually
	// start at 64/128/255 near the client (REFERENCE.md, Zeek-style reading).
	middleboxTTLDelta = 4

	// idleCutMin: the shortest silence before a network close that we call
	// an idle cut when the close is clearly the network's (forged TTL, the
	// SIP connection, the client's next packet rejected, several
	// connections with the same timeout). Firewalls and proxies ship with
	// idle timeouts of 60 s to 1 h; the firewall lab scales its conntrack
	// timeout down to seconds (pcaps/lab/09-idle-cut.pcap: 5 s). The
	// article asks for 8 hours (idleCutTarget).
	idleCutMin    = 4 * time.Second
	idleCutTarget = 8 * time.Hour
	// idleCutWeakMin: without such a sign, a RST after this much silence
	// still counts (shorter ones are ordinary server closes); a FIN never.
	idleCutWeakMin = 60 * time.Second
	// staleRSTWindow: a RST this soon after the client's data answers that
	// data (one RTT; Internet RTTs stay well below 1 s).
	staleRSTWindow = time.Second
	// idleCutSame: two cuts whose idle times differ by less than this are
	// "the same interval" (timers fire on a coarse tick).
	idleCutSame = 5 * time.Second
)

// initialTTL guesses the TTL a packet left its sender with (64, 128 or 255,
// the defaults of Linux/macOS, Windows and network devices).
func initialTTL(ttl uint8) int {
	switch {
	case ttl <= 64:
		return 64
	case ttl <= 128:
		return 128
	}
	return 255
}

// hopsDesc is "TTL 254, ~1 hop away".
func hopsDesc(ttl uint8) string {
	h := initialTTL(ttl) - int(ttl)
	return fmt.Sprintf("TTL %d, ~%s away", ttl, plural(h, "hop"))
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// forgedRST reports whether a RST from the server side carries a TTL unlike
// the server's first packet (the SYN-ACK).
func forgedRST(j *judged) bool {
	t := j.tcp
	if t.rstFrame == 0 || t.rstSide != s2c || j.Dir[s2c].FirstFrame == t.rstFrame {
		return false // no other server packet to compare with
	}
	return abs(int(t.rstTTL)-int(j.Dir[s2c].TTLFirst)) > middleboxTTLDelta
}

// rstFromDesc says who sent the RST, with the TTL reading.
func rstFromDesc(j *judged) string {
	t := j.tcp
	if t.rstSide == c2s {
		return fmt.Sprintf("from the client %s (%s)", j.Client().Addr(), hopsDesc(t.rstTTL))
	}
	if forgedRST(j) {
		return fmt.Sprintf("claiming to come from %s but with %s while the server's first packet had %s: forged by a middlebox",
			j.Server().Addr(), hopsDesc(t.rstTTL), hopsDesc(j.Dir[s2c].TTLFirst))
	}
	return fmt.Sprintf("from %s (%s)", j.Server().Addr(), hopsDesc(t.rstTTL))
}

// ruleSeverity returns the article rule for the flow's destination, with the
// severity a failure there deserves: error for the service, info outside.
func (dc *detectContext) ruleSeverity(j *judged) (string, Severity) {
	rule, in := dc.destRule(j)
	if !in {
		return "", SeverityInfo
	}
	return rule, SeverityError
}

// servedBy lists distinct server addresses, in order seen. Typed keys: a
// finding may cover 100 000 flows and print three addresses.
func servedBy(js []*judged) []netip.Addr {
	var s []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, j := range js {
		if a := j.Server().Addr(); !seen[a] {
			seen[a] = true
			s = append(s, a)
		}
	}
	return s
}

// serversDesc counts the distinct servers of js. Folded flows have no
// addresses of their own (they take their look-alike's), so when some are
// folded the count is a floor.
func serversDesc(js []*judged, noun string) string {
	d := plural(len(servedBy(js)), noun)
	if countFlows(js) > len(js) {
		return "at least " + d
	}
	return d
}

// addrList is listDesc of addresses, formatting only those shown.
func addrList(as []netip.Addr, max int) string {
	s := make([]string, min(len(as), max+1))
	for i := range s {
		s[i] = as[i].String()
	}
	return listDescOf(s, len(as), max)
}

// destSummary is "52.112.196.42:443 (sipdir.online.lync.com), 52.113.194.132:443".
func destSummary(js []*judged) string {
	type dest struct {
		ap   netip.AddrPort
		name string
	}
	var shown []string
	seen := map[dest]bool{}
	for _, j := range js {
		if d := (dest{j.Server(), j.name()}); !seen[d] {
			seen[d] = true
			if len(shown) < 4 {
				shown = append(shown, j.serverDesc())
			}
		}
	}
	return listDescOf(shown, len(seen), 4)
}

// groupByRule splits flows by the rule that covers them and emits one
// finding per rule.
func (dc *detectContext) groupByRule(code string, js []*judged, frames func(*judged) []int64, ts func(*judged) int64,
	text func(js []*judged, rule string, inScope bool) (title, detail, rem string)) []Finding {
	type group struct {
		rule string
		sev  Severity
		js   []*judged
	}
	type groupKey struct {
		rule string
		sev  Severity
	}
	var order []groupKey
	groups := map[groupKey]*group{}
	for _, j := range js {
		rule, sev := dc.ruleSeverity(j)
		key := groupKey{rule, sev}
		g := groups[key]
		if g == nil {
			g = &group{rule: rule, sev: sev}
			groups[key] = g
			order = append(order, key)
		}
		g.js = append(g.js, j)
	}
	var out []Finding
	for _, k := range order {
		g := groups[k]
		b := newFinding(code, g.sev)
		for _, j := range g.js {
			b.add(j, ts(j), frames(j)...)
		}
		title, detail, rem := text(g.js, g.rule, g.sev != SeverityInfo)
		out = append(out, b.done(title, detail, rem))
		dc.claim(code, b.f.Flows)
	}
	return out
}

func scopeWord(inScope bool) string {
	if inScope {
		return "Office 365"
	}
	return "destinations outside Office 365"
}

// ruleScope names the destinations a rule covers, for titles.
func ruleScope(rule string, inScope bool) string {
	if rule == rulePush {
		return "Apple's push service"
	}
	return scopeWord(inScope)
}

// detectTCPNoAnswer: SYNs never answered (Zeek S0), with no ICMP error and
// no sign that the answer exists but was not captured.
func detectTCPNoAnswer(dc *detectContext) []Finding {
	var js []*judged
	for _, j := range dc.flows {
		t := j.tcp
		if j.Proto != protoTCP || dc.isClaimed(j) || !t.synSeen || t.synAckSeen || j.Dir[s2c].Packets > 0 || j.hasUnreachable() {
			continue
		}
		if j.Dir[c2s].Flags&tcpACK != 0 {
			continue // the client ACKed something: the answer was not captured (capture-gaps)
		}
		if t.synCount < 2 && dc.captureEnd()-j.Dir[c2s].First < int64(synAnswerWait) {
			continue // no time to be answered
		}
		js = append(js, j)
	}
	return dc.groupByRule(CodeTCPNoAnswer, js,
		func(j *judged) []int64 { return []int64{j.tcp.synFrame} },
		func(j *judged) int64 { return j.Dir[c2s].First },
		func(js []*judged, rule string, in bool) (string, string, string) {
			syns := 0
			for _, j := range js {
				// A folded look-alike is unanswered too: its client
				// packets are its SYNs.
				syns += int(j.tcp.synCount) + int(j.foldedSent())
			}
			ports := portsDesc(js)
			title := fmt.Sprintf("TCP %s to %s silently dropped", ports, ruleScope(rule, in))
			detail := fmt.Sprintf("TCP %s to %s gets no answer: %s, %s (retransmissions included), %s: %s. No SYN-ACK, RST or ICMP came back — a firewall drops them silently.",
				ports, ruleScope(rule, in), plural(countFlows(js), "connection"), plural(syns, "SYN"), serversDesc(js, "server"), destSummary(js))
			return title, detail, rule
		})
}

// portsDesc is "443" or "443, 5223" (server ports). Flows folded into a
// look-alike on the edge's upper range may have had other ports of that
// range (see foldPort): then the list says so ("and at least N more",
// "and others").
func portsDesc(js []*judged) string {
	var ps []int
	seen := map[int]bool{}
	floor := false
	for _, j := range js {
		p := j.serverPort()
		if !seen[int(p)] {
			seen[int(p)] = true
			ps = append(ps, int(p))
		}
		floor = floor || j.foldedFlows() > 0 && foldPort(p, j.area) != p
	}
	sort.Ints(ps)
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	switch {
	case !floor:
		return listDesc(s, 5)
	case len(s) > 5:
		return fmt.Sprintf("%s and at least %d more", strings.Join(s[:5], ", "), len(s)-5)
	}
	return strings.Join(s, ", ") + " and others"
}

// detectTCPRefused: a SYN answered by RST (Zeek REJ).
func detectTCPRefused(dc *detectContext) []Finding {
	var js []*judged
	for _, j := range dc.flows {
		t := j.tcp
		if j.Proto != protoTCP || dc.isClaimed(j) || !t.synSeen || t.synAckSeen || t.rstFrame == 0 || t.rstSide != s2c {
			continue
		}
		js = append(js, j)
	}
	return dc.groupByRule(CodeTCPRefused, js,
		func(j *judged) []int64 { return []int64{j.tcp.synFrame, j.tcp.rstFrame} },
		func(j *judged) int64 { return j.Dir[c2s].First },
		func(js []*judged, rule string, in bool) (string, string, string) {
			var parts []string
			for _, j := range js[:min(len(js), 6)] { // the ones the detail shows
				s := fmt.Sprintf("%s: %s, RST %s", j.pairDesc(), plural(int(j.tcp.synCount), "SYN"), hopsDesc(j.tcp.rstTTL))
				if initialTTL(j.tcp.rstTTL)-int(j.tcp.rstTTL) <= 2 {
					s += " (sent from next to the client: most likely the local firewall, not the Internet server)"
				} else {
					s += " (sent from far away: the server or a firewall near it)"
				}
				parts = append(parts, s)
			}
			title := fmt.Sprintf("TCP %s to %s actively refused", portsDesc(js), ruleScope(rule, in))
			detail := fmt.Sprintf("%s answered by RST instead of SYN-ACK — a firewall rejects them: %s.",
				plural(countFlows(js), "connection"), listDescOf(parts, len(js), 6))
			return title, detail, rule
		})
}

// stageOfReset says where in the connection the RST came.
func stageOfReset(j *judged) string {
	t := j.tcp
	switch {
	case t.helloFrame == 0 || t.rstFrame < t.helloFrame:
		return "right after the handshake, before any data"
	case j.Dir[s2c].PayloadBytes == 0:
		return "after the client's first data (TLS ClientHello) with no server data"
	}
	return "mid-data"
}

// detectTLSResetAfterHello: the handshake completes, the client sends its
// first payload (the TLS ClientHello on 443), and the connection is reset
// before the server sent a byte — a proxy/DPI device objecting to the SNI.
func detectTLSResetAfterHello(dc *detectContext) []Finding {
	b := newFinding(CodeTLSResetAfterHello, SeverityError)
	var names, parts []string
	forged := 0
	for _, j := range dc.flows {
		t := j.tcp
		if j.Proto != protoTCP || dc.isClaimed(j) || !t.synAckSeen || t.helloFrame == 0 || t.rstFrame == 0 || t.rstSide != s2c {
			continue
		}
		if t.rstFrame < t.helloFrame || j.Dir[s2c].PayloadBytes > 0 || t.dataAfterRST {
			continue
		}
		tl := j.pl.tls()
		if tl == nil && j.serverPort() != 443 {
			continue // first payload is not known to be a ClientHello
		}
		sni := j.sni()
		if tl != nil && tl.SNI != "" {
			sni = tl.SNI
		}
		if sni != "" {
			names = append(names, sni)
		}
		if forgedRST(j) {
			forged++
		}
		b.add(j, t.rstTime, t.helloFrame, t.rstFrame)
		parts = append(parts, fmt.Sprintf("%s -> %s (SNI %q, ClientHello frame %d, RST frame %d %s)",
			j.Client(), j.Server(), sni, t.helloFrame, t.rstFrame, rstFromDesc(j)))
	}
	if b.empty() {
		return nil
	}
	dc.claim(CodeTLSResetAfterHello, b.f.Flows)
	detail := fmt.Sprintf("%s reset right after the client's TLS ClientHello, before any server data: %s.",
		plural(b.count(), "connection"), listDesc(parts, 6))
	if forged > 0 {
		detail += fmt.Sprintf(" %d of the RSTs carry a TTL unlike the server's SYN-ACK: a proxy/DPI device in the path objects to the server name.", forged)
	} else {
		detail += " The classic sign of a proxy/DPI device filtering on the server name (SNI)."
	}
	title := "TLS connections reset after the ClientHello (SNI filtering)"
	if n := distinct(names); n > 0 {
		title = fmt.Sprintf("TLS to %s reset after the ClientHello (SNI filtering)", listDesc(uniq(names), 3))
	}
	return []Finding{b.done(title, detail, ruleBypassTLS)}
}

func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// detectTCPReset: an established connection reset by the server side (or a
// device posing as it). A RST from the client itself is the application
// closing, unless its TTL is unlike the client's other packets.
func detectTCPReset(dc *detectContext) []Finding {
	var js []*judged
	for _, j := range dc.flows {
		t := j.tcp
		// Established: handshake seen, or (capture started mid-flow) data
		// both ways. A SYN answered by RST is tcp-refused.
		if j.Proto != protoTCP || dc.isClaimed(j) || t.rstFrame == 0 || !t.established || t.synSeen && !t.synAckSeen {
			continue
		}
		if t.rstSide == c2s {
			if abs(int(t.rstTTL)-int(j.Dir[c2s].TTLFirst)) <= middleboxTTLDelta {
				continue // the client application aborting
			}
		}
		if t.finFrame[c2s] != 0 && t.finFrame[c2s] < t.rstFrame && !forgedRST(j) {
			continue // the client closed first; a RST to late data is an ordinary close
		}
		js = append(js, j)
	}
	return dc.groupByRule(CodeTCPReset, js,
		func(j *judged) []int64 { return []int64{j.tcp.synFrame, j.tcp.rstFrame} },
		func(j *judged) int64 { return j.tcp.rstTime },
		func(js []*judged, rule string, in bool) (string, string, string) {
			var parts []string
			forged := 0
			for _, j := range js {
				if forgedRST(j) {
					forged++
				}
				if len(parts) == 5 {
					continue // the detail shows five
				}
				parts = append(parts, fmt.Sprintf("%s reset %s, %.1f s after it started, by a RST (frame %d) %s",
					j.pairDesc(), stageOfReset(j), float64(j.tcp.rstTime-j.First)/1e9, j.tcp.rstFrame, rstFromDesc(j)))
			}
			title := fmt.Sprintf("Established TCP connections to %s reset", scopeWord(in))
			if forged > 0 {
				title = fmt.Sprintf("Established TCP connections to %s reset by a middlebox", scopeWord(in))
			}
			detail := fmt.Sprintf("%s: %s.", plural(countFlows(js), "connection"), listDescOf(parts, len(js), 5))
			if forged > 0 && rule != "" {
				// A device in the path kills the session: inspection.
				detail += " A device in the path (proxy, IPS, DPI) ends these sessions."
				rule = ruleBypassTLS
			}
			return title, detail, rule
		})
}

// detectIdleCut: long-lived TLS connections to Office 365 closed or reset by
// the network after a silence far below the 8 hours the article requires.
func detectIdleCut(dc *detectContext) []Finding {
	var cands []idleCutCandidate
	for _, j := range dc.flows {
		t := j.tcp
		if j.Proto != protoTCP || dc.isClaimed(j) || !t.established || t.lastPayloadAny == 0 || dc.area(j) == "" {
			continue
		}
		if j.serverPort() != 443 && j.serverPort() != 5061 {
			continue
		}
		c := idleCutCandidate{j: j}
		switch {
		case t.rstFrame != 0 && t.rstSide == s2c && (t.finFrame[s2c] == 0 || t.finFrame[s2c] > t.rstFrame):
			c.at, c.frame, c.how = t.rstTime, t.rstFrame, "RST"
			c.idle = time.Duration(c.at - t.lastPayloadAny)
			// The firewall forgot the connection while it was idle and
			// rejects the client's next packet: the RST follows the
			// client's data at once, after a long server silence. Only on
			// signalling connections (SIP, PSOM): on HTTPS a long server
			// silence may be an upload, and the RST a mid-data reset.
			if (j.Class == ClassSIP || j.Class == ClassPSOM) && t.lastPayload[c2s] != 0 && t.lastPayload[s2c] != 0 &&
				c.at-t.lastPayload[c2s] <= int64(staleRSTWindow) {
				c.idle = time.Duration(c.at - t.lastPayload[s2c])
				c.stale = true
			}
		case t.finFrame[s2c] != 0 && (t.finFrame[c2s] == 0 || t.finFrame[s2c] < t.finFrame[c2s]):
			c.at, c.frame, c.how = j.Dir[s2c].Last, t.finFrame[s2c], "FIN"
			c.idle = time.Duration(c.at - t.lastPayloadAny)
		default:
			continue // the client closed: its own choice
		}
		if c.idle < idleCutMin || c.idle >= idleCutTarget {
			continue
		}
		c.middlebox = j.Dir[s2c].TTLMax-j.Dir[s2c].TTLMin > middleboxTTLDelta
		cands = append(cands, c)
	}
	var cuts []idleCutCandidate
	anyStrong := false
	for _, c := range cands {
		// A web server closing an idle HTTPS keep-alive is normal: keep
		// cuts that look like the network's — a forged TTL, the SIP
		// connection, a rejected packet after silence, a timeout shared
		// with another connection, or a long silence ended by a RST.
		strong := c.middlebox || c.j.Class == ClassSIP || c.stale || sameIntervalAsOther(c, cands)
		if !strong && (c.how == "FIN" || c.idle < idleCutWeakMin) {
			continue
		}
		anyStrong = anyStrong || strong
		cuts = append(cuts, c)
	}
	if len(cuts) == 0 {
		return nil
	}
	sev := SeverityError
	if !anyStrong {
		sev = SeverityWarning // a lone HTTPS connection reset after silence: maybe the server's own timeout
	}
	b := newFinding(CodeIdleCut, sev)
	var parts []string
	var idles []time.Duration
	forged := 0
	for _, c := range cuts {
		b.add(c.j, c.at, c.frame)
		idles = append(idles, c.idle)
		if c.j.Dir[s2c].TTLMax-c.j.Dir[s2c].TTLMin > middleboxTTLDelta {
			forged++
		}
		if c.stale {
			parts = append(parts, fmt.Sprintf("%s: lived %.0f s; after %.0f s of silence the client's next packet was answered by a RST (frame %d): the firewall had dropped the connection's state",
				c.j.pairDesc(), float64(c.at-c.j.First)/1e9, c.idle.Seconds(), c.frame))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: lived %.0f s, %s after %.0f s idle (frame %d)",
			c.j.pairDesc(), float64(c.at-c.j.First)/1e9, c.how, c.idle.Seconds(), c.frame))
	}
	sort.Slice(idles, func(i, k int) bool { return idles[i] < idles[k] })
	detail := fmt.Sprintf("%s closed by the network after silence: %s.", plural(len(cuts), "connection"), listDesc(parts, 5))
	if len(cuts) > 1 && idles[len(idles)-1]-idles[0] <= idleCutSame {
		detail += fmt.Sprintf(" All %d die after the same ~%.0f s of idle time: a firewall/proxy idle timeout", len(cuts), idles[0].Seconds())
	} else if len(cuts) == 1 {
		detail += fmt.Sprintf(" Idle time %.0f s", idles[0].Seconds())
	} else {
		detail += fmt.Sprintf(" Idle times %.0f-%.0f s", idles[0].Seconds(), idles[len(idles)-1].Seconds())
	}
	detail += ", far below the 8 hours the article requires for SIP signalling (the connection lives as long as the user is signed in)."
	if forged > 0 {
		detail += fmt.Sprintf(" %d of the closing packets carry a TTL unlike the server's: sent by a middlebox.", forged)
	}
	dc.claim(CodeIdleCut, b.f.Flows)
	title := fmt.Sprintf("Long-lived TLS connections to Office 365 cut after ~%.0f s idle", idles[0].Seconds())
	return []Finding{b.done(title, detail, ruleIdle)}
}

// idleCutCandidate is a connection closed by the server side after silence.
type idleCutCandidate struct {
	j         *judged
	idle      time.Duration
	at        int64 // unix ns of the closing packet
	frame     int64
	how       string // RST or FIN
	stale     bool   // RST answering the client's first data after the silence
	middlebox bool   // server-side TTLs vary: the closing packet was forged
}

func sameIntervalAsOther(c idleCutCandidate, all []idleCutCandidate) bool {
	for _, o := range all {
		if o.j == c.j {
			continue
		}
		if d := o.idle - c.idle; d <= idleCutSame && d >= -idleCutSame {
			return true
		}
	}
	return false
}

// detectCaptureGaps: TCP flows where only one direction was captured — the
// client ACKs a SYN-ACK and server data that are not in the file.
func detectCaptureGaps(dc *detectContext) []Finding {
	b := newFinding(CodeCaptureGaps, SeverityWarning)
	var parts []string
	tcpFlows := 0
	for _, j := range dc.flows {
		if j.Proto != protoTCP {
			continue
		}
		tcpFlows++
		t := j.tcp
		oneSided := false
		switch {
		case j.Dir[s2c].Packets == 0 && t.synSeen && j.Dir[c2s].Flags&tcpACK != 0:
			oneSided = true // ACK of a SYN-ACK never seen
		case j.Dir[s2c].Packets == 0 && !t.synSeen && j.Dir[c2s].PayloadBytes >= gapMinPayload && j.Dir[c2s].Packets >= gapMinPackets:
			oneSided = true // mid-flow, data one way only
		case j.Dir[c2s].Packets == 0 && j.Dir[s2c].PayloadBytes >= gapMinPayload && j.Dir[s2c].Packets >= gapMinPackets:
			oneSided = true
		}
		if !oneSided {
			continue
		}
		missing := "server -> client"
		if j.Dir[c2s].Packets == 0 {
			missing = "client -> server"
		}
		b.add(j, j.First, j.firstFrame())
		parts = append(parts, fmt.Sprintf("%s (%s missing; %d packets, %d payload bytes the other way)",
			j.pairDesc(), missing, j.Dir[c2s].Packets+j.Dir[s2c].Packets, j.Dir[c2s].PayloadBytes+j.Dir[s2c].PayloadBytes))
	}
	if b.empty() {
		return nil
	}
	dc.claim(CodeCaptureGaps, b.f.Flows)
	detail := fmt.Sprintf("%d of %d TCP flows %s only one direction although the packets prove the other exists (ACKs of a SYN-ACK and data never seen): %s.",
		len(b.f.Flows), tcpFlows, verb(len(b.f.Flows), "shows", "show"), listDesc(parts, 5))
	if len(b.f.Flows)*2 >= tcpFlows {
		detail += " The capture point probably saw only one side of the traffic (asymmetric routing, a one-way SPAN port): these flows cannot be judged, and missing answers are not blocks."
	} else {
		detail += " These flows cannot be judged: their missing answers are not blocks."
	}
	return []Finding{b.done("The capture is missing one direction of some TCP flows", detail, ruleCapture)}
}

// One-way mid-flow TCP needs some substance before we call it a capture gap
// (a few keep-alives of an idle connection are not evidence).
const (
	gapMinPackets = 4
	gapMinPayload = 1000
)

// detectCaptureTruncated: the file itself is incomplete.
func detectCaptureTruncated(dc *detectContext) []Finding {
	c := &dc.rep.Capture
	var reasons []string
	if c.Truncated {
		reasons = append(reasons, fmt.Sprintf("The input ended by damage or was interrupted after %s (%s): what follows frame %d is missing", plural(int(c.Packets), "packet"), warningsDesc(c.Warnings), c.Packets))
	}
	// snapTruncated counts every snaplen-cut packet (the "truncated by
	// snaplen" problem only those cut inside a header).
	if n := int(dc.a.snapTruncated); n > 0 {
		reasons = append(reasons, fmt.Sprintf("%s %s cut by the capture's snaplen (payloads missing: names and media cannot be read)", plural(n, "packet"), verb(n, "was", "were")))
	}
	if dc.a.drops > 0 {
		reasons = append(reasons, fmt.Sprintf("The capturing host reported %s lost (pcapng drop counts, first at frame %d): flows may look unanswered because their answers were dropped by the capture, not the network",
			plural(int(dc.a.drops), "packet"), dc.a.dropFrame))
	}
	if len(reasons) == 0 {
		return nil
	}
	b := newFinding(CodeCaptureTruncated, SeverityWarning)
	if dc.a.dropFrame != 0 {
		b.frames(dc.a.dropFrame)
	}
	if c.Start != nil {
		b.first = c.Start.UnixNano()
	}
	if c.Truncated && c.Packets > 0 {
		b.frames(c.Packets) // the last frame read: the damage follows it
	}
	return []Finding{b.done("The capture is incomplete", strings.Join(reasons, "; ")+".", ruleCapture)}
}

func warningsDesc(w []string) string {
	if len(w) == 0 {
		return "no details"
	}
	s := firstLine(w[0])
	if len(w) > 1 {
		s += fmt.Sprintf("; %d more warnings", len(w)-1)
	}
	return s
}
