package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
)

// detectContext is what every detector sees.
type detectContext struct {
	a     *Analyzer
	flows []*judged // in id order
	rep   *Report

	// claimed maps a flow id to the code of the finding that already
	// explains it, so one root cause yields one finding (a RST after 300 s
	// of silence is idle-cut, not also tcp-reset).
	claimed map[int]string

	o365Calls map[int]bool // calls with a flow to Office 365 (lazy)
	relayUDP  map[netip.Addr]relayUDPStats

	mu sync.Mutex // the report's warnings, written by detectors that fail
}

// relayUDPStats counts a client's UDP flows to the Office 365 relays
// (3478-3481) and edge (50000-59999).
type relayUDPStats struct {
	tried, failed int // to 3478-3481
	works         bool
}

// relayUDPOf returns the client's UDP relay statistics (computed once for
// all clients: detectors and calls ask per flow and per stream).
func (dc *detectContext) relayUDPOf(client netip.Addr) relayUDPStats {
	if dc.relayUDP == nil {
		// Values, not pointers: a gateway has tens of thousands of clients.
		dc.relayUDP = map[netip.Addr]relayUDPStats{}
		for _, j := range dc.flows {
			if j.Proto != protoUDP || dc.area(j) == "" {
				continue
			}
			sp := j.serverPort()
			relay, edge := isSTUNPort(sp), sp >= 50000 && sp <= 59999
			if !relay && !edge {
				continue
			}
			c := j.Client().Addr()
			st := dc.relayUDP[c]
			if relay {
				st.tried++
				if !j.twoWay() {
					st.failed++
				}
			}
			if j.twoWay() {
				st.works = true
			}
			dc.relayUDP[c] = st
		}
	}
	return dc.relayUDP[client]
}

// isO365Media reports a media flow that belongs to Skype/Teams: its server
// is Office 365, or its call has a flow to Office 365 (a peer-to-peer leg
// of a Teams call). RTP between SIP phones elsewhere is not our business.
func (dc *detectContext) isO365Media(j *judged) bool {
	if dc.area(j) != "" {
		return true
	}
	if j.Call == 0 {
		return false
	}
	if dc.o365Calls == nil {
		dc.findO365Calls()
	}
	return dc.o365Calls[int(j.Call)]
}

// findO365Calls notes the calls with a flow to Office 365 (isO365Media).
// Finish calls it once the calls are grouped, before detectors that read
// it run side by side.
func (dc *detectContext) findO365Calls() {
	dc.o365Calls = map[int]bool{}
	for _, k := range dc.flows {
		if k.Call != 0 && dc.area(k) != "" {
			dc.o365Calls[int(k.Call)] = true
		}
	}
}

// detector returns findings, one per root cause.
type detector func(dc *detectContext) []Finding

// detectors run in this order. Earlier, more specific detectors claim the
// flows they explain; later, more general ones skip claimed flows.
var detectors = slices.Concat(detectorsWithoutCalls, detectorsClaiming, detectorsIndependent)

// detectorsWithoutCalls read nothing groupCalls writes (a flow's call and
// connectivity, isO365Media, relayUDPOf): Finish runs them while the calls
// are grouped.
var detectorsWithoutCalls = []detector{
	detectCaptureTruncated,
	detectCaptureGaps,
	detectICMPUnreachable,
	detectEdgePortRange,
	detectTLSResetAfterHello,
	detectIdleCut,
	detectTCPRefused,
	detectTCPNoAnswer,
	detectTCPReset,
}

// detectorsClaiming run after the calls are grouped, in this order: each
// claims flows, or skips the ones claimed before it.
var detectorsClaiming = []detector{
	detectSourcePortOutOfRange,
	detectTURNAllocateFailed,
	detectUDPNoAnswer,
	detectMediaOverTCP,
	detectOneWayMedia,
	detectTLSIntercepted,
}

