package analyze

import (
	"fmt"
	"net/netip"

	"strings"
	"time"
)

// Thresholds of the payload detectors.
const (
	// oneWayMin: media in one direction only for longer than this is
	// one-way media ("longer than a few seconds", issue 4); both sides of a
	// healthy call start sending within a second of the answer.
	oneWayMin = 4 * time.Second
	// oneWayMinPackets: without RTP facts, a media flow needs this many
	// packets one way (4 s at 50 packets/s would be 200) and at most
	// oneWayMaxBack packets back (STUN responses) to count as one-way.
	oneWayMinPackets = 100
	oneWayMaxBack    = 10

	// Microsoft's network targets for media (REFERENCE.md, "Microsoft's
	// network targets"): loss < 1 % and jitter < 30 ms in any 15 s,
	// reorder < 0.05 %.
	qualityMaxLossPct    = 1.0
	qualityMaxJitterMs   = 30.0
	qualityMaxReorderPct = 0.05
	// qualityMinPackets: a stream needs this many packets before its
	// percentages mean anything (a 1 % threshold needs at least 100).
	qualityMinPackets = 100
)

// modalityOfPT maps the RTP payload types Lync/SfB/Teams use to a
// modality (REFERENCE.md, "RTP payload types seen").
func modalityOfPT(pt uint8) string {
	switch pt {
	case 104, 103, 114, 115, 117, 9, 111, 112, 0, 8, 13, 118, 97, 101:
		return ClassAudio
	case 122, 121, 123:
		return ClassVideo
	case 127:
		return ClassDesktopShare
	}
	return ""
}

// rtpModality returns the modality of a flow's RTP streams ("" unknown).
func rtpModality(r *rtpFacts) string {
	if r == nil {
		return ""
	}
	count := map[string]int64{}
	for _, s := range r.Streams {
		if m := modalityOfPT(s.PayloadType); m != "" {
			count[m] += s.Packets
		}
	}
	best, n := "", int64(0)
	for _, m := range []string{ClassAudio, ClassVideo, ClassDesktopShare} {
		if count[m] > n {
			best, n = m, count[m]
		}
	}
	return best
}

// rtpPerDir sums RTP packets per direction; a direction that carries RTP
// takes the flow's times for that direction (RTP dominates a media flow's
// packets, and the stream trackers keep no times of their own).
func rtpPerDir(r *rtpFacts, j *judged) (pkts [2]int64, first, last [2]int64, frame [2]int64) {
	for _, s := range r.Streams {
		if s.Dir == c2s || s.Dir == s2c {
			pkts[s.Dir] += s.Packets
		}
	}
	for d := c2s; d <= s2c; d++ {
		if pkts[d] > 0 {
			first[d], last[d], frame[d] = j.Dir[d].First, j.Dir[d].Last, j.Dir[d].FirstFrame
		}
	}
	return
}

func dirName(d int) string {
	if d == c2s {
		return "client -> server"
	}
	return "server -> client"
}

