package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"runtime/debug"
	"sort"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/capture"
)

// Options tune an analysis. The zero value is usable.
type Options struct {
	Endpoints *Endpoints // nil = embedded snapshot
	// MaxFlows bounds the flow records held (memory). Past a quarter of
	// it, finished flows fold into look-alikes (fold.go), so the rest is
	// room for live flows; at it, new flows are not tracked (counted as
	// evicted). 0 = 500 000, shared by the workers.
	MaxFlows int
	Workers  int // flow-table shards (goroutines); 0 = GOMAXPROCS
	// What the report needs to hold: ForOutput sets the next three for a
	// report format.
	//
	// NoFlowList leaves Report.Flows empty (the class totals, findings
	// and calls are still computed over every flow): the table without
	// --flows does not need 100 000 flow records in memory. Report.Calls
	// then describes the calls the table lists, and CallsOmitted counts
	// the others.
	NoFlowList bool
	// StreamFlows leaves Report.Flows empty too, but the flow list is
	// still reported: Render makes each row as it writes it (see
	// Report.EachFlow), so a list of 100 000 flows is never held whole.
	// The report keeps the analysis's flows until it is dropped.
	StreamFlows bool
	// RowsOnly says the flow list is read for its rows' own fields, not
	// their per-protocol summaries, and the calls not at all (CSV): those
	// summaries are not kept, and Report.Calls describes the calls the
	// table would list, as with NoFlowList.
	RowsOnly bool

	// Flow expiry, in capture time. A packet arriving after its flow's
	// timeout starts a new flow; expired flows are finalised (payload
	// parsers released) as the capture streams by. 0 = defaults below.
	UDPTimeout     time.Duration
	DNSTimeout     time.Duration // UDP port 53: one query and its answer
	MediaTimeout   time.Duration // UDP with STUN or RTP seen
	TCPTimeout     time.Duration // established or mid-flow TCP
	TCPOpenTimeout time.Duration // handshake never completed
	CloseGrace     time.Duration // after FIN/RST

	// Tests scan for finished flows at every packet (see expiryEvery).
	scanEveryPacket bool
	// Tests settle silent media flows sooner (see settleAfter); negative:
	// never.
	settleAfter time.Duration
}

// lean: the report is read for no per-protocol summary and for only the
// calls the table lists (NoFlowList, RowsOnly).
func (o *Options) lean() bool { return o.NoFlowList || o.RowsOnly }

// ForOutput sets what the report written with ro needs and no more: the
// table without --flows no flow list, CSV the rows' own fields only, and
// every list is made row by row as it is written.
func (o Options) ForOutput(ro RenderOptions) Options {
	o.NoFlowList = (ro.Format == "" || ro.Format == "table") && !ro.Flows
	o.StreamFlows = !o.NoFlowList
	o.RowsOnly = ro.Format == "csv"
	return o
}

// Default timeouts. TCP connections may idle for hours (SIP signalling
// lives as long as the user is signed in; the article asks proxies for an
// 8-hour timeout), so the idle-cut detector needs long-lived flows. UDP
// flows get 10 minutes: SIP over UDP re-registers every ~5 minutes (sip.pcap
// idles 287 s) and tshark's conversations, our oracle, never split them.
const (
	defaultMaxFlows   = 500000
	defaultUDPTimeout = 10 * time.Minute
	// An unanswered query: resolvers retry within seconds. A flow whose
	// queries were all answered gets only the close grace (timeout).
	defaultDNSTimeout = 30 * time.Second
	// Live media never idles that long: RTCP and ICE consent checks run
	// every ~5 s even on hold or mute, and consent expires after 30 s
	// without an answer (RFC 7675), when the agent stops sending. The
	// longest gap between STUN retransmissions is 16 s (RFC 5389).
	defaultMediaTimeout = 30 * time.Second
	defaultTCPTimeout   = 9 * time.Hour
	// The longest gap between SYN retransmissions of common stacks is 32 s
	// (Linux tcp_syn_retries=6: 1, 2, 4, 8, 16, 32 s; Windows waits 3, 6
	// and 12 s at most): every attempt of one connect stays one flow.
	defaultTCPOpenTimeout = 40 * time.Second
	defaultCloseGrace     = 10 * time.Second
	expiryEvery           = 1 << 15    // packets between expiry scans, at least
	expiryStep            = int64(1e9) // capture time between expiry scans, at least (ns)
)

