package proto

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"
)

// Bounds of the per-flow STUN state.
const (
	stunMaxTxns      = 16 // outstanding transactions matched against responses (ICE pacing keeps few in flight per flow)
	stunMaxMapped    = 4
	stunMaxUsernames = 8
	stunMaxErrors    = 16
)

// stunTxn is a pending or answered transaction of the table. Its id, a
// 64-bit digest of the 128-bit one, sits in a separate array (txnIDs):
// together they would pad to 16 bytes an entry, and a gateway holds tens
// of thousands of live media flows. Ids are random, so two pending ones of
// a flow colliding is out of reach.
type stunTxn struct {
	method   STUNMethod
	answered bool
	used     bool
}

// txnKey digests a transaction id for the table.
func txnKey(id *[16]byte) uint64 {
	a, b := binary.LittleEndian.Uint64(id[:8]), binary.LittleEndian.Uint64(id[8:])
	return (a ^ bits.RotateLeft64(b, 29)) * 0x9E3779B97F4A7C15
}

// STUNStats follows the STUN/TURN/MS-TURN exchange of one flow. The zero
// value is ready; Observe does not allocate except when a new ICE username or
// the TCP reassembly buffers (once per direction) appear.
type STUNStats struct {
	Messages    int // STUN messages parsed (including ones inside MS-TURN DATA)
	Malformed   int // payloads starting like STUN (first byte 0-3) that did not parse
	Other       int // UDP payloads that are not STUN by their first byte (media, DTLS, ...)
	MSMux       int // UDP payloads in MS multiplexed TURN (0xFF10) framing
	Requests    int // request messages, retransmissions included
	Responses   int // success responses
	Errors      int // error responses
	Indications int
	Retransmits int // requests whose transaction id was already pending

	BindingRequests  int
	BindingSuccesses int
	BindingErrors    int

	AllocateRequests   int
	AllocateSuccesses  int
	AllocateErrorCodes [stunMaxErrors]uint16 // in order seen, bounded
	NumAllocateErrors  int
	AllocateOKAfter401 bool // an Allocate succeeded after a 401 challenge

	Mapped        [stunMaxMapped]netip.AddrPort // distinct XOR-MAPPED/MAPPED, in order seen
	NumMapped     int
	MappedChanged bool // a second distinct reflexive address: the NAT mapping changed
	Relayed       netip.AddrPort

	MSVersion uint32
	MSTURN    bool
	saw401    bool // an Allocate was challenged (401)
	MS        MSAttrs
	Usernames []string // distinct ICE ufrags (before ':'), bounded

	Answered int // transactions with a response
	Evicted  int // pending transactions dropped from the bounded table

	TCPRetransmits int // ObserveTCP: segments (or parts) already fed, dropped
	TCPGaps        int // ObserveTCP: missing data; framing restarted at the next segment

	// FirstFrame is the frame of the first message: the caller sets it
	// (the parser does not see frames).
	FirstFrame int64

	txnIDs  [stunMaxTxns]uint64
	txns    [stunMaxTxns]stunTxn
	stream  [2]*STUNStream // TCP framing, per direction (0 server->client, 1 client->server)
	tcpNext [2]uint32      // ObserveTCP: next expected sequence number
	next    int32          // the ring's next slot; int32 packs it beside seqOK
	seqOK   [2]bool
}

// ObserveTCP feeds one TCP segment in capture order: it uses seq to drop
// retransmitted bytes and, after a gap (a segment lost before the capture
// point), restarts framing at the new segment rather than misparse.
// Segments must carry payload; SYN/FIN-only segments are ignored.
func (s *STUNStats) ObserveTCP(fromClient bool, seq uint32, payload []byte) {
	if len(payload) == 0 {
		return
	}
	d := 0
	if fromClient {
		d = 1
	}
	if s.seqOK[d] {
		switch off := int32(seq - s.tcpNext[d]); {
		case off < 0:
			if int(-off) >= len(payload) {
				s.TCPRetransmits++
				return
			}
			s.TCPRetransmits++
			payload = payload[-off:]
			seq = s.tcpNext[d]
		case off > 0:
			s.TCPGaps++
			if st := s.stream[d]; st != nil {
				st.Resync()
			}
		}
	}
	s.tcpNext[d], s.seqOK[d] = seq+uint32(len(payload)), true
	s.Observe(fromClient, payload, true)
}

