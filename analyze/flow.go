package analyze

import (
	"bytes"
	"net/netip"
)

// FlowKey identifies a flow regardless of direction: the two endpoints are
// stored in canonical order so A->B and B->A meet in one entry.
// [16]byte, not netip.Addr: no zone pointer, so the key hashes as plain bytes.
type FlowKey struct {
	A, B   [16]byte
	PA, PB uint16
	Proto  uint8
	V6     bool
}

// makeKey returns the canonical key and whether src is side A.
func makeKey(r *decodeResult) (FlowKey, bool) {
	c := bytes.Compare(r.src[:], r.dst[:])
	if c < 0 || (c == 0 && r.srcPort <= r.dstPort) {
		return FlowKey{A: r.src, B: r.dst, PA: r.srcPort, PB: r.dstPort, Proto: r.proto, V6: r.ipv6}, true
	}
	return FlowKey{A: r.dst, B: r.src, PA: r.dstPort, PB: r.srcPort, Proto: r.proto, V6: r.ipv6}, false
}

func addrOf(b [16]byte, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
}

// Side indexes the two directions of a flow: c2s (client to server) and s2c.
const (
	c2s = 0
	s2c = 1
)

// DirStats counts one direction of a flow.
type DirStats struct {
	Packets      int64
	Bytes        int64 // frame (wire) lengths, as tshark and nDPI count
	PayloadBytes int64
	First, Last  int64 // unix nanoseconds; 0 = none
	FirstFrame   int64
	Flags        uint8 // TCP flags ever seen in this direction
	TTLMin       uint8
	TTLMax       uint8
	TTLFirst     uint8
}

// Flow is the state of one bidirectional 5-tuple. The client/server
// orientation is fixed when the flow is created (see orient).
//
// Field order packs the small fields after the 38-byte key: a gateway
// capture holds 100 000+ flows at once.
type Flow struct {
	Key       FlowKey
	clientIsA bool
	Proto     uint8
	closed    bool  // FIN or RST seen: the close grace applies
	area      uint8 // Office 365 service area of the server address (see o365)
	First     int64 // unix ns of the first packet with a timestamp
	Last      int64
	Dir       [2]DirStats

	tcp *tcpState // TCP flows own one; others share the read-only noTCP

	pl   payloadState
	rare *flowRare // nil for almost every flow
}

// flowRare is what few flows have, behind one pointer: a gateway holds a
// hundred thousand flows and more at once.
type flowRare struct {
	icmp   []icmpHit  // ICMP errors quoting this flow (bounded)
	folded foldTotals // look-alike flows folded into this one (fold.go)
}

// firstFrame is the frame of the flow's first packet: the earlier of the
// directions' first frames (frames are numbered in reading order), so it
// need not be kept.
func (f *Flow) firstFrame() int64 {
	a, b := &f.Dir[c2s], &f.Dir[s2c]
	if b.Packets == 0 || a.Packets > 0 && a.FirstFrame < b.FirstFrame {
		return a.FirstFrame
	}
	return b.FirstFrame
}

// rareOf returns f's rare part, made on first use.
func (f *Flow) rareOf() *flowRare {
	if f.rare == nil {
		f.rare = new(flowRare)
	}
	return f.rare
}

// tcpState records the handshake and teardown as seen on the wire. The
// 8-byte fields come first and the small ones share the last word: 88 bytes
// (a 96-byte allocation), for the tens of thousands of TCP flows a gateway
// holds, most of them SYNs waiting for an answer.
type tcpState struct {
	synFrame       int64 // first SYN
	rstFrame       int64
	rstTime        int64
	finFrame       [2]int64
	lastPayload    [2]int64 // unix ns of the last payload packet per side
	lastPayloadAny int64
	helloFrame     int64  // frame of the client's first payload (ClientHello when TLS)
	synCount       int32  // SYNs from the client (retransmissions = synCount-1)
	synISN         uint32 // the client's initial sequence number
	rstSide        int8   // side that sent the first RST
	rstTTL         uint8
	synSeen        bool // client SYN seen
	synAckSeen     bool
	established    bool // client ACK after SYN-ACK, or data both ways
	dataAfterRST   bool
}

// noTCP is the tcpState of every non-TCP flow: never written (updateTCP
// runs for TCP only), it saves a 96-byte allocation per UDP flow.
var noTCP tcpState

type icmpHit struct {
	frame      int64
	ts         int64
	from       netip.Addr // device that sent the ICMP error
	typ, code  uint8
	v6         bool
	forwardDir bool // quoted packet went client->server
}

// Client returns the client's address and port (derived from the key, not
// stored: a gateway keeps a hundred thousand flows).
func (f *Flow) Client() netip.AddrPort {
	if f.clientIsA {
		return f.Key.endpointA()
	}
	return f.Key.endpointB()
}

// Server returns the server's address and port.
func (f *Flow) Server() netip.AddrPort {
	if f.clientIsA {
		return f.Key.endpointB()
	}
	return f.Key.endpointA()
}

// clientPort and serverPort read the ports alone: the per-packet code
// needs them, and building an address for it would be wasted work.
func (f *Flow) clientPort() uint16 {
	if f.clientIsA {
		return f.Key.PA
	}
	return f.Key.PB
}

func (f *Flow) serverPort() uint16 {
	if f.clientIsA {
		return f.Key.PB
	}
	return f.Key.PA
}

// onPort reports whether either end uses port p.
func (f *Flow) onPort(p uint16) bool { return f.Key.PA == p || f.Key.PB == p }

func (k *FlowKey) endpointA() netip.AddrPort { return netip.AddrPortFrom(addrOf(k.A, k.V6), k.PA) }
func (k *FlowKey) endpointB() netip.AddrPort { return netip.AddrPortFrom(addrOf(k.B, k.V6), k.PB) }

// icmp returns the ICMP errors quoting this flow.
func (f *Flow) icmp() []icmpHit {
	if f.rare == nil {
		return nil
	}
	return f.rare.icmp
}

// o365 returns the Office 365 service area of the server address, "" when
// outside the ranges.
func (f *Flow) o365() string { return areaName(f.area) }

// Duration returns last-first in seconds.
func (f *Flow) Duration() float64 {
	if f.First == 0 || f.Last < f.First {
		return 0
	}
	return float64(f.Last-f.First) / 1e9
}

// Answered reports whether the server side ever sent anything.
func (f *Flow) Answered() bool { return f.Dir[s2c].Packets > 0 }