// detectorsIndependent also need the calls but neither claim flows nor
// read claims: Finish runs them beside detectorsClaiming.
var detectorsIndependent = []detector{
	detectMediaQuality,
	detectNATMappingChanged,
	detectViaProxy,
	detectNonO365Destination,
	detectDNSFailure,
}

func (dc *detectContext) claim(code string, ids []int) {
	if dc.claimed == nil {
		dc.claimed = map[int]string{}
	}
	for _, id := range ids {
		if _, ok := dc.claimed[id]; !ok {
			dc.claimed[id] = code
		}
	}
}

func (dc *detectContext) isClaimed(j *judged) bool {
	_, ok := dc.claimed[int(j.ID)]
	return ok
}

// captureEnd is the timestamp of the last packet (unix ns; 0 = none).
func (dc *detectContext) captureEnd() int64 { return dc.a.end }

// area returns the Office 365 service area of the flow's server: by
// address, else by the name the client used (SNI, DNS).
func (dc *detectContext) area(j *judged) string {
	if j.o365() != "" {
		return j.o365()
	}
	if n := j.name(); n != "" {
		return dc.a.ep.AreaOfName(n)
	}
	return ""
}

// name is the server name the client used: SNI, else the DNS name.
func (j *judged) name() string {
	if s := j.sni(); s != "" {
		return s
	}
	return j.DNSName
}

// serverDesc is "52.112.196.42:443 (sipdir.online.lync.com)".
func (j *judged) serverDesc() string {
	if n := j.name(); n != "" {
		return fmt.Sprintf("%s (%s)", j.Server(), n)
	}
	return j.Server().String()
}

// pairDesc is "192.168.1.10:49760 -> 52.112.196.42:443 (sipdir...)".
func (j *judged) pairDesc() string {
	return fmt.Sprintf("%s %s -> %s", strings.ToUpper(transportName(j.Proto)), j.Client(), j.serverDesc())
}

// twoWay reports whether both directions carried packets.
func (j *judged) twoWay() bool { return j.Dir[c2s].Packets > 0 && j.Dir[s2c].Packets > 0 }

// Rules as the article writes them: protocol, destination ports,
// destinations (REFERENCE.md "Outbound rules" and the endpoint list).
const (
	ruleTCP443Skype = "Allow outbound TCP 443 to *.lync.com, *.teams.microsoft.com and the Skype ranges 13.107.64.0/18, 52.112.0.0/14, 52.120.0.0/14"
	ruleUDPSkype    = "Allow outbound UDP 3478-3481 from clients to the Office 365 Skype ranges 13.107.64.0/18, 52.112.0.0/14, 52.120.0.0/14 (and 52.122.0.0/15, 2603:1063::/38)"
	ruleEdgeRange   = "Open destination ports UDP/TCP 50000-59999 (not just 50000-50059) to the Office 365 edge"
	ruleEdgeMedia   = "Allow outbound UDP and TCP 50000-59999 from client ports 50000-50059 to the Office 365 edge (Skype ranges 13.107.64.0/18, 52.112.0.0/14, 52.120.0.0/14)"
	ruleIdentity    = "Allow outbound TCP 443 to *.microsoftonline.com, *.microsoftonline-p.com, *.onmicrosoft.com (identity ranges 20.190.128.0/18, 40.126.0.0/18)"
	ruleExchange    = "Allow outbound TCP 443 to *.outlook.com and outlook.office365.com (Exchange Online ranges, e.g. 40.96.0.0/13, 52.96.0.0/14, 13.107.128.0/22)"
	ruleSharePoint  = "Allow outbound TCP 443 to *.sharepoint.com (SharePoint Online ranges 13.107.136.0/22, 40.108.128.0/17, 52.104.0.0/14, 104.146.128.0/17, 150.171.40.0/22)"
	rulePush        = "Allow outbound TCP 5223 from mobile clients to Apple's push service 17.0.0.0/8"
	ruleCRL         = "Allow outbound TCP 80 to *.verisign.com, *.verisign.net, *.public-trust.com, sa.symcb.com (certificate revocation checks)"
	ruleIdle        = "Set the proxy/firewall idle or HTTPS/SSL timeout for these connections to 8 hours"
	ruleBypassTLS   = "Bypass TLS inspection / the proxy for *.lync.com, *.teams.microsoft.com, *.microsoftonline.com, *.microsoftonline-p.com, *.onmicrosoft.com, *.sharepoint.com, *.outlook.com (no deep packet inspection of these TLS flows)"
	ruleBypassProxy = "Bypass the HTTP proxy for *.lync.com, *.teams.microsoft.com, *.microsoftonline.com and the Skype ranges: allow them directly on TCP 443 (media cannot use the proxy)"
	ruleQoS         = "Give media priority on the path (DSCP 46 for audio from client ports 50000-50019, 34 for video 50020-50039, 18 for sharing 50040-50059) and keep media off proxies and VPN tunnels"
	rulePortRanges  = "Set the clients' media port ranges to audio 50000-50019, video 50020-50039, desktop sharing 50040-50059 (the ranges the firewall and QoS rules match)"
	ruleNATPersist  = "Keep the same public address and port for each media flow for the whole call (UDP session persistence on the firewall/NAT; no per-session NAT pool rotation)"
	ruleCapture     = "Capture again on the client itself (or a tap seeing both directions) with full packets: sfbtrace capture -s 0 / tcpdump -s 0"
)