// Observe feeds one payload of the flow. For TCP, payload is the next
// in-order segment of that direction.
func (s *STUNStats) Observe(fromClient bool, payload []byte, tcp bool) {
	if !tcp {
		// Teams wraps ICE checks in multiplexed TURN (0xFF10) frames.
		if _, inner, ok := MSMuxPayload(payload); ok {
			s.MSMux++
			payload = inner
		}
		if len(payload) == 0 || payload[0] > 3 {
			s.Other++ // media, DTLS, ChannelData: not ours to judge
			return
		}
		m, ok := ParseSTUN(payload)
		if !ok {
			s.Malformed++
			return
		}
		s.observe(fromClient, &m, true)
		return
	}
	d := 0
	if fromClient {
		d = 1
	}
	st := s.stream[d]
	if st == nil {
		st = new(STUNStream)
		s.stream[d] = st
	}
	st.Write(payload)
	for {
		b, ok := st.Next()
		if !ok {
			return
		}
		if m, ok := ParseSTUN(b); ok {
			s.observe(fromClient, &m, true)
		} else {
			s.Malformed++
		}
	}
}

// Framing returns the TCP framing detected in either direction.
func (s *STUNStats) Framing() Framing {
	for _, st := range s.stream {
		if st != nil && st.Framing != FramingUnknown {
			return st.Framing
		}
	}
	return FramingUnknown
}

func (s *STUNStats) observe(fromClient bool, m *STUNMessage, outer bool) {
	s.Messages++
	s.MS |= m.MS
	if m.MSTURN {
		s.MSTURN = true
	}
	if m.MS&MSAttrVersion != 0 {
		s.MSVersion = m.MSVersion
	}
	switch m.Class {
	case ClassRequest:
		s.Requests++
		if s.addTxn(m) {
			s.Retransmits++
		} else {
			switch m.Method {
			case MethodBinding:
				s.BindingRequests++
			case MethodAllocate:
				s.AllocateRequests++
			}
		}
		// ICE checks carry "RFRAG:LFRAG"; TURN/MS-TURN usernames are opaque tokens.
		if m.Method == MethodBinding && len(m.Username) > 0 && printable(m.Username) {
			s.addUsername(m.Ufrag())
		}
	case ClassSuccess, ClassError:
		if m.Class == ClassSuccess {
			s.Responses++
		} else {
			s.Errors++
		}
		s.answer(m)
		switch m.Method {
		case MethodBinding:
			if m.Class == ClassSuccess {
				s.BindingSuccesses++
			} else {
				s.BindingErrors++
			}
		case MethodAllocate:
			if m.Class == ClassSuccess {
				s.AllocateSuccesses++
				if s.saw401 {
					s.AllocateOKAfter401 = true
				}
				if m.Relayed.IsValid() {
					s.Relayed = m.Relayed
				}
			} else {
				if m.ErrorCode == 401 {
					s.saw401 = true
				}
				if s.NumAllocateErrors < stunMaxErrors {
					s.AllocateErrorCodes[s.NumAllocateErrors] = uint16(m.ErrorCode)
					s.NumAllocateErrors++
				}
			}
		}
		// Only answers to the client describe the client's NAT mapping; relayed
		// inner checks report the peer's view of the relay, not our NAT.
		if outer && !fromClient && m.Class == ClassSuccess {
			if a := m.XORMapped; a.IsValid() {
				s.addMapped(a)
			} else if a := m.Mapped; a.IsValid() {
				s.addMapped(a)
			}
		}
	default:
		s.Indications++
	}
	// MS-TURN Send / Data Indication and TURN Send/Data carry the ICE check.
	if outer && len(m.Data) >= stunHeaderLen && m.Data[0]&0xC0 == 0 {
		if in, ok := ParseSTUN(m.Data); ok {
			s.observe(fromClient, &in, false)
		}
	}
}

// addTxn records a request; it reports whether the id was already pending.
func (s *STUNStats) addTxn(m *STUNMessage) bool {
	k := txnKey(&m.TxID)
	for i := range s.txns {
		if t := &s.txns[i]; t.used && s.txnIDs[i] == k {
			return true
		}
	}
	t := &s.txns[s.next]
	if t.used && !t.answered {
		s.Evicted++
	}
	*t = stunTxn{method: m.Method, used: true}
	s.txnIDs[s.next] = k
	s.next = (s.next + 1) % stunMaxTxns
	return false
}

func (s *STUNStats) answer(m *STUNMessage) {
	k := txnKey(&m.TxID)
	for i := range s.txns {
		if t := &s.txns[i]; t.used && s.txnIDs[i] == k {
			if !t.answered {
				t.answered = true
				s.Answered++
			}
			return
		}
	}
}