// detectOneWayMedia: RTP in one direction only for longer than oneWayMin.
func detectOneWayMedia(dc *detectContext) []Finding {
	b := newFinding(CodeOneWayMedia, SeverityError)
	var parts []string
	for _, j := range dc.flows {
		if j.Proto != protoUDP || dc.isClaimed(j) || !dc.isO365Media(j) {
			continue
		}
		if r := j.pl.rtp(); r != nil && len(r.Streams) > 0 {
			pkts, first, last, frame := rtpPerDir(r, j)
			for d := c2s; d <= s2c; d++ {
				o := 1 - d
				if pkts[d] == 0 || pkts[o] > 0 || time.Duration(last[d]-first[d]) < oneWayMin {
					continue
				}
				b.add(j, first[d], frame[d])
				parts = append(parts, fmt.Sprintf("%s: RTP %s %d packets over %.1f s, %s 0",
					j.pairDesc(), dirName(d), pkts[d], float64(last[d]-first[d])/1e9, dirName(o)))
			}
			continue
		}
		// Without RTP facts: a media flow with sustained traffic one way
		// and only a handful of packets (STUN responses) back.
		if _, ok := j.localMediaEnd(); !ok || !isMediaClass(j.Class) {
			continue
		}
		for d := c2s; d <= s2c; d++ {
			o := 1 - d
			ds := &j.Dir[d]
			if ds.Packets < oneWayMinPackets || j.Dir[o].Packets > oneWayMaxBack || time.Duration(ds.Last-ds.First) < oneWayMin {
				continue
			}
			if j.Dir[o].Packets > 0 && j.Dir[o].Last > ds.Last-int64(oneWayMin) {
				continue // the other side kept answering to the end
			}
			b.add(j, ds.First, ds.FirstFrame)
			parts = append(parts, fmt.Sprintf("%s: %d packets %s over %.1f s, %d %s (signalling only)",
				j.pairDesc(), ds.Packets, dirName(d), float64(ds.Last-ds.First)/1e9, j.Dir[o].Packets, dirName(o)))
		}
	}
	if b.empty() {
		return nil
	}
	dc.claim(CodeOneWayMedia, b.f.Flows)
	detail := fmt.Sprintf("Media flows in one direction only for longer than %.0f s: %s. Connectivity checks passed, so the firewall lets signalling/STUN through but drops the media in the other direction (or its UDP mapping expired).",
		oneWayMin.Seconds(), listDesc(parts, 5))
	return []Finding{b.done("One-way media", detail, ruleUDPSkype)}
}

// detectTURNAllocateFailed: a TURN Allocate answered by an error other than
// the first 401 challenge, or never answered after the challenge.
func detectTURNAllocateFailed(dc *detectContext) []Finding {
	b := newFinding(CodeTURNAllocateFailed, SeverityError)
	var parts []string
	unansweredAfter := 0
	for _, j := range dc.flows {
		st := j.pl.stun()
		if st == nil || dc.isClaimed(j) {
			continue
		}
		var bad []string
		for i, code := range st.allocErrors() {
			if code == 401 && i == 0 {
				continue // the normal authentication challenge
			}
			bad = append(bad, stunErrorDesc(code, i))
		}
		if st.AllocUnansweredAfterChallenge {
			bad = append(bad, "the authenticated Allocate after the 401 challenge was never answered")
			unansweredAfter++
		}
		if len(bad) == 0 || st.AllocSuccess > 0 && !st.AllocUnansweredAfterChallenge && onlyRetryable(st.allocErrors()) {
			continue
		}
		b.add(j, j.First, st.FirstRequestFrame)
		parts = append(parts, fmt.Sprintf("%s: %s", j.pairDesc(), strings.Join(bad, "; ")))
	}
	if b.empty() {
		return nil
	}
	dc.claim(CodeTURNAllocateFailed, b.f.Flows)
	detail := fmt.Sprintf("%s could not allocate a relay: %s. (The first 401 answer is the normal challenge and is not counted.)",
		plural(b.count(), "flow"), listDesc(parts, 5))
	rem := ruleUDPSkype
	if unansweredAfter > 0 {
		detail += " An Allocate that is answered with 401 but not once it carries credentials points to a device that inspects or size-limits STUN (larger packets with MESSAGE-INTEGRITY)."
		rem = ruleUDPSkype + " without inspection of the STUN/TURN traffic"
	}
	return []Finding{b.done("TURN allocation on the Office 365 relay failed", detail, rem)}
}

// onlyRetryable: 401/438 (stale nonce) are retried by the client and
// followed by a success.
func onlyRetryable(codes []int) bool {
	for _, c := range codes {
		if c != 401 && c != 438 {
			return false
		}
	}
	return true
}