// destRule says which article rule covers a flow's destination and whether
// that destination belongs to the service at all (Office 365, or Apple push
// for mobile clients). rule is "" outside the article's scope.
func (dc *detectContext) destRule(j *judged) (rule string, inScope bool) {
	area := dc.area(j)
	sp := j.serverPort()
	switch j.Proto {
	case protoTCP:
		if sp == 5223 {
			return rulePush, true
		}
		if sp >= 50000 && sp <= 59999 && area == AreaSkype {
			return ruleEdgeMedia, true
		}
		if sp == 80 && isCRLName(j.name()) {
			return ruleCRL, true
		}
		switch area {
		case AreaSkype:
			return ruleTCP443Skype, true
		case AreaCommon:
			if isCRLName(j.name()) {
				return ruleCRL, true
			}
			return ruleIdentity, true
		case AreaExchange:
			return ruleExchange, true
		case AreaSharePoint:
			return ruleSharePoint, true
		}
	case protoUDP:
		if area == AreaSkype && sp >= 50000 && sp <= 59999 {
			return ruleEdgeMedia, true
		}
		if area != "" && sp >= 3478 && sp <= 3481 {
			return ruleUDPSkype, true
		}
	}
	return "", false
}

func isCRLName(n string) bool {
	n = strings.ToLower(n)
	for _, s := range []string{".verisign.com", ".verisign.net", ".public-trust.com"} {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return n == "sa.symcb.com"
}

// isLocalAddr reports addresses that are not on the Internet: private,
// CGNAT, link-local, loopback, multicast, broadcast, unspecified.
func isLocalAddr(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return true
	}
	if a.Is4() {
		b := a.As4()
		if b == [4]byte{255, 255, 255, 255} || b[3] == 255 {
			return true // limited or (likely) directed broadcast
		}
		if b[0] == 100 && b[1]&0xC0 == 64 { // 100.64.0.0/10, RFC 6598 shared address space
			return true
		}
	}
	return false
}

// findingBuilder collects the flows of one root cause.
type findingBuilder struct {
	f     Finding
	first int64
	seen  map[int]bool
}

func newFinding(code string, sev Severity) *findingBuilder {
	return &findingBuilder{f: Finding{Code: code, Severity: sev, Flows: []int{}, Frames: []int64{}}, seen: map[int]bool{}}
}