// Unanswered returns the requests (distinct transactions) still pending in
// the table, in total and for Allocate.
func (s *STUNStats) Unanswered() (all, allocate int) {
	for i := range s.txns {
		if t := &s.txns[i]; t.used && !t.answered {
			all++
			if t.method == MethodAllocate {
				allocate++
			}
		}
	}
	return all + s.Evicted, allocate
}

func (s *STUNStats) addMapped(a netip.AddrPort) {
	for _, m := range s.Mapped[:s.NumMapped] {
		if m == a {
			return
		}
	}
	if s.NumMapped > 0 {
		s.MappedChanged = true
	}
	if s.NumMapped < stunMaxMapped {
		s.Mapped[s.NumMapped] = a
		s.NumMapped++
	}
}

func (s *STUNStats) addUsername(u []byte) {
	for _, v := range s.Usernames {
		if v == string(u) { // no allocation: compiler compares in place
			return
		}
	}
	if len(s.Usernames) < stunMaxUsernames {
		s.Usernames = append(s.Usernames, string(u))
	}
}

// AllocateFailed reports whether TURN allocation failed: an Allocate was
// sent and none succeeded, with a non-401 error or no answer at all. A 401
// alone is the normal authentication challenge.
func (s *STUNStats) AllocateFailed() bool {
	if s.AllocateRequests == 0 || s.AllocateSuccesses > 0 {
		return false
	}
	return true
}

// STUNSummary is the JSON form of a flow's STUN statistics.
type STUNSummary struct {
	Requests           int      `json:"requests"`
	Responses          int      `json:"responses"`
	Errors             int      `json:"errors"`
	Answered           int      `json:"answered"`
	Unanswered         int      `json:"unanswered"`
	BindingRequests    int      `json:"binding_requests"`
	BindingSuccesses   int      `json:"binding_successes"`
	AllocateRequests   int      `json:"allocate_requests"`
	AllocateSuccesses  int      `json:"allocate_successes"`
	AllocateErrors     []int    `json:"allocate_errors"`
	AllocateUnanswered int      `json:"allocate_unanswered"`
	AllocateOKAfter401 bool     `json:"allocate_ok_after_401"`
	AllocateFailed     bool     `json:"allocate_failed"`
	MSTURN             bool     `json:"ms_turn"`
	MSVersion          uint32   `json:"ms_version,omitempty"`
	MSAttributes       []string `json:"ms_attributes,omitempty"`
	Mapped             []string `json:"mapped"`
	MappedChanged      bool     `json:"mapped_changed"`
	Relayed            string   `json:"relayed,omitempty"`
	Usernames          []string `json:"usernames,omitempty"`
	Framing            string   `json:"framing,omitempty"`
}

// Summary returns the JSON-ready summary (allocates; call once per flow).
func (s *STUNStats) Summary() STUNSummary {
	un, ua := s.Unanswered()
	out := STUNSummary{
		Requests:           s.Requests,
		Responses:          s.Responses,
		Errors:             s.Errors,
		Answered:           s.Answered,
		Unanswered:         un,
		BindingRequests:    s.BindingRequests,
		BindingSuccesses:   s.BindingSuccesses,
		AllocateRequests:   s.AllocateRequests,
		AllocateSuccesses:  s.AllocateSuccesses,
		AllocateErrors:     []int{},
		AllocateUnanswered: ua,
		AllocateOKAfter401: s.AllocateOKAfter401,
		AllocateFailed:     s.AllocateFailed(),
		MSTURN:             s.MSTURN,
		MSVersion:          s.MSVersion,
		Mapped:             []string{},
		MappedChanged:      s.MappedChanged,
		Usernames:          s.Usernames,
	}
	for _, c := range s.AllocateErrorCodes[:s.NumAllocateErrors] {
		out.AllocateErrors = append(out.AllocateErrors, int(c))
	}
	for _, a := range s.Mapped[:s.NumMapped] {
		out.Mapped = append(out.Mapped, a.String())
	}
	if s.Relayed.IsValid() {
		out.Relayed = s.Relayed.String()
	}
	for i, t := range msAttrTypes {
		if s.MS&(1<<i) != 0 {
			out.MSAttributes = append(out.MSAttributes, fmt.Sprintf("0x%04X", t))
		}
	}
	if f := s.Framing(); f != FramingUnknown {
		out.Framing = f.String()
	}
	return out
}

// String is a one-line human summary, for debugging.
func (s *STUNStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "req=%d resp=%d err=%d alloc=%d/%d codes=%v mapped=%v ms=%v",
		s.Requests, s.Responses, s.Errors, s.AllocateSuccesses, s.AllocateRequests,
		s.AllocateErrorCodes[:s.NumAllocateErrors], s.Mapped[:s.NumMapped], s.MSTURN)
	return b.String()
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}