func stunErrorDesc(code, i int) string {
	name := map[int]string{300: "Try Alternate", 400: "Bad Request", 401: "Unauthorized (after credentials)", 403: "Forbidden",
		420: "Unknown Attribute", 437: "Allocation Mismatch", 438: "Stale Nonce", 440: "Address Family not Supported",
		441: "Wrong Credentials", 442: "Unsupported Transport Protocol", 486: "Allocation Quota Reached", 500: "Server Error",
		508: "Insufficient Capacity"}[code]
	if name == "" {
		name = "error"
	}
	return fmt.Sprintf("Allocate error %d %s", code, name)
}

// detectSourcePortOutOfRange: media from client source ports outside
// 50000-50059 (warning: rules and QoS miss it), or a modality from another
// modality's sub-range (info). Needs RTP facts to know it is media.
func detectSourcePortOutOfRange(dc *detectContext) []Finding {
	blocked := newFinding(CodeSourcePortOutOfRange, SeverityError)
	out := newFinding(CodeSourcePortOutOfRange, SeverityWarning)
	sub := newFinding(CodeSourcePortOutOfRange, SeverityInfo)
	var blockedParts, outParts, subParts []string
	var inRangeOK []string
	for _, j := range dc.flows {
		if j.Proto != protoUDP && !dc.isTCPMedia(j) {
			continue
		}
		r := j.pl.rtp()
		m := rtpModality(r)
		if m == "" || !dc.isO365Media(j) {
			continue
		}
		// The client side must be the local one sending media.
		if !isLocalAddr(j.Client().Addr()) && isLocalAddr(j.Server().Addr()) {
			continue
		}
		port := j.clientPort()
		pm := mediaClassForPort(port)
		pkts, first, _, frame := rtpPerDir(r, j)
		if pkts[c2s] == 0 {
			continue
		}
		switch {
		case pm == "" && dc.failed(j):
			blocked.add(j, first[c2s], frame[c2s])
			blockedParts = append(blockedParts, fmt.Sprintf("%s from %s -> %s (%d packets, no answer)", m, j.Client(), j.serverDesc(), j.Dir[c2s].Packets))
		case pm == "":
			out.add(j, first[c2s], frame[c2s])
			outParts = append(outParts, fmt.Sprintf("%s from %s (%s, RTP payload type %s)", m, j.Client(), j.Server(), ptList(r)))
		case pm != m:
			sub.add(j, first[c2s], frame[c2s])
			subParts = append(subParts, fmt.Sprintf("%s from %s, in the %s sub-range %s (%s -> %s)", m, j.Client(), pm, subRange(pm), j.Client(), j.Server()))
		}
	}
	for _, j := range dc.flows {
		if j.Proto == protoUDP && mediaClassForPort(j.clientPort()) != "" && j.twoWay() && dc.area(j) != "" {
			inRangeOK = append(inRangeOK, j.Client().String())
		}
	}
	var fs []Finding
	if !blocked.empty() {
		detail := fmt.Sprintf("%s %s media from source ports outside the client media range 50000-50059 and %s no answer: %s.",
			plural(len(blocked.f.Flows), "flow"), verb(len(blocked.f.Flows), "sends", "send"), verb(len(blocked.f.Flows), "gets", "get"), listDesc(blockedParts, 5))
		if len(inRangeOK) > 0 {
			detail += fmt.Sprintf(" Media from %s (inside the range) is answered: the firewall rule only covers source ports 50000-50059.", listDesc(uniq(inRangeOK), 3))
		}
		fs = append(fs, blocked.done("Media from client ports outside 50000-50059 is blocked", detail, rulePortRanges))
		dc.claim(CodeSourcePortOutOfRange, blocked.f.Flows)
	}
	if !out.empty() {
		fs = append(fs, out.done("Media from client ports outside 50000-50059",
			fmt.Sprintf("%s %s media from source ports outside the client media range 50000-50059: %s. It works here, but port-based firewall rules and QoS policies for 50000-50059 do not match it.",
				plural(len(out.f.Flows), "flow"), verb(len(out.f.Flows), "sends", "send"), listDesc(outParts, 5)), rulePortRanges))
	}
	if !sub.empty() {
		fs = append(fs, sub.done("Media from another modality's port sub-range",
			fmt.Sprintf("%s: %s. Audio is 50000-50019, video 50020-50039, sharing 50040-50059: QoS markings by port give this stream the wrong class.",
				plural(len(sub.f.Flows), "flow"), listDesc(subParts, 5)), rulePortRanges))
	}
	return fs
}

