package analyze

import (
	"strings"
	"sync/atomic"
)

// Classes of flows.
const (
	ClassSIP          = "sip"
	ClassPSOM         = "psom"
	ClassHTTPS        = "https"
	ClassAudio        = "audio"
	ClassVideo        = "video"
	ClassDesktopShare = "desktop-share"
	ClassSTUN         = "stun"
	ClassPush         = "push"
	ClassDNS          = "dns"
	ClassHTTP         = "http"
	ClassOther        = "other"
)

// Evidence signals.
const (
	EvPort      = "port"
	EvSTUN      = "stun"
	EvMSTURN    = "ms-turn"
	EvRTP       = "rtp"
	EvRTCP      = "rtcp"
	EvSNI       = "sni"
	EvDNS       = "dns"
	EvO365Range = "o365-range"
	EvHeuristic = "heuristic"
	EvSIP       = "sip"
	EvTLS       = "tls"
)

// evidenceBits is a set of the evidence signals. Its list is shared by
// every flow with the same set, in one fixed order (port, name, range, then
// payload, heuristic last): a capture has a handful of sets and a hundred
// thousand flows.
type evidenceBits uint16

const (
	evPort evidenceBits = 1 << iota
	evSNI
	evDNS
	evO365Range
	evSTUN
	evMSTURN
	evTLS
	evRTP
	evRTCP
	evSIP
	evHeuristic
	evAll
)

var evidenceNames = [...]string{EvPort, EvSNI, EvDNS, EvO365Range, EvSTUN, EvMSTURN, EvTLS, EvRTP, EvRTCP, EvSIP, EvHeuristic}

// evidenceLists caches each set's list once built; two goroutines building
// the same set store equal lists, so either is fine.
var evidenceLists [evAll]atomic.Pointer[[]string]

// list returns the set's names in the fixed order (shared: do not modify).
func (b evidenceBits) list() []string {
	if p := evidenceLists[b].Load(); p != nil {
		return *p
	}
	l := []string{}
	for i, n := range evidenceNames {
		if b&(1<<i) != 0 {
			l = append(l, n)
		}
	}
	evidenceLists[b].Store(&l)
	return l
}

// mediaClassForPort gives the modality of a client media source port
// (REFERENCE.md port table): audio 50000-50019, video 50020-50039,
// desktop sharing 50040-50059.
func mediaClassForPort(p uint16) string {
	switch {
	case p >= 50000 && p <= 50019:
		return ClassAudio
	case p >= 50020 && p <= 50039:
		return ClassVideo
	case p >= 50040 && p <= 50059:
		return ClassDesktopShare
	}
	return ""
}

// isMediaClass reports whether c is audio, video or desktop-share.
func isMediaClass(c string) bool {
	return c == ClassAudio || c == ClassVideo || c == ClassDesktopShare
}

// namePatterns maps Office 365 server names to classes. Sources: the
// article's port table (SIP, PSOM and HTTPS all on TCP 443), Microsoft's
// endpoint list (ids 12, 13, 22, 27, 56 and the Exchange/SharePoint areas)
// and the relay names of REFERENCE.md ("Media over TCP 443"). First match wins.
var namePatterns = []struct {
	match func(string) bool
	class string // "media" = relay: the client port decides the modality
}{
	{func(n string) bool {
		return strings.HasSuffix(n, ".tr.teams.microsoft.com") || strings.HasSuffix(n, ".relay.teams.microsoft.com") ||
			n == "tr.teams.microsoft.com" || n == "turn.teams.microsoft.com" || n == "relay.teams.microsoft.com"
	}, "media"},
	{func(n string) bool {
		return strings.HasSuffix(n, ".lync.com") && (strings.HasPrefix(n, "sipdir.") || strings.HasPrefix(n, "sip.") ||
			strings.HasPrefix(n, "sippool") || strings.HasPrefix(n, "sipfed") || strings.Contains(n, ".sip") || strings.HasPrefix(n, "sip"))
	}, ClassSIP},
	{func(n string) bool {
		return strings.HasSuffix(n, ".lync.com") && (strings.HasPrefix(n, "webpool") || strings.Contains(n, "conf") ||
			strings.Contains(n, "meet") || strings.Contains(n, "psom"))
	}, ClassPSOM},
}

// classForName returns the class a server name implies, or "".
func classForName(name string) string {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	for _, p := range namePatterns {
		if p.match(n) {
			return p.class
		}
	}
	return ""
}

// classifyByPort is the first classification, exactly per the port table.
func classifyByPort(f *Flow) string {
	cp, sp := f.clientPort(), f.serverPort()
	if c := mediaClassForPort(cp); c != "" {
		return c
	}
	switch f.Proto {
	case protoTCP:
		switch sp {
		case 443:
			return ClassHTTPS
		case 5223:
			return ClassPush
		case 80:
			return ClassHTTP
		case 53:
			return ClassDNS
		case 5060, 5061:
			return ClassSIP
		}
	case protoUDP:
		switch {
		case sp >= 3478 && sp <= 3481:
			return ClassSTUN
		case sp == 53:
			return ClassDNS
		case sp == 5060:
			return ClassSIP
		}
	}
	return ClassOther
}
