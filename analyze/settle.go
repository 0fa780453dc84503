package analyze

import (
	"time"

	"github.com/sfbtrace/sfbtrace/analyze/proto"
)

// settleAfter is how long a UDP media flow stays silent before its parsers
// are kept as a snapshot. A call's packets come every 20-100 ms and its ICE
// consent checks every 5 s (RFC 7675), so a flow this quiet is most likely
// over: it waits out the media timeout (30 s) only in case packets resume.
// A gateway holds tens of thousands of such flows at once.
const settleAfter = int64(5 * time.Second)

// parsers recycles the payload parsers of settled and finished flows: a
// busy gateway starts a thousand media flows and more TLS handshakes a
// second, and each parser is most of a kilobyte. One per worker, so no
// locking.
type parsers struct {
	stun pool[proto.STUNStats]
	rtp  pool[proto.RTPStats]
	tls  pool[proto.TLSConn]
}

// release keeps the parsers (any may be nil) for reuse; ps may be nil
// (freeze outside a worker): they go to the collector.
func (ps *parsers) release(st *proto.STUNStats, rt *proto.RTPStats, c *proto.TLSConn) {
	if ps != nil {
		ps.stun.put(st)
		ps.rtp.put(rt)
		ps.tls.put(c)
	}
}

// poolMax bounds what a pool keeps: enough for the flows one expiry scan
// finishes (a second of a busy gateway's media) or the handshakes in
// flight at once.
const poolMax = 1024

type pool[T any] struct{ free []*T }

// get returns a zero T.
func (p *pool[T]) get() *T {
	if n := len(p.free); n > 0 {
		x := p.free[n-1]
		p.free = p.free[:n-1]
		return x
	}
	return new(T)
}

// put zeroes x and keeps it for get; nil is ignored. Nothing may use x
// after (the facts taken from a parser are copies).
func (p *pool[T]) put(x *T) {
	if x != nil && len(p.free) < poolMax {
		var zero T
		*x = zero
		p.free = append(p.free, x)
	}
}

// settle keeps the media parsers of a silent flow as a snapshot: a few
// hundred bytes instead of a kilobyte of mostly empty tables. The next
// packet, or freeze, restores them exactly (thaw), so settling changes no
// result. buf is scratch space for the encoding.
func (s *payloadState) settle(ps *parsers, buf *[]byte) {
	if s.stunS == nil && s.rtpS == nil {
		return // nothing to keep, or already settled
	}
	b, ok := proto.AppendMediaSnapshot((*buf)[:0], s.stunS, s.rtpS)
	if !ok {
		return // STUN over TCP: not a UDP media flow
	}
	*buf = b
	s.cold = string(b)
	ps.release(s.stunS, s.rtpS, nil)
	s.stunS, s.rtpS = nil, nil
}

// thaw restores the parsers settle kept, from ps (nil: newly allocated).
func (s *payloadState) thaw(ps *parsers) {
	if ps == nil {
		ps = new(parsers)
	}
	st, rt := proto.MediaSnapshotHas(s.cold)
	if st {
		s.stunS = ps.stun.get()
	}
	if rt {
		s.rtpS = ps.rtp.get()
	}
	// A snapshot never leaves the process: only a bug makes one that does
	// not load (the proto tests round-trip every field). The flow then
	// keeps its counts and loses its payload facts, not the run.
	if proto.LoadMediaSnapshot(s.cold, s.stunS, s.rtpS) != nil {
		s.stunS, s.rtpS = nil, nil
	}
	s.cold = ""
}