// Analyzer turns packets into flows, then (Finish) into a Report. It is not
// safe for concurrent use.
type Analyzer struct {
	opts Options
	ep   *Endpoints
	dec  *decoder
	res  decodeResult

	index  *flowIndex // live flows only: expired ones leave it
	flows  flowStore
	merged []*flowStore // the other shards' flows, after mergeShards

	packets, bytes int64
	start, end     int64 // unix ns; 0 = none yet
	linkTypes      []layers.LinkType
	linkFirst      []int64 // frame where each link type was first seen
	unknownLink    map[layers.LinkType]int64

	problems      map[string]int
	decodeErrors  int64
	snapTruncated int64
	fragments     int64
	internalErrs  int64
	notes         []note // per-packet problems worth a line: first frame per reason
	evicted       int64
	drops         int64 // packets the capturing kernel lost (pcapng epb_dropcount)
	dropFrame     int64 // first frame that reported drops
	sinceScan     int
	minTimeout    int64 // the shortest timeout: most packets need no per-flow one
	scanEvery     int   // expiryEvery; tests lower it
	scanStep      int64 // expiryStep; tests lower it
	settleAfter   int64 // settleAfter; tests change it
	lastScan      int64 // capture time of the last expiry scan

	icmpOrphans []orphanICMP
	dns         dnsState
	sink        uint64  // keeps warm's loads from being optimised away
	snap        []byte  // settle's scratch space
	parsers     parsers // payload parsers for reuse

	foldAt      int64                // flows in the capture (all shards) past which finished flows fold (fold.go)
	created     *atomic.Int64        // flows created so far, shared by the shards
	held        *atomic.Int64        // flows held (created, not folded away), shared by the shards
	maxHeld     int64                // the whole --max-flows: a busy shard may hold more than its share
	folds       map[foldKey]heldFlow // look-alike representatives, once folding started
	flowsFolded int64
	debug       string // first internal error's stack, for -debug output
}

// note is a warning tied to a frame; one per key (the earliest frame wins),
// so sharded runs report the same lines as single ones.
type note struct {
	frame int64
	key   string
	text  string
}

func (a *Analyzer) addNote(frame int64, key, text string) {
	for i := range a.notes {
		if a.notes[i].key == key {
			if frame < a.notes[i].frame {
				a.notes[i] = note{frame, key, text}
			}
			return
		}
	}
	a.notes = append(a.notes, note{frame, key, text})
}

// orphanICMP is an ICMP error whose quoted flow was not (yet) seen.
type orphanICMP struct {
	hit  icmpHit
	key  FlowKey
	desc string
}

// New returns an Analyzer.
func New(opts Options) *Analyzer {
	ep := opts.Endpoints
	if ep == nil {
		ep = DefaultEndpoints()
	}
	opts = opts.WithDefaults()
	a := &Analyzer{
		foldAt:      int64(foldFrom(opts.MaxFlows)),
		created:     new(atomic.Int64),
		held:        new(atomic.Int64),
		maxHeld:     int64(opts.MaxFlows),
		minTimeout:  int64(min(opts.UDPTimeout, opts.DNSTimeout, opts.MediaTimeout, opts.TCPTimeout, opts.TCPOpenTimeout, opts.CloseGrace)),
		scanEvery:   expiryEvery,
		scanStep:    expiryStep,
		settleAfter: settleAfter,
		opts:        opts,
		ep:          ep,
		dec:         newDecoder(),
		index:       newFlowIndex(),
		unknownLink: map[layers.LinkType]int64{},
		problems:    map[string]int{},
	}
	if opts.scanEveryPacket {
		a.scanEvery, a.scanStep = 1, 0
	}
	switch {
	case opts.settleAfter < 0:
		a.settleAfter = math.MaxInt64
	case opts.settleAfter > 0:
		a.settleAfter = int64(opts.settleAfter)
	}
	return a
}