func subRange(m string) string {
	switch m {
	case ClassAudio:
		return "50000-50019"
	case ClassVideo:
		return "50020-50039"
	}
	return "50040-50059"
}

func ptList(r *rtpFacts) string {
	var s []string
	seen := map[uint8]bool{}
	for _, st := range r.Streams {
		if !seen[st.PayloadType] {
			seen[st.PayloadType] = true
			s = append(s, fmt.Sprint(st.PayloadType))
		}
	}
	return strings.Join(s, "/")
}

// detectMediaQuality: a stream breaks Microsoft's targets.
func detectMediaQuality(dc *detectContext) []Finding {
	b := newFinding(CodeMediaQuality, SeverityWarning)
	var parts []string
	for _, j := range dc.flows {
		r := j.pl.rtp()
		if r == nil || !dc.isO365Media(j) {
			continue
		}
		for _, s := range r.Streams {
			if s.Packets+s.Lost < qualityMinPackets {
				continue
			}
			var bad []string
			// A window cannot lose more than the whole stream lost.
			if s.WorstLossPct > qualityMaxLossPct && s.Lost > 0 {
				bad = append(bad, fmt.Sprintf("loss %.1f %% (target < 1 %%)", s.WorstLossPct))
			}
			if s.WorstJitterMs > qualityMaxJitterMs {
				bad = append(bad, fmt.Sprintf("jitter %.1f ms (target < 30 ms)", s.WorstJitterMs))
			}
			if ro := 100 * float64(s.Reordered) / float64(s.Packets); ro > qualityMaxReorderPct {
				bad = append(bad, fmt.Sprintf("reorder %.2f %% (target < 0.05 %%)", ro))
			}
			if len(bad) == 0 {
				continue
			}
			b.add(j, j.Dir[s.Dir].First, j.Dir[s.Dir].FirstFrame)
			parts = append(parts, fmt.Sprintf("%s SSRC 0x%08X PT %d %s: %s in its worst 15 s window (whole stream: %d packets, %d lost)",
				j.pairDesc(), s.SSRC, s.PayloadType, dirName(int(s.Dir)), strings.Join(bad, ", "), s.Packets, s.Lost))
		}
	}
	if b.empty() {
		return nil
	}
	detail := fmt.Sprintf("%s %s Microsoft's network targets (loss < 1 %% and jitter < 30 ms in any 15 s, reorder < 0.05 %%): %s.",
		plural(len(parts), "media stream"), verb(len(parts), "breaks", "break"), listDesc(parts, 4))
	return []Finding{b.done("Media quality below Microsoft's targets", detail, ruleQoS)}
}

