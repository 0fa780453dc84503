package analyze

import (
	"net/netip"
)

// The facts below are what the payload parsers learned about a flow, in the
// analyzer's own terms. Detectors and the classifier read them through the
// payloadState accessors (nil = the protocol was not seen on the flow).

// stunFacts summarises STUN/TURN on a flow. 32-bit counts, and the lists
// most flows lack behind one pointer: a gateway's report holds tens of
// thousands of these.
type stunFacts struct {
	Mapped                          []netip.AddrPort // distinct XOR-MAPPED / MAPPED addresses in order seen
	more                            *stunMore        // nil when all its lists are empty
	FirstRequestFrame               int64
	Requests, Responses, Errors     int32
	BindingRequests, BindingSuccess int32
	AllocRequests, AllocSuccess     int32
	Unanswered                      int32 // requests whose transaction never got a response
	AllocUnansweredAfterChallenge   bool  // an Allocate sent after a 401 got no answer
	MSTURN                          bool
}

// stunMore are the lists of a STUN flow that most flows lack.
type stunMore struct {
	AllocErrors []int            // error codes of Allocate errors in order (401 first = normal challenge)
	Relayed     []netip.AddrPort // the TURN relayed address
	Ufrags      []string         // ICE usernames (local ufrag part), escaped
}

func (f *stunFacts) allocErrors() []int {
	if f.more == nil {
		return nil
	}
	return f.more.AllocErrors
}

func (f *stunFacts) relayed() []netip.AddrPort {
	if f.more == nil {
		return nil
	}
	return f.more.Relayed
}

func (f *stunFacts) ufrags() []string {
	if f.more == nil {
		return nil
	}
	return f.more.Ufrags
}

// rtpStreamFacts is one RTP stream (one SSRC in one direction).
type rtpStreamFacts struct {
	SSRC        uint32
	PayloadType uint8
	Dir         int8 // c2s or s2c
	Packets     int64
	Lost        int64
	Reordered   int64
	// Worst 15 s window (Microsoft's targets: loss < 1 %, jitter < 30 ms).
	WorstLossPct  float64
	WorstJitterMs float64
}

// rtpFacts summarises RTP/RTCP on a flow.
type rtpFacts struct {
	Streams []rtpStreamFacts
	RTCP    int64 // RTCP packets
}

// tlsFacts summarises TLS on a TCP flow.
type tlsFacts struct {
	SNI           string // escaped for printing
	ALPN          []string
	Versions      []string
	ServerVersion string
	CertSubject   string
	CertIssuer    string
	Alerts        []string
	PseudoTLS     bool // SfB media over TCP: pseudo-TLS handshake then MS-TURN framing
}

// httpFacts records a plain-HTTP request line seen on a flow (proxies).
type httpFacts struct {
	Method        string // CONNECT, GET, ...
	Host          string // CONNECT target host (without port) or Host header
	Port          uint16
	Status        int // response status, 0 when none seen
	RequestFrame  int64
	ResponseFrame int64
}

// sipFacts records the first SIP message of a flow.
type sipFacts struct {
	Method string // or "" for responses
	Status int
	CallID string
	From   string
	To     string
}

// dnsFailure is one name the service needs that did not resolve.
type dnsFailure struct {
	Name      string
	Rcode     string // NXDOMAIN, SERVFAIL, ..., or "no answer"
	Count     int
	Frames    []int64
	FirstSeen int64
}