// WithDefaults returns o with every zero (or negative) bound and timeout
// set to its default; the command line shows these as the flags' defaults.
func (o Options) WithDefaults() Options {
	if o.MaxFlows <= 0 {
		o.MaxFlows = defaultMaxFlows
	}
	setDefault(&o.UDPTimeout, defaultUDPTimeout)
	setDefault(&o.DNSTimeout, defaultDNSTimeout)
	setDefault(&o.MediaTimeout, defaultMediaTimeout)
	setDefault(&o.TCPTimeout, defaultTCPTimeout)
	setDefault(&o.TCPOpenTimeout, defaultTCPOpenTimeout)
	setDefault(&o.CloseGrace, defaultCloseGrace)
	return o
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// timeout returns how long f may stay silent before it is finished.
func (a *Analyzer) timeout(f *Flow) int64 {
	switch {
	case f.closed:
		return int64(a.opts.CloseGrace)
	case f.Proto == protoUDP && f.onPort(53):
		if q := f.Dir[c2s].Packets; q > 0 && f.Dir[s2c].Packets >= q {
			// Every query answered: the exchange is over, as after a FIN.
			// Most of a gateway's flows are these; holding each for the
			// DNS timeout would triple the live table.
			return int64(a.opts.CloseGrace)
		}
		return int64(a.opts.DNSTimeout)
	case f.Proto == protoUDP && f.pl.media:
		return int64(a.opts.MediaTimeout)
	case f.Proto == protoUDP:
		return int64(a.opts.UDPTimeout)
	case f.tcp.established || !f.tcp.synSeen:
		return int64(a.opts.TCPTimeout)
	}
	return int64(a.opts.TCPOpenTimeout)
}

// timedOut reports whether f has been silent past its timeout at capture
// time now (flows without timestamps never time out).
func (a *Analyzer) timedOut(f *Flow, now int64) bool {
	return f.Last != 0 && now-f.Last > a.timeout(f)
}

// expire finishes every flow silent for longer than its timeout at capture
// time now: payload parsers are released and the flow leaves the index (a
// later packet of the same 5-tuple starts a new flow, exactly as the
// per-packet check in addFlowPacket decides), so memory follows the active
// flows, not the capture.
func (a *Analyzer) expire(now int64) {
	var done []int32
	a.index.each(func(idx int32) {
		f := a.flows.get(idx)
		switch {
		case a.timedOut(f, now):
			done = append(done, idx)
		case f.pl.media && f.Proto == protoUDP && f.Last != 0 && now-f.Last > a.settleAfter:
			f.pl.settle(&a.parsers, &a.snap)
		}
	})
	// Deleted after the walk: deletion shifts entries within the table.
	for _, idx := range done {
		a.index.del(&a.flows.get(idx).Key, &a.flows)
		a.finished(idx)
	}
}

// Add analyzes one packet. p.Data is not retained.
func (a *Analyzer) Add(p *capture.Packet) {
	// A bug in our protocol code costs one packet, never the run.
	defer a.recoverPacket(p)
	a.packets++
	a.bytes += int64(p.Length)
	if p.DropCount > 0 {
		a.drops += int64(p.DropCount)
		if a.dropFrame == 0 || p.Frame < a.dropFrame {
			a.dropFrame = p.Frame
		}
	}
	var ts int64
	if !p.Timestamp.IsZero() {
		ts = p.Timestamp.UnixNano()
		if a.start == 0 || ts < a.start {
			a.start = ts
		}
		if ts > a.end {
			a.end = ts
		}
	}
	if a.sinceScan++; a.sinceScan >= a.scanEvery && a.end-a.lastScan >= a.scanStep {
		// Scans cost a pass over the live flows: at most one per
		// expiryEvery packets and per expiryStep of capture time (a.end is
		// the latest packet time seen).
		a.sinceScan = 0
		a.lastScan = a.end
		a.expire(a.end)
	}
	a.noteLinkTypeAt(p.LinkType, p.Frame)
	r := &a.res
	switch a.dec.decode(p.LinkType, p.Data, p.Length, r) {
	case decodedOK:
	case decodedEmpty:
		a.problem("empty packet")
		return
	case decodedNonIP:
		a.problem("non-ip")
		return
	case decodedUnknownLink:
		a.unknownLink[p.LinkType]++
		return
	case decodedFragment:
		a.fragments++
		return
	case decodedTruncated:
		a.snapTruncated++
		a.problem("truncated by snaplen")
		return
	case decodedMalformed:
		a.decodeErrors++
		a.malformed(p.Frame)
		return
	}
	if p.Length > len(p.Data) && len(r.payload) == 0 {
		// Headers complete but the rest was cut by the snaplen: count it,
		// the flow still gets the packet.
		a.snapTruncated++
	}
	switch r.proto {
	case protoTCP, protoUDP:
		a.dnsPacket(r, p.Frame, ts)
		a.addFlowPacket(p, ts, r)
	case protoICMP, protoICMPv6:
		a.addICMP(p, ts, r)
	default:
		a.problem("other ip protocol")
	}
}

func (a *Analyzer) recoverPacket(p *capture.Packet) {
	if v := recover(); v != nil {
		a.internalErrs++
		a.addNote(p.Frame, fmt.Sprintf("internal error %d", a.internalErrs),
			fmt.Sprintf("internal error on frame %d: %v (packet skipped; please report it with this frame)", p.Frame, v))
		if a.internalErrs == 1 {
			// The stack is for the developers: keep it off the one-line warnings.
			a.debug = fmt.Sprintf("frame %d: %v\n%x\n%s", p.Frame, v, p.Data, debug.Stack())
		}
		a.problems["internal error"]++
	}
}

func (a *Analyzer) noteLinkTypeAt(lt layers.LinkType, frame int64) {
	for i, l := range a.linkTypes {
		if l == lt {
			if frame < a.linkFirst[i] {
				a.linkFirst[i] = frame
			}
			return
		}
	}
	a.linkTypes = append(a.linkTypes, lt)
	a.linkFirst = append(a.linkFirst, frame)
}

func (a *Analyzer) problem(reason string) { a.problems[reason]++ }

func (a *Analyzer) malformed(frame int64) {
	key := "malformed: " + a.dec.failLayer
	if a.problems[key] == 0 {
		a.addNote(frame, key, fmt.Sprintf("frame %d: malformed %s header: %v (counted, analysis goes on)", frame, a.dec.failLayer, a.dec.lastErr))
	}
	a.problems[key]++
}

// servicePort reports ports that identify the server side of a flow.
func servicePort(p uint16) bool {
	switch p {
	case 443, 80, 5223, 53, 5060, 5061:
		return true
	}
	return p >= 3478 && p <= 3481
}

func (a *Analyzer) addFlowPacket(p *capture.Packet, ts int64, r *decodeResult) {
	key, srcIsA := makeKey(r)
	idx, ok := a.index.get(&key, &a.flows)
	if ok && ts != 0 {
		if f := a.flows.get(idx); f.Last != 0 && ts-f.Last > a.minTimeout && ts-f.Last > a.timeout(f) {
			// Silent past its timeout: that flow is over, this is a new one.
			a.index.del(&key, &a.flows)
			a.finished(idx)
			ok = false
		}
	}
	if !ok {
		if a.held.Add(1) > a.maxHeld { // a place reserved, or none: workers race for the last
			a.held.Add(-1)
			a.evicted++
			return
		}
		idx = a.flows.add()
		a.newFlow(a.flows.get(idx), key, srcIsA, p, ts, r)
		a.index.put(&key, idx)
	}
	f := a.flows.get(idx)
	side := s2c
	if srcIsA == f.clientIsA {
		side = c2s
	}
	if ts != 0 {
		if f.First == 0 {
			f.First = ts
		}
		if ts > f.Last {
			f.Last = ts
		}
	}
	d := &f.Dir[side]
	if d.Packets == 0 {
		d.First = ts
		d.FirstFrame = p.Frame
		d.TTLMin, d.TTLMax, d.TTLFirst = r.ttl, r.ttl, r.ttl
	}
	d.Packets++
	d.Bytes += int64(p.Length)
	d.PayloadBytes += int64(len(r.payload))
	if ts != 0 {
		d.Last = ts
	}
	if r.ttl < d.TTLMin {
		d.TTLMin = r.ttl
	}
	if r.ttl > d.TTLMax {
		d.TTLMax = r.ttl
	}
	if r.proto == protoTCP {
		a.updateTCP(f, side, p.Frame, ts, r)
	}
	if len(r.payload) > 0 || (r.proto == protoTCP && r.tcpFlags&tcpSYN != 0) {
		f.pl.observe(a, f, side, p.Frame, ts, r)
	}
}

// newFlow fixes the flow's orientation: for TCP the SYN sender is the
// client; otherwise the side on a known service port, else the side in the
// Office 365 ranges, is the server; else the first sender is the client.
func (a *Analyzer) newFlow(f *Flow, key FlowKey, srcIsA bool, p *capture.Packet, ts int64, r *decodeResult) {
	f.Key = key
	f.Proto = r.proto
	a.created.Add(1)
	f.pl.lean = a.opts.lean()
	if r.proto == protoTCP {
		f.tcp = new(tcpState)
	} else {
		f.tcp = &noTCP
	}
	srcIsClient := true
	switch {
	case r.proto == protoTCP && r.tcpFlags&(tcpSYN|tcpACK) == tcpSYN:
		srcIsClient = true
	case r.proto == protoTCP && r.tcpFlags&(tcpSYN|tcpACK) == tcpSYN|tcpACK:
		srcIsClient = false
	case servicePort(r.dstPort) != servicePort(r.srcPort):
		srcIsClient = servicePort(r.dstPort)
	default:
		srcO365 := a.ep.AreaOf(ipBytes(&r.src, r.ipv6)) != ""
		dstO365 := a.ep.AreaOf(ipBytes(&r.dst, r.ipv6)) != ""
		if srcO365 != dstO365 {
			srcIsClient = dstO365
		}
	}
	f.clientIsA = srcIsA == srcIsClient
	srv := f.Server().Addr()
	f.area = areaID(a.ep.AreaOfAddr(srv))
}

func ipBytes(b *[16]byte, v6 bool) []byte {
	if v6 {
		return b[:]
	}
	return b[:4]
}

func (a *Analyzer) updateTCP(f *Flow, side int, frame, ts int64, r *decodeResult) {
	t := f.tcp
	fl := r.tcpFlags
	f.Dir[side].Flags |= fl
	switch {
	case fl&tcpRST != 0:
		if t.rstFrame == 0 {
			t.rstFrame = frame
			t.rstSide = int8(side)
			t.rstTTL = r.ttl
			t.rstTime = ts
		}
		f.closed = true
	case fl&(tcpSYN|tcpACK) == tcpSYN:
		if side == c2s {
			if !t.synSeen {
				t.synSeen = true
				t.synFrame = frame
				t.synISN = r.seq
			}
			t.synCount++
		}
	case fl&(tcpSYN|tcpACK) == tcpSYN|tcpACK:
		if side == s2c && !t.synAckSeen {
			t.synAckSeen = true
		}
	case fl&tcpACK != 0 && side == c2s && t.synAckSeen:
		t.established = true
	}
	if fl&tcpFIN != 0 {
		if t.finFrame[side] == 0 {
			t.finFrame[side] = frame
		}
		f.closed = true
	}
	if len(r.payload) > 0 {
		if side == c2s && t.helloFrame == 0 {
			t.helloFrame = frame
		}
		t.lastPayload[side] = ts
		t.lastPayloadAny = ts
		if t.rstFrame != 0 && frame > t.rstFrame {
			t.dataAfterRST = true
		}
		if f.Dir[c2s].PayloadBytes > 0 && f.Dir[s2c].PayloadBytes > 0 {
			t.established = true
		}
	}
}

// addICMP ties an ICMP destination-unreachable (or time-exceeded) to the
// flow its quote names.
func (a *Analyzer) addICMP(p *capture.Packet, ts int64, r *decodeResult) {
	isErr := (r.proto == protoICMP && (r.icmpType == 3 || r.icmpType == 11)) ||
		(r.proto == protoICMPv6 && (r.icmpType == 1 || r.icmpType == 3))
	if !isErr {
		return
	}
	src, dst, proto, sport, dport, v6, ok := quotedFlow(r.icmpQuote)
	if !ok || (proto != protoTCP && proto != protoUDP) {
		a.problem("icmp error without a usable quote")
		return
	}
	q := decodeResult{src: src, dst: dst, proto: proto, srcPort: sport, dstPort: dport, ipv6: v6}
	key, srcIsA := makeKey(&q)
	hit := icmpHit{frame: p.Frame, ts: ts, from: addrOf(r.src, r.ipv6), typ: r.icmpType, code: r.icmpCode, v6: r.proto == protoICMPv6}
	if idx, ok := a.index.get(&key, &a.flows); ok {
		f := a.flows.get(idx)
		hit.forwardDir = srcIsA == f.clientIsA
		if r := f.rareOf(); len(r.icmp) < 16 {
			r.icmp = append(r.icmp, hit)
		}
		return
	}
	if len(a.icmpOrphans) < 1024 {
		a.icmpOrphans = append(a.icmpOrphans, orphanICMP{hit: hit, key: key,
			desc: fmt.Sprintf("%s -> %s", netip.AddrPortFrom(addrOf(src, v6), sport), netip.AddrPortFrom(addrOf(dst, v6), dport))})
	}
}

// stores are this analyzer's flows and, after mergeShards, the others'.
func (a *Analyzer) stores() []*flowStore { return append([]*flowStore{&a.flows}, a.merged...) }

// flowCount is the number of flows kept, merged shards included.
func (a *Analyzer) flowCount() int {
	n := 0
	for _, st := range a.stores() {
		n += st.len()
	}
	return n
}

// sortedFlows returns the flows in first-frame order (deterministic ids).
func (a *Analyzer) sortedFlows() []*Flow {
	idx := make([]*Flow, 0, a.flowCount())
	for _, st := range a.stores() {
		st.each(func(f *Flow) { idx = append(idx, f) })
	}
	sort.SliceStable(idx, func(i, j int) bool { return idx[i].firstFrame() < idx[j].firstFrame() })
	return idx
}