// add records an affected flow, the frames to look at and when it started.
func (b *findingBuilder) add(j *judged, ts int64, frames ...int64) {
	if j != nil && !b.seen[int(j.ID)] {
		b.seen[int(j.ID)] = true
		b.f.Flows = append(b.f.Flows, int(j.ID))
		b.f.MoreFlows += j.foldedFlows()
	}
	b.frames(frames...)
	if ts != 0 && (b.first == 0 || ts < b.first) {
		b.first = ts
	}
}

func (b *findingBuilder) frames(frames ...int64) {
	for _, fr := range frames {
		if fr > 0 {
			b.f.Frames = append(b.f.Frames, fr)
		}
	}
}

// count is the number of flows the finding covers, folded look-alikes
// included.
func (b *findingBuilder) count() int { return len(b.f.Flows) + int(b.f.MoreFlows) }

// countFlows is len(js) with the look-alikes folded into them.
func countFlows(js []*judged) int {
	n := len(js)
	for _, j := range js {
		n += int(j.foldedFlows())
	}
	return n
}

func (b *findingBuilder) empty() bool { return len(b.f.Flows) == 0 && len(b.f.Frames) == 0 }

func (b *findingBuilder) done(title, detail, rem string) Finding {
	f := b.f
	f.Title, f.Detail, f.Remediation = title, detail, rem
	sort.Ints(f.Flows)
	sort.Slice(f.Frames, func(i, k int) bool { return f.Frames[i] < f.Frames[k] })
	out := f.Frames[:0]
	for i, fr := range f.Frames {
		if i == 0 || fr != f.Frames[i-1] {
			out = append(out, fr)
		}
	}
	f.Frames = out
	f.FirstSeen = Time{nsTime(b.first)}
	return f
}

// groupedFindings keeps one builder per key (a rule, a device), in first
// use order, so each root cause becomes one finding.
type groupedFindings struct {
	keys []string
	m    map[string]*findingBuilder
}

func (g *groupedFindings) get(key, code string, sev Severity) *findingBuilder {
	if g.m == nil {
		g.m = map[string]*findingBuilder{}
	}
	b := g.m[key]
	if b == nil {
		b = newFinding(code, sev)
		g.m[key] = b
		g.keys = append(g.keys, key)
	}
	return b
}

// distinct counts distinct strings.
func distinct(s []string) int {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return len(m)
}

// plural is "1 flow" / "3 flows".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	if strings.HasSuffix(word, "s") || strings.HasSuffix(word, "x") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	if strings.HasSuffix(word, "y") && !strings.HasSuffix(word, "ay") {
		return fmt.Sprintf("%d %sies", n, word[:len(word)-1])
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// verb picks the singular or plural form for n.
func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listDesc joins up to max items and says how many more.
func listDesc(items []string, max int) string { return listDescOf(items, len(items), max) }

// listDescOf is listDesc of n items of which the first (up to max) are
// given: the rest need not be formatted.
func listDescOf(items []string, n, max int) string {
	if n <= max {
		return strings.Join(items[:n], ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:max], ", "), n-max)
}

var severityRank = map[Severity]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if severityRank[fs[i].Severity] != severityRank[fs[j].Severity] {
			return severityRank[fs[i].Severity] < severityRank[fs[j].Severity]
		}
		if !fs[i].FirstSeen.Equal(fs[j].FirstSeen.Time) {
			return fs[i].FirstSeen.Before(fs[j].FirstSeen.Time)
		}
		return fs[i].Code < fs[j].Code
	})
}

// remediation is the deduplicated list of rules to add or change, in the
// order of the findings (errors first). Info findings need no rule, and
// advice about the capture itself is not a firewall rule: it stays in its
// finding.
func remediation(fs []Finding) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, f := range fs {
		if f.Remediation == "" || f.Severity == SeverityInfo || f.Code == CodeCaptureTruncated || f.Code == CodeCaptureGaps {
			continue
		}
		if !seen[f.Remediation] {
			seen[f.Remediation] = true
			out = append(out, f.Remediation)
		}
	}
	return out
}
