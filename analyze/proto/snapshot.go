package proto

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"net/netip"
	"strings"
)

// Snapshots: a media flow silent for a few seconds is most likely over, but
// it stays live until its timeout (30 s) in case packets resume, and a
// gateway holds tens of thousands of such flows. Their parsers are kept
// meanwhile as a snapshot: every field, varint-encoded, a few hundred bytes
// where the live structs take a kilobyte of mostly empty tables. Loading a
// snapshot restores the parser exactly, so a flow that resumes (or is
// finished) reads as if it had never been snapshotted.

// errSnapshot is a snapshot that does not decode: only a bug produces one
// (snapshots never leave the process).
var errSnapshot = errors.New("proto: bad parser snapshot")

// wire appends fields; every value is exact, small ones take a byte.
type wire []byte

func (w wire) u(v uint64) wire { return binary.AppendUvarint(w, v) }
func (w wire) i(v int64) wire  { return binary.AppendVarint(w, v) }

// f writes the IEEE bits byte-reversed: zero and round values, the common
// ones, have their non-zero bytes at the top and encode short.
func (w wire) f(v float64) wire { return w.u(bits.ReverseBytes64(math.Float64bits(v))) }

// flags packs bools, first in the lowest bit.
func (w wire) flags(b ...bool) wire {
	var v uint64
	for i, x := range b {
		if x {
			v |= 1 << i
		}
	}
	return w.u(v)
}

// addrPort writes the address's 0, 4 or 16 bytes, then the port.
// Addresses parsed from packets have no zone.
func (w wire) addrPort(a netip.AddrPort) wire {
	port := uint64(a.Port())
	switch ip := a.Addr(); {
	case !ip.IsValid():
		return w.u(0).u(port)
	case ip.Is4():
		b := ip.As4()
		return append(w.u(4), b[:]...).u(port)
	default: // IPv6, IPv4-mapped included (it stays mapped)
		b := ip.As16()
		return append(w.u(16), b[:]...).u(port)
	}
}

func (w wire) str(s string) wire { return append(w.u(uint64(len(s))), s...) }

// unwire reads what wire wrote, in place (a snapshot is kept as a string);
// a short or bad input sets bad and reads zeros from there on.
type unwire struct {
	s   string
	bad bool
}

func (r *unwire) fail() uint64 {
	r.bad, r.s = true, ""
	return 0
}

func (r *unwire) u() uint64 {
	var v uint64
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		v |= uint64(c&0x7F) << (7 * i)
		if c < 0x80 {
			r.s = r.s[i+1:]
			return v
		}
	}
	return r.fail()
}

func (r *unwire) i() int64 {
	ux := r.u()
	return int64(ux>>1) ^ -int64(ux&1) // zigzag, as binary.AppendVarint
}

func (r *unwire) int() int    { return int(r.i()) }
func (r *unwire) i32() int32  { return int32(r.i()) }
func (r *unwire) u32() uint32 { return uint32(r.u()) }
func (r *unwire) f() float64  { return math.Float64frombits(bits.ReverseBytes64(r.u())) }

func (r *unwire) bytes(n uint64) string {
	if n > uint64(len(r.s)) {
		r.fail()
		return ""
	}
	b := r.s[:n]
	r.s = r.s[n:]
	return b
}

func (r *unwire) addrPort() netip.AddrPort {
	b := r.bytes(r.u())
	var a netip.Addr
	switch len(b) {
	case 0:
	case 4:
		a = netip.AddrFrom4([4]byte([]byte(b)))
	case 16:
		a = netip.AddrFrom16([16]byte([]byte(b)))
	default:
		r.fail()
	}
	port := uint16(r.u())
	if !a.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, port)
}

// str copies: the parser outlives the snapshot.
func (r *unwire) str() string { return strings.Clone(r.bytes(r.u())) }

func (r *unwire) err() error {
	if r.bad || len(r.s) > 0 {
		return errSnapshot
	}
	return nil
}

