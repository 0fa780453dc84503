package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Microsoft's connectivity labels for a media stream (QoE reports); the
// JSON says "TCP" for HTTP-PROXY/TCP (issue 3).
const (
	ConnDirect = "DIRECT"
	ConnRelay  = "RELAY"
	ConnTCP    = "TCP"
	ConnFailed = "FAILED"
)

// callGap: media flows of one client whose lifetimes overlap or lie closer
// than this belong to one call. ICE gathers and checks every candidate of
// every stream within the first seconds of a call, so the flows of a call
// overlap; two calls of one client are separated by at least the time to
// hang up and dial.
const callGap = 5 * time.Second

// mediaEnd returns the local media socket of a media flow and its
// modality, or ok=false for flows that are not media.
func (dc *detectContext) mediaEnd(j *judged) (local netip.AddrPort, modality string, ok bool) {
	local, ok = j.localMediaEnd()
	if !ok {
		switch {
		case dc.isTCPMedia(j):
			local, ok = j.Client(), true
		case j.pl.rtp() != nil:
			local, ok = j.Client(), true
			if isLocalAddr(j.Server().Addr()) && !isLocalAddr(j.Client().Addr()) {
				local = j.Server()
			}
		default:
			return local, "", false
		}
	}
	return local, flowModality(j, local), true
}

// flowModality: the RTP payload types when known (what the flow carries),
// else the client media port (REFERENCE.md: the client source port, not the
// relay port, gives the modality), else the class, else audio.
func flowModality(j *judged, local netip.AddrPort) string {
	if m := rtpModality(j.pl.rtp()); m != "" {
		return m
	}
	if m := mediaClassForPort(local.Port()); m != "" {
		return m
	}
	if isMediaClass(j.Class) {
		return j.Class
	}
	return ClassAudio
}

// connectivity is a media flow's label (a byte per judged flow, not a
// string: a gateway's report judges a hundred thousand).
type connectivity uint8

const (
	connNone connectivity = iota // not a media flow
	connDirect
	connRelay
	connTCP
	connFailed
)

func (c connectivity) String() string {
	return [...]string{"", ConnDirect, ConnRelay, ConnTCP, ConnFailed}[c]
}

// flowConnectivity labels one flow's own candidate pair.
func (dc *detectContext) flowConnectivity(j *judged) connectivity {
	answered := j.twoWay()
	if j.Proto == protoTCP {
		answered = answered && (j.tcp.synAckSeen || !j.tcp.synSeen) && j.Dir[s2c].PayloadBytes > 0
	}
	if !answered {
		return connFailed
	}
	if dc.isRelay(j) {
		if j.Proto == protoTCP {
			return connTCP
		}
		return connRelay
	}
	return connDirect
}

// isRelay: the remote end is an Office 365 relay/edge (or another TURN
// server on the relay ports), not the other client.
func (dc *detectContext) isRelay(j *judged) bool {
	remote := j.Server()
	if local, ok := j.localMediaEnd(); ok && local == j.Server() {
		remote = j.Client()
	}
	if dc.a.ep.AreaOfAddr(remote.Addr()) != "" || remote == j.Server() && dc.area(j) != "" {
		return true
	}
	return isSTUNPort(remote.Port()) || j.Proto == protoTCP && remote.Port() == 443
}

// remoteOf is the far end of a media flow.
func remoteOf(j *judged, local netip.AddrPort) netip.AddrPort {
	if local == j.Server() {
		return j.Client()
	}
	return j.Server()
}

