package analyze

import (
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// Thresholds of the UDP/ICMP detectors.
const (
	// udpAnswerWait: a UDP request sent this close to the end of the capture
	// may not have had time to be answered. STUN (RFC 5389 7.2.1) gives up
	// after 39.5 s, but a relay answers within one RTT: one retransmission
	// interval (0.5 s) plus margin.
	udpAnswerWait = 1 * time.Second

	// mediaTCPMinPackets: a TCP flow from a media port to a relay needs
	// this many packets each way (TCP and TLS handshakes, then data) before
	// we say the client fell back to it. Teams opens such TCP candidates in
	// every call (teams.pcap flows 64/67/72/73, 13-20 packets each) but
	// there UDP to the relays works, which rules the finding out.
	mediaTCPMinPackets = 6
	// mediaTCPNoUDPMinPackets: when no UDP to the relays is in the capture
	// at all (maybe filtered out, maybe sent before the capture began), a
	// TCP media flow needs sustained media — 1 s of 20 ms packets and more —
	// before we say the client fell back to TCP.
	mediaTCPNoUDPMinPackets = 50
)

func isICMPUnreachable(h icmpHit) bool {
	if h.v6 {
		return h.typ == 1
	}
	return h.typ == 3
}

// isAdminProhibited: ICMP 3/13 (RFC 1812), 3/9, 3/10, ICMPv6 1/1 (RFC 4443).
func isAdminProhibited(h icmpHit) bool {
	if h.v6 {
		return h.typ == 1 && h.code == 1
	}
	return h.typ == 3 && (h.code == 13 || h.code == 9 || h.code == 10)
}

func icmpDesc(h icmpHit) string {
	if h.v6 {
		switch {
		case h.typ == 1 && h.code == 1:
			return "ICMPv6 destination unreachable, administratively prohibited (1/1)"
		case h.typ == 1 && h.code == 4:
			return "ICMPv6 port unreachable (1/4)"
		case h.typ == 1 && h.code == 0:
			return "ICMPv6 no route (1/0)"
		case h.typ == 1 && h.code == 3:
			return "ICMPv6 address unreachable (1/3)"
		case h.typ == 1 && (h.code == 5 || h.code == 6):
			return fmt.Sprintf("ICMPv6 rejected by policy (1/%d)", h.code)
		}
		return fmt.Sprintf("ICMPv6 %d/%d", h.typ, h.code)
	}
	switch h.code {
	case 13:
		return "ICMP destination unreachable, communication administratively prohibited (3/13)"
	case 9, 10:
		return fmt.Sprintf("ICMP destination unreachable, administratively prohibited (3/%d)", h.code)
	case 3:
		return "ICMP port unreachable (3/3)"
	case 1:
		return "ICMP host unreachable (3/1)"
	case 0:
		return "ICMP network unreachable (3/0)"
	case 4:
		return "ICMP fragmentation needed (3/4)"
	}
	return fmt.Sprintf("ICMP destination unreachable (3/%d)", h.code)
}

// detectICMPUnreachable ties ICMP errors to the flows they quote: one
// finding per (sending device, prohibited or not).
func detectICMPUnreachable(dc *detectContext) []Finding {
	var g groupedFindings
	type info struct {
		from  netip.Addr
		admin bool
		kinds map[string]int
		pairs []string
		rule  string
	}
	infos := map[string]*info{}
	// hit files one ICMP error under its group (device, kind, rule) and
	// returns the group's finding and details.
	hit := func(key string, sev Severity, h icmpHit, admin bool) (*findingBuilder, *info) {
		b := g.get(key, CodeICMPUnreachable, sev)
		if severityRank[sev] < severityRank[b.f.Severity] {
			b.f.Severity = sev
		}
		in0 := infos[key]
		if in0 == nil {
			in0 = &info{from: h.from, admin: admin, kinds: map[string]int{}}
			infos[key] = in0
		}
		in0.kinds[icmpDesc(h)]++
		return b, in0
	}
	for _, j := range dc.flows {
		for _, h := range j.icmp() {
			if !isICMPUnreachable(h) {
				continue
			}
			admin := isAdminProhibited(h)
			rule, in := dc.destRule(j)
			// One finding per device, kind and rule to change.
			key := fmt.Sprintf("%s|%v|%s", h.from, admin, rule)
			if _, media := j.localMediaEnd(); !in && media && j.twoWay() {
				continue // an ICE pair to a peer: candidates that fail are ICE at work
			}
			sev := SeverityError
			switch {
			case !in:
				sev = SeverityInfo // outside the article's scope
			case !admin && j.twoWay():
				// The flow worked; a port unreachable at its end (a
				// socket closed after the call) is not a block.
				sev = SeverityInfo
			}
			b, in0 := hit(key, sev, h, admin)
			in0.rule = rule
			if !b.seen[int(j.ID)] {
				in0.pairs = append(in0.pairs, j.pairDesc())
			}
			b.add(j, h.ts, h.frame)
		}
	}
	for _, o := range dc.a.icmpOrphans {
		h := o.hit
		if !isICMPUnreachable(h) {
			continue
		}
		admin := isAdminProhibited(h)
		key := fmt.Sprintf("%s|%v|", h.from, admin)
		sev := SeverityInfo
		if admin {
			sev = SeverityWarning
		}
		b, in0 := hit(key, sev, h, admin)
		in0.pairs = append(in0.pairs, o.desc+" (quoted packet not in the capture)")
		b.add(nil, h.ts, h.frame)
	}
	var out []Finding
	for _, k := range g.keys {
		b, in := g.m[k], infos[k]
		var kinds []string
		for d, n := range in.kinds {
			kinds = append(kinds, fmt.Sprintf("%d× %s", n, d))
		}
		sort.Strings(kinds)
		title := fmt.Sprintf("Flows rejected by a firewall (ICMP from %s)", in.from)
		if !in.admin {
			title = fmt.Sprintf("Destination unreachable reported by %s", in.from)
		}
		who := "The device"
		if isLocalAddr(in.from) {
			who = "The local device"
		}
		detail := fmt.Sprintf("%s %s answered %s with %s: %s.", who, in.from, plural(len(in.pairs), "flow"), listDesc(kinds, 3), listDesc(in.pairs, 6))
		if in.admin {
			detail += fmt.Sprintf(" Administratively prohibited = rejected by a firewall rule on %s.", in.from)
		}
		out = append(out, b.done(title, detail, in.rule))
		dc.claim(CodeICMPUnreachable, b.f.Flows)
	}
	return out
}

// isSTUNPort: UDP 3478-3481, the Office 365 media relay ports.
func isSTUNPort(p uint16) bool { return p >= 3478 && p <= 3481 }

// udpUnanswered: the client sent, nothing came back, and there was time.
func (dc *detectContext) udpUnanswered(j *judged) bool {
	if j.Proto != protoUDP || j.Dir[c2s].Packets == 0 || j.Dir[s2c].Packets > 0 || j.hasUnreachable() {
		return false
	}
	if j.Dir[c2s].Packets < 2 && dc.captureEnd()-j.Dir[c2s].First < int64(udpAnswerWait) {
		return false
	}
	return true
}

// localMediaEnd returns the endpoint of a flow that is the local client's
// media socket: the client side when its port is a media port, else the
// server side when its port is one and it is not Office 365 (a peer that
// sent first, e.g. teams.pcap 93.71.110.205:16332 -> 192.168.1.6:50016).
func (j *judged) localMediaEnd() (netip.AddrPort, bool) {
	if mediaClassForPort(j.serverPort()) != "" && j.o365() == "" && isLocalAddr(j.Server().Addr()) && !isLocalAddr(j.Client().Addr()) {
		return j.Server(), true
	}
	if mediaClassForPort(j.clientPort()) != "" || isMediaClass(j.Class) && j.Proto == protoUDP {
		return j.Client(), true
	}
	return netip.AddrPort{}, false
}

// detectUDPNoAnswer: UDP to Office 365 or to 3478-3481 with no packet
// back. Unanswered ICE checks to peer candidates (not Office 365, not a
// relay port) are ICE at work, never reported here.
func detectUDPNoAnswer(dc *detectContext) []Finding {
	var js []*judged
	for _, j := range dc.flows {
		if dc.isClaimed(j) || !dc.udpUnanswered(j) {
			continue
		}
		area, sp := dc.area(j), j.serverPort()
		if !isSTUNPort(sp) && !(area != "" && sp >= 50000 && sp <= 59999) {
			// A peer candidate, LAN noise, DNS (dns-failure judges it),
			// QUIC on UDP 443 (browsers fall back to TCP by design).
			continue
		}
		if area == "" && isLocalAddr(j.Server().Addr()) {
			continue
		}
		js = append(js, j)
	}
	return dc.groupByRule(CodeUDPNoAnswer, js,
		func(j *judged) []int64 {
			if st := j.pl.stun(); st != nil && st.FirstRequestFrame != 0 {
				return []int64{st.FirstRequestFrame}
			}
			return []int64{j.Dir[c2s].FirstFrame}
		},
		func(j *judged) int64 { return j.Dir[c2s].First },
		func(js []*judged, rule string, in bool) (string, string, string) {
			pkts, stunReq := int64(0), 0
			for _, j := range js {
				pkts += j.Dir[c2s].Packets + j.foldedSent()
				if st := j.pl.stun(); st != nil {
					stunReq += int(st.Requests)
				}
			}
			what := "UDP"
			if stunReq > 0 {
				what = "STUN/TURN over UDP"
			}
			title := fmt.Sprintf("UDP %s to %s gets no answer", portRangeDesc(js), scopeWord(in))
			detail := fmt.Sprintf("%s %s to %s gets no answer: %s, %s, %s sent, nothing back (no ICMP either): %s — a firewall drops it silently.",
				what, portRangeDesc(js), scopeWord(in), plural(countFlows(js), "flow"), serversDesc(js, "relay"), plural(int(pkts), "packet"),
				flowList(js, 6))
			if !in {
				detail += " The destination is not in the Office 365 ranges (see non-o365-destination)."
			}
			return title, detail, rule
		})
}

// portRangeDesc is "3478-3481" when all ports are relay ports, else a list.
func portRangeDesc(js []*judged) string {
	all := true
	for _, j := range js {
		if !isSTUNPort(j.serverPort()) {
			all = false
		}
	}
	if all {
		return "3478-3481"
	}
	return portsDesc(js)
}

// flowList is "192.168.1.10:50010 -> 52.114.250.27:3478, ...".
func flowList(js []*judged, max int) string {
	s := make([]string, min(len(js), max+1))
	for i := range s {
		s[i] = fmt.Sprintf("%s -> %s", js[i].Client(), js[i].serverDesc())
	}
	return listDescOf(s, len(js), max)
}

// failed reports a flow that never got an answer (UDP unanswered, TCP S0
// or REJ, or an ICMP error).
func (dc *detectContext) failed(j *judged) bool {
	if j.hasUnreachable() && j.Dir[s2c].Packets == 0 {
		return true
	}
	if j.Proto == protoUDP {
		return dc.udpUnanswered(j)
	}
	t := j.tcp
	return t.synSeen && !t.synAckSeen && j.Dir[c2s].Flags&tcpACK == 0 && (j.Dir[s2c].Packets == 0 || t.rstSide == s2c && t.rstFrame != 0)
}

// detectEdgePortRange: to the media edge, destinations 50000-50059 work
// while 50060-59999 fail — the client range was copied as the destination
// range; the edge listens on 50000-59999 (REFERENCE.md, port table note).
func detectEdgePortRange(dc *detectContext) []Finding {
	type edge struct {
		ok, bad []*judged
	}
	byServer := map[netip.Addr]*edge{}
	var order []netip.Addr
	for _, j := range dc.flows {
		sp := j.serverPort()
		if sp < 50000 || sp > 59999 {
			continue
		}
		if dc.area(j) == "" {
			// A peer's candidate (peers pick random ports), not the edge.
			continue
		}
		e := byServer[j.Server().Addr()]
		if e == nil {
			e = &edge{}
			byServer[j.Server().Addr()] = e
			order = append(order, j.Server().Addr())
		}
		switch {
		case sp <= 50059 && j.twoWay():
			e.ok = append(e.ok, j)
		case sp > 50059 && dc.failed(j):
			e.bad = append(e.bad, j)
		}
	}
	b := newFinding(CodeEdgePortRangeBlocked, SeverityError)
	var okAll, badAll []*judged
	for _, a := range order {
		e := byServer[a]
		if len(e.ok) == 0 || len(e.bad) == 0 {
			continue
		}
		okAll = append(okAll, e.ok...)
		badAll = append(badAll, e.bad...)
	}
	// With answered low ports anywhere, failing high ports to any edge
	// address are the same rule.
	if len(okAll) == 0 {
		return nil
	}
	for _, a := range order {
		e := byServer[a]
		if len(e.ok) == 0 && len(e.bad) > 0 {
			badAll = append(badAll, e.bad...)
		}
	}
	for _, j := range badAll {
		b.add(j, j.Dir[c2s].First, j.Dir[c2s].FirstFrame)
	}
	if b.empty() {
		return nil
	}
	dc.claim(CodeEdgePortRangeBlocked, b.f.Flows)
	okPorts, badPorts := portsDesc(okAll), portsDesc(badAll)
	detail := fmt.Sprintf("To the media edge %s, destination ports %s (inside 50000-50059) are answered while %s (50060-59999) fail: %s. The firewall copied the client source range 50000-50059 as the destination range; the edge listens on the whole 50000-59999.",
		addrList(servedBy(append(okAll, badAll...)), 3), okPorts, badPorts, flowList(badAll, 6))
	return []Finding{b.done("Edge destination ports above 50059 blocked", detail, ruleEdgeRange)}
}

// isTCPMedia reports a TCP flow that carries media to a relay: from a
// client media port, or to a relay name, or with SfB's pseudo-TLS framing.
func (dc *detectContext) isTCPMedia(j *judged) bool {
	if j.Proto != protoTCP {
		return false
	}
	if isMediaClass(j.Class) || j.pl.mediaOverTCP() {
		return true
	}
	return j.mediaName
}

// detectMediaOverTCP: media relayed over TCP 443 while UDP to the relays
// failed or was never tried (Microsoft's HTTP-PROXY/TCP connectivity).
func detectMediaOverTCP(dc *detectContext) []Finding {
	b := newFinding(CodeMediaOverTCP, SeverityWarning)
	var parts []string
	var clients []netip.Addr
	udpTried := 0
	for _, j := range dc.flows {
		if !dc.isTCPMedia(j) || dc.isClaimed(j) || dc.area(j) == "" && !j.pl.mediaOverTCP() {
			continue
		}
		rs := dc.relayUDPOf(j.Client().Addr())
		if rs.works {
			continue // UDP works: a TCP candidate kept in reserve
		}
		need := int64(mediaTCPMinPackets)
		if rs.tried == 0 {
			need = mediaTCPNoUDPMinPackets
		}
		if j.Dir[c2s].Packets < need || j.Dir[s2c].Packets < need {
			continue
		}
		b.add(j, j.First, j.tcp.synFrame, j.tcp.helloFrame)
		clients = append(clients, j.Client().Addr())
		parts = append(parts, fmt.Sprintf("%s (%.1f s, %d/%d packets)", j.pairDesc(), j.Duration(), j.Dir[c2s].Packets, j.Dir[s2c].Packets))
	}
	if b.empty() {
		return nil
	}
	for _, c := range clients {
		udpTried = max(udpTried, dc.relayUDPOf(c).tried)
	}
	why := "no UDP to the relays was tried"
	if udpTried > 0 {
		why = fmt.Sprintf("UDP 3478-3481 to the relays failed (%s, none answered)", plural(udpTried, "flow"))
	}
	detail := fmt.Sprintf("Media relayed over TCP 443 because %s: %s. It works, but TCP adds delay and loss recovery that degrade audio and video.",
		why, listDesc(parts, 5))
	dc.claim(CodeMediaOverTCP, b.f.Flows)
	return []Finding{b.done("Media falls back to TCP 443 (HTTP-PROXY/TCP)", detail, ruleUDPSkype)}
}

// detectNonO365Destination: traffic on these services' ports going to an
// address outside the Office 365 ranges: TCP 443 with a Skype/Teams name,
// UDP 3478-3481. Apple push (TCP 5223) is push, never this.
func detectNonO365Destination(dc *detectContext) []Finding {
	var infoFlows, failFlows []*judged
	for _, j := range dc.flows {
		if j.o365() != "" || isLocalAddr(j.Server().Addr()) || j.serverPort() == 5223 {
			continue
		}
		if h := j.pl.http(); h != nil && h.Method == "CONNECT" {
			continue // a proxy: via-proxy
		}
		switch {
		case j.Proto == protoTCP && (j.serverPort() == 443 || j.serverPort() == 5061) && j.name() != "" && dc.a.ep.AreaOfName(j.name()) == AreaSkype:
		case j.Proto == protoUDP && isSTUNPort(j.serverPort()):
		default:
			continue
		}
		if j.tcp.synSeen && !j.tcp.synAckSeen || j.Proto == protoUDP && !j.twoWay() {
			failFlows = append(failFlows, j)
		} else {
			infoFlows = append(infoFlows, j)
		}
	}
	var out []Finding
	for _, set := range []struct {
		js  []*judged
		sev Severity
	}{{failFlows, SeverityWarning}, {infoFlows, SeverityInfo}} {
		if len(set.js) == 0 {
			continue
		}
		b := newFinding(CodeNonO365Destination, set.sev)
		var parts []string
		for _, j := range set.js {
			b.add(j, j.First, j.firstFrame())
			if len(parts) == 6 {
				continue // the detail shows six
			}
			p := j.pairDesc()
			if j.DNSName != "" {
				p += fmt.Sprintf(" — DNS resolved %s to this address", j.DNSName)
			}
			parts = append(parts, p)
		}
		state := "answered"
		if set.sev != SeverityInfo {
			state = "failing"
		}
		detail := fmt.Sprintf("%s on Skype/Teams ports or names %s to addresses outside the Office 365 ranges (%s): %s. A proxy, a stale or hijacked DNS answer, or a third-party STUN server.",
			plural(len(set.js), "flow"), verb(len(set.js), "goes", "go"), state, listDescOf(parts, len(set.js), 6))
		rem := ""
		if set.sev != SeverityInfo {
			rem = "Make *.lync.com and *.teams.microsoft.com resolve to the Office 365 ranges (check the DNS resolver and any proxy), then " + lowerFirst(ruleTCP443Skype)
		}
		out = append(out, b.done("Office 365 traffic to addresses outside the Office 365 ranges", detail, rem))
	}
	return out
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]|0x20) + s[1:]
}

// hasUnreachable reports an ICMP destination-unreachable quoting the flow
// (icmp-unreachable explains such a flow; time-exceeded does not).
func (j *judged) hasUnreachable() bool {
	for _, h := range j.icmp() {
		if isICMPUnreachable(h) {
			return true
		}
	}
	return false
}