// detectNATMappingChanged: the public address/port the relay sees for one
// media flow changes during the call.
func detectNATMappingChanged(dc *detectContext) []Finding {
	b := newFinding(CodeNATMappingChanged, SeverityWarning)
	var parts []string
	for _, j := range dc.flows {
		st := j.pl.stun()
		if st == nil || len(st.Mapped) < 2 {
			continue
		}
		// MS-TURN's MAPPED-ADDRESS in an Allocate success is the relayed
		// address: not a NAT mapping. Keep addresses the client's NAT gave.
		var s []string
		for _, m := range st.Mapped {
			if m.Addr() != j.Server().Addr() && !contains(st.relayed(), m) {
				s = append(s, m.String())
			}
		}
		if len(s) < 2 {
			continue
		}
		// The tracker keeps no frame per mapping: point at the flow's first
		// STUN request and its first answer.
		b.add(j, j.First, st.FirstRequestFrame, j.Dir[s2c].FirstFrame)
		parts = append(parts, fmt.Sprintf("%s: XOR-MAPPED-ADDRESS %s", j.pairDesc(), strings.Join(s, " -> ")))
	}
	if b.empty() {
		return nil
	}
	detail := fmt.Sprintf("The public address/port the relay sees for the same media flow changed during the call: %s. The firewall/NAT did not keep the UDP mapping; the call drops or re-negotiates (Microsoft asks for session persistence).",
		listDesc(parts, 5))
	return []Finding{b.done("NAT mapping of a media flow changed mid-call", detail, ruleNATPersist)}
}

func contains(s []netip.AddrPort, v netip.AddrPort) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// microsoftIssuers are the CAs that sign Office 365 server certificates
// (Microsoft's own issuing CAs; DigiCert, Baltimore CyberTrust and GlobalSign
// roots/intermediates used for *.lync.com, *.teams.microsoft.com and
// login.microsoftonline.com; VeriSign/Symantec, which the article allows for
// revocation).
var microsoftIssuers = []string{"microsoft", "digicert", "baltimore", "cybertrust", "globalsign", "verisign", "symantec"}