// groupCalls groups media flows into calls — flows sharing a local media
// socket, an ICE username or a relay allocation, and flows of one client
// overlapping in time — labels each flow's connectivity and fills
// rep.Calls.
func (dc *detectContext) groupCalls() {
	type mflow struct {
		j        *judged
		local    netip.AddrPort
		modality string
	}
	var ms []mflow
	for _, j := range dc.flows {
		if local, m, ok := dc.mediaEnd(j); ok {
			ms = append(ms, mflow{j, local, m})
			j.conn = dc.flowConnectivity(j)
		}
	}
	if len(ms) == 0 {
		return
	}
	parent := make([]int32, len(ms))
	for i := range parent {
		parent[i] = int32(i)
	}
	find := func(i int32) int32 {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int32) {
		if ra, rb := find(a), find(b); ra != rb {
			if ra < rb {
				parent[rb] = ra
			} else {
				parent[ra] = rb
			}
		}
	}
	// Typed keys without pointers: a string key per socket would allocate
	// for every flow, and the collector need not scan these maps.
	type sockKey struct {
		addr  [16]byte
		port  uint16
		v4    bool
		relay bool // a relay allocation, not a local socket
	}
	sockOf := func(ap netip.AddrPort, relay bool) sockKey {
		return sockKey{ap.Addr().As16(), ap.Port(), ap.Addr().Is4(), relay}
	}
	sockets := make(map[sockKey]int32, len(ms))
	ufrags := map[string]int32{}
	for i, m := range ms {
		i := int32(i)
		joinOwner(sockets, sockOf(m.local, false), i, union)
		if st := m.j.pl.stun(); st != nil {
			for _, u := range st.ufrags() {
				joinOwner(ufrags, u, i, union)
			}
			for _, r := range st.relayed() {
				joinOwner(sockets, sockOf(r, true), i, union)
			}
		}
	}
	// Flows of one client overlapping in time: one call. Sort by start per
	// client address and sweep.
	idx := make([]int32, len(ms))
	for i := range idx {
		idx[i] = int32(i)
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ma, mb := ms[idx[a]], ms[idx[b]]
		if ma.local.Addr() != mb.local.Addr() {
			return ma.local.Addr().Less(mb.local.Addr())
		}
		return ma.j.First < mb.j.First
	})
	var curEnd int64
	for k, i := range idx {
		m := ms[i]
		if k > 0 && ms[idx[k-1]].local.Addr() == m.local.Addr() && m.j.First-curEnd <= int64(callGap) {
			union(idx[k-1], i)
			if m.j.Last > curEnd {
				curEnd = m.j.Last
			}
			continue
		}
		curEnd = m.j.Last
	}
	// Calls in order of their first flow id (a root is its group's
	// smallest index, and ms is in id order). The members are laid out
	// call by call in one array (a counting sort by root): a gateway
	// capture makes tens of thousands of calls, and a slice each would be
	// as many allocations.
	root := make([]int32, len(ms))
	size := make([]int32, len(ms)) // by root
	var roots []int32
	for i := range ms {
		r := find(int32(i))
		root[i] = r
		if size[r] == 0 {
			roots = append(roots, r)
		}
		size[r]++
	}
	start := make([]int32, len(ms)) // by root: where its members begin
	next := int32(0)
	for _, r := range roots {
		start[r] = next
		next += size[r]
	}
	members := make([]int32, len(ms))
	for i, r := range root {
		members[start[r]] = int32(i)
		start[r]++
	}
	// Without a flow list, only the calls the table lists are described:
	// a gateway's tens of thousands would take more memory than its flows.
	described := len(roots)
	if dc.a.opts.lean() {
		described = min(described, maxTableCalls)
	}
	dc.rep.CallsOmitted = len(roots) - described
	dc.rep.Calls = slices.Grow(dc.rep.Calls, described)
	var js []*judged // scratch, one modality of one call at a time
	var locals []netip.AddrPort
	end := int32(0)
	for n, r := range roots {
		g := members[end : end+size[r]]
		end += size[r]
		for _, i := range g {
			ms[i].j.Call = int32(n + 1)
		}
		if n >= described {
			continue
		}
		call := Call{ID: n + 1, Flows: make([]int, 0, len(g)), Streams: []CallStream{}}
		var first, last int64
		for _, i := range g {
			j := ms[i].j
			call.Flows = append(call.Flows, int(j.ID))
			if j.First != 0 && (first == 0 || j.First < first) {
				first = j.First
			}
			if j.Last > last {
				last = j.Last
			}
		}
		call.Start, call.End = Time{nsTime(first)}, Time{nsTime(last)}
		for _, mod := range []string{ClassAudio, ClassVideo, ClassDesktopShare} {
			js, locals = js[:0], locals[:0]
			for _, i := range g {
				if m := &ms[i]; m.modality == mod {
					js = append(js, m.j)
					locals = append(locals, m.local)
				}
			}
			if len(js) == 0 {
				continue
			}
			call.Streams = append(call.Streams, dc.streamOf(mod, js, locals))
		}
		dc.rep.Calls = append(dc.rep.Calls, call)
	}
}