// AppendMediaSnapshot appends the snapshot of a UDP media flow's parsers
// (either may be nil). It reports false, appending nothing, for a STUN
// parser framing TCP: its reassembly buffers are not worth encoding.
func AppendMediaSnapshot(b []byte, st *STUNStats, rt *RTPStats) ([]byte, bool) {
	if st != nil && (st.stream[0] != nil || st.stream[1] != nil) {
		return b, false
	}
	w := wire(b).flags(st != nil, rt != nil)
	if st != nil {
		w = st.appendSnapshot(w)
	}
	if rt != nil {
		w = rt.appendSnapshot(w)
	}
	return w, true
}

// MediaSnapshotHas reports which parsers snap holds.
func MediaSnapshotHas(snap string) (stun, rtp bool) {
	r := unwire{s: snap}
	has := r.u()
	return has&1 != 0, has&2 != 0
}

// LoadMediaSnapshot restores the parsers AppendMediaSnapshot encoded in
// snap into st and rt: zero values, non-nil for the ones MediaSnapshotHas
// reports. It does not allocate (beyond ICE usernames).
func LoadMediaSnapshot(snap string, st *STUNStats, rt *RTPStats) error {
	r := &unwire{s: snap}
	has := r.u()
	if has&1 != 0 {
		if st == nil {
			return errSnapshot
		}
		st.loadSnapshot(r)
	}
	if has&2 != 0 {
		if rt == nil {
			return errSnapshot
		}
		rt.loadSnapshot(r)
	}
	return r.err()
}

func (s *STUNStats) appendSnapshot(w wire) wire {
	for _, v := range [...]int{s.Messages, s.Malformed, s.Other, s.MSMux, s.Requests, s.Responses,
		s.Errors, s.Indications, s.Retransmits, s.BindingRequests, s.BindingSuccesses,
		s.BindingErrors, s.AllocateRequests, s.AllocateSuccesses, s.NumAllocateErrors,
		s.NumMapped, s.Answered, s.Evicted, s.TCPRetransmits, s.TCPGaps, int(s.next)} {
		w = w.i(int64(v))
	}
	w = w.i(s.FirstFrame)
	w = w.flags(s.AllocateOKAfter401, s.MappedChanged, s.MSTURN, s.saw401, s.seqOK[0], s.seqOK[1])
	w = w.u(uint64(s.MSVersion)).u(uint64(s.MS)).u(uint64(s.tcpNext[0])).u(uint64(s.tcpNext[1]))
	// Tables up to their last non-zero entry: most are empty.
	n := len(s.AllocateErrorCodes)
	for n > 0 && s.AllocateErrorCodes[n-1] == 0 {
		n--
	}
	w = w.u(uint64(n))
	for _, c := range s.AllocateErrorCodes[:n] {
		w = w.u(uint64(c))
	}
	n = len(s.Mapped)
	for n > 0 && s.Mapped[n-1] == (netip.AddrPort{}) {
		n--
	}
	w = w.u(uint64(n))
	for _, a := range s.Mapped[:n] {
		w = w.addrPort(a)
	}
	w = w.addrPort(s.Relayed)
	w = w.u(uint64(len(s.Usernames)))
	for _, u := range s.Usernames {
		w = w.str(u)
	}
	// The ring keeps its slots (eviction order depends on them).
	for i, t := range s.txns {
		data := t.used || s.txnIDs[i] != 0 || t.method != 0
		w = w.flags(t.used, t.answered, data)
		if data {
			w = binary.LittleEndian.AppendUint64(w, s.txnIDs[i])
			w = w.u(uint64(t.method))
		}
	}
	return w
}