func isMicrosoftIssuer(issuer string) bool {
	s := strings.ToLower(issuer)
	for _, m := range microsoftIssuers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// detectTLSIntercepted: an Office 365 server name answered by a certificate
// whose issuer is not one of Microsoft's CAs (visible in TLS 1.2).
func detectTLSIntercepted(dc *detectContext) []Finding {
	b := newFinding(CodeTLSIntercepted, SeverityError)
	var parts, issuers []string
	for _, j := range dc.flows {
		tl := j.pl.tls()
		if tl == nil || tl.CertIssuer == "" {
			continue
		}
		name := tl.SNI
		if name == "" {
			name = j.name()
		}
		if name == "" || dc.a.ep.AreaOfName(name) == "" && !isCRLName(name) {
			continue
		}
		if isMicrosoftIssuer(tl.CertIssuer) {
			continue
		}
		b.add(j, j.First, j.tcp.helloFrame)
		issuers = append(issuers, tl.CertIssuer)
		parts = append(parts, fmt.Sprintf("%s -> %s (SNI %s): certificate %q issued by %q", j.Client(), j.Server(), name, tl.CertSubject, tl.CertIssuer))
	}
	if b.empty() {
		return nil
	}
	dc.claim(CodeTLSIntercepted, b.f.Flows)
	detail := fmt.Sprintf("%s to Office 365 names got a certificate not issued by Microsoft's CAs: %s. A TLS-inspecting proxy/firewall re-signs these connections; Skype for Business and Teams fail or break under inspection (the article: no deep packet inspection of these flows).",
		plural(b.count(), "connection"), listDesc(parts, 4))
	return []Finding{b.done(fmt.Sprintf("TLS to Office 365 intercepted (issuer %s)", listDesc(uniq(issuers), 2)), detail, ruleBypassTLS)}
}

// detectViaProxy: Office 365 reached through an HTTP proxy (CONNECT).
func detectViaProxy(dc *detectContext) []Finding {
	b := newFinding(CodeViaProxy, SeverityWarning)
	var parts []string
	for _, j := range dc.flows {
		h := j.pl.http()
		if h == nil || !strings.EqualFold(h.Method, "CONNECT") || h.Host == "" {
			continue
		}
		if dc.a.ep.AreaOfName(h.Host) == "" {
			continue
		}
		b.add(j, j.First, h.RequestFrame, h.ResponseFrame)
		st := "no answer seen"
		if h.Status != 0 {
			st = fmt.Sprintf("answered %d", h.Status)
		}
		parts = append(parts, fmt.Sprintf("%s -> proxy %s: CONNECT %s:%d (%s)", j.Client(), j.Server(), h.Host, h.Port, st))
	}
	if b.empty() {
		return nil
	}
	detail := fmt.Sprintf("%s to Office 365 %s through an HTTP proxy: %s. The article and Microsoft ask to bypass proxies for these services; media cannot go through a proxy at all.",
		plural(b.count(), "connection"), verb(b.count(), "goes", "go"), listDesc(parts, 5))
	return []Finding{b.done("Office 365 traffic tunnelled through an HTTP proxy", detail, ruleBypassProxy)}
}

// neededName reports names the service needs (sign-in discovery, Skype,
// Teams, identity, Exchange, SharePoint), per the article's URL list.
func (dc *detectContext) neededName(n string) bool {
	n = strings.ToLower(strings.TrimSuffix(n, "."))
	// Skype for Business discovery records. Not "sip." or "_sip._tls.":
	// every SIP provider uses those.
	for _, p := range []string{"lyncdiscover.", "lyncdiscoverinternal.", "_sipfederationtls._tcp."} {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	if dc.a.ep.AreaOfName(n) != "" {
		return true
	}
	for _, s := range []string{".lync.com", ".teams.microsoft.com", ".microsoftonline.com", ".microsoftonline-p.com", ".onmicrosoft.com",
		".sharepoint.com", ".outlook.com", ".office365.com", ".skype.com", ".skypeforbusiness.com", ".office.com", ".office.net"} {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// detectDNSFailure: names the service needs that do not resolve. One
// finding for missing records (NXDOMAIN), one for a resolver that fails.
func detectDNSFailure(dc *detectContext) []Finding {
	var missing, broken []dnsFailure
	for _, d := range dc.a.dns.failures() {
		if !dc.neededName(d.Name) {
			continue
		}
		if d.Rcode == "NXDOMAIN" {
			missing = append(missing, d)
		} else {
			broken = append(broken, d)
		}
	}
	// DNS flows by the frame of their first query and first answer.
	dnsByFrame := map[int64]*judged{}
	if len(missing)+len(broken) > 0 {
		for _, j := range dc.flows {
			if j.serverPort() == 53 {
				dnsByFrame[j.Dir[c2s].FirstFrame] = j
				dnsByFrame[j.Dir[s2c].FirstFrame] = j
			}
		}
		delete(dnsByFrame, 0)
	}
	var out []Finding
	mk := func(ds []dnsFailure, title string, why func(n int) string, rem string) {
		if len(ds) == 0 {
			return
		}
		b := newFinding(CodeDNSFailure, SeverityError)
		var parts []string
		for _, d := range ds {
			b.add(nil, d.FirstSeen, d.Frames...)
			for _, fr := range d.Frames {
				if j := dnsByFrame[fr]; j != nil {
					b.add(j, 0)
				}
			}
			parts = append(parts, fmt.Sprintf("%s: %s (%s)", d.Name, d.Rcode, plural(max(d.Count, 1), "query")))
		}
		out = append(out, b.done(title, fmt.Sprintf("%s %s: %s.", plural(len(ds), "name"), why(len(ds)), listDesc(parts, 6)), rem))
	}
	mk(missing, "DNS names the service needs do not exist (NXDOMAIN)", func(n int) string { return "the client looked up " + verb(n, "does", "do") + " not exist" },
		"Publish the Skype for Business Online DNS records: lyncdiscover.<domain> CNAME webdir.online.lync.com and sip.<domain> CNAME sipdir.online.lync.com (and let the resolver answer *.lync.com)")
	mk(broken, "DNS lookups for the service fail (SERVFAIL or no answer)", func(int) string { return "that sign-in and calls need did not resolve" },
		"Let the DNS resolver resolve *.lync.com, *.teams.microsoft.com, *.microsoftonline.com and *.outlook.com (allow its outbound UDP/TCP 53)")
	return out
}