// joinOwner: the first flow seen with a key owns it; a later one, i,
// joins the owner's call.
func joinOwner[K comparable](owners map[K]int32, k K, i int32, union func(a, b int32)) {
	if o, ok := owners[k]; ok {
		union(o, i)
	} else {
		owners[k] = i
	}
}

// streamOf picks the candidate pair that carried a stream and labels it.
// UDP beats TCP (HTTP-PROXY/TCP is what a client uses when UDP fails);
// among answered pairs, RTP both ways beats none, then the pair with the
// most packets in its weaker direction carried the media.
func (dc *detectContext) streamOf(mod string, js []*judged, locals []netip.AddrPort) CallStream {
	s := CallStream{Modality: mod, Flows: make([]int, 0, len(js))}
	for _, j := range js {
		s.Flows = append(s.Flows, int(j.ID))
	}
	best := -1
	score := func(i int) (bool, bool, int64, int64) {
		j := js[i]
		rtpBoth := false
		if r := j.pl.rtp(); r != nil {
			p, _, _, _ := rtpPerDir(r, j)
			rtpBoth = p[c2s] > 0 && p[s2c] > 0
		}
		return j.Proto == protoUDP, rtpBoth, min(j.Dir[c2s].Packets, j.Dir[s2c].Packets), j.Dir[c2s].Packets + j.Dir[s2c].Packets
	}
	better := func(a, b int) bool {
		ua, ra, wa, ta := score(a)
		ub, rb, wb, tb := score(b)
		if ua != ub {
			return ua
		}
		if ra != rb {
			return ra
		}
		if wa != wb {
			return wa > wb
		}
		return ta > tb
	}
	// UDP to the relays from the same client, in this stream or not (a
	// client may probe the relays from other ports).
	rs := dc.relayUDPOf(locals[0].Addr())
	udpTried, udpFailed := rs.tried, rs.failed
	for i, j := range js {
		if j.conn == connFailed {
			continue
		}
		if best < 0 || better(i, best) {
			best = i
		}
	}
	if best < 0 {
		s.Connectivity = ConnFailed
		s.Why = fmt.Sprintf("no candidate pair ever answered (%s tried, e.g. %s -> %s)", plural(len(js), "flow"), locals[0], remoteOf(js[0], locals[0]))
		return s
	}
	j, local := js[best], locals[best]
	remote := remoteOf(j, local)
	s.Connectivity = j.conn.String()
	sent, recv := j.Dir[c2s].Packets, j.Dir[s2c].Packets
	if local == j.Server() {
		sent, recv = recv, sent
	}
	// Concatenated, not Sprintf'd: one per call stream, and a gateway
	// capture has tens of thousands.
	pk := strconv.FormatInt(sent, 10) + " packets sent, " + strconv.FormatInt(recv, 10) + " received"
	switch s.Connectivity {
	case ConnDirect:
		s.Why = "DIRECT: peer to peer, UDP " + local.String() + " <-> " + remote.String() + " (" + pk + ")"
	case ConnRelay:
		s.Why = "RELAY: through the relay " + remote.String() + " over UDP from " + local.String() + " (" + pk + ")"
	case ConnTCP:
		why := "no UDP to the relays was tried"
		if udpTried > 0 {
			why = fmt.Sprintf("UDP to the relays failed (%d of %d flows unanswered)", udpFailed, udpTried)
		}
		s.Why = fmt.Sprintf("HTTP-PROXY/TCP: relayed over TCP %d to %s from %s (%s); %s", remote.Port(), remote, local, pk, why)
	}
	return s
}