func (s *STUNStats) loadSnapshot(r *unwire) {
	for _, p := range [...]*int{&s.Messages, &s.Malformed, &s.Other, &s.MSMux, &s.Requests, &s.Responses,
		&s.Errors, &s.Indications, &s.Retransmits, &s.BindingRequests, &s.BindingSuccesses,
		&s.BindingErrors, &s.AllocateRequests, &s.AllocateSuccesses, &s.NumAllocateErrors,
		&s.NumMapped, &s.Answered, &s.Evicted, &s.TCPRetransmits, &s.TCPGaps} {
		*p = r.int()
	}
	s.next = r.i32()
	s.FirstFrame = r.i()
	fl := r.u()
	s.AllocateOKAfter401, s.MappedChanged, s.MSTURN = fl&1 != 0, fl&2 != 0, fl&4 != 0
	s.saw401, s.seqOK[0], s.seqOK[1] = fl&8 != 0, fl&16 != 0, fl&32 != 0
	s.MSVersion, s.MS = r.u32(), MSAttrs(r.u())
	s.tcpNext[0], s.tcpNext[1] = r.u32(), r.u32()
	n := r.u()
	for i := range min(n, uint64(len(s.AllocateErrorCodes))) {
		s.AllocateErrorCodes[i] = uint16(r.u())
	}
	n = r.u()
	for i := range min(n, uint64(len(s.Mapped))) {
		s.Mapped[i] = r.addrPort()
	}
	s.Relayed = r.addrPort()
	if n = r.u(); n > 0 {
		s.Usernames = make([]string, 0, min(n, stunMaxUsernames))
		for range min(n, stunMaxUsernames) {
			s.Usernames = append(s.Usernames, r.str())
		}
	}
	for i := range s.txns {
		t := &s.txns[i]
		fl := r.u()
		t.used, t.answered = fl&1 != 0, fl&2 != 0
		if fl&4 != 0 {
			if b := r.bytes(8); len(b) == 8 {
				s.txnIDs[i] = binary.LittleEndian.Uint64([]byte(b))
			}
			t.method = STUNMethod(r.u())
		}
	}
}

func (rt *RTPStats) appendSnapshot(w wire) wire {
	w = w.flags(rt.MSClockRates, rt.Confirmed)
	for _, v := range [...]int{rt.NotRTP, rt.RTCP[0], rt.RTCP[1], rt.RTCPPackets, rt.Dropped, rt.n} {
		w = w.i(int64(v))
	}
	for i := range rt.streams[:rt.n] {
		s := &rt.streams[i]
		w = w.flags(s.fromClient, s.haveTransit)
		w = w.u(uint64(s.ssrc)).u(uint64(s.pt)).u(uint64(s.maxSeq)).u(uint64(s.baseSeq)).u(uint64(s.cycles)).
			u(uint64(s.badSeq)).u(uint64(s.winExpected))
		for _, v := range [...]int32{s.packets, s.inOrderRun, s.reorder, s.dups, s.clock, s.nJitter, s.winReceived, s.winJitN} {
			w = w.i(int64(v))
		}
		w = w.i(s.first).i(s.winStart)
		for _, v := range [...]float64{s.transit, s.jitter, s.maxJitter, s.sumJitter, s.worstWinLoss, s.worstWinJitter, s.winJitSum} {
			w = w.f(v)
		}
	}
	return w
}

func (rt *RTPStats) loadSnapshot(r *unwire) {
	fl := r.u()
	rt.MSClockRates, rt.Confirmed = fl&1 != 0, fl&2 != 0
	for _, p := range [...]*int{&rt.NotRTP, &rt.RTCP[0], &rt.RTCP[1], &rt.RTCPPackets, &rt.Dropped, &rt.n} {
		*p = r.int()
	}
	if rt.n < 0 || rt.n > rtpMaxStreams {
		r.bad, rt.n = true, 0
		return
	}
	if rt.n > 0 {
		// As stream() grows it: inline first, then a heap table.
		rt.streams = rt.inline[:0:len(rt.inline)]
		for range rt.n {
			rt.streams = append(rt.streams, rtpStream{})
		}
	}
	for i := range rt.streams {
		s := &rt.streams[i]
		fl := r.u()
		s.fromClient, s.haveTransit = fl&1 != 0, fl&2 != 0
		s.ssrc, s.pt, s.maxSeq, s.baseSeq = r.u32(), uint8(r.u()), uint16(r.u()), r.u32()
		s.cycles, s.badSeq, s.winExpected = r.u32(), r.u32(), r.u32()
		for _, p := range [...]*int32{&s.packets, &s.inOrderRun, &s.reorder, &s.dups, &s.clock, &s.nJitter, &s.winReceived, &s.winJitN} {
			*p = r.i32()
		}
		s.first, s.winStart = r.i(), r.i()
		for _, p := range [...]*float64{&s.transit, &s.jitter, &s.maxJitter, &s.sumJitter, &s.worstWinLoss, &s.worstWinJitter, &s.winJitSum} {
			*p = r.f()
		}
	}
}
