package analyze

import (
	"reflect"
	"testing"

	"github.com/sfbtrace/sfbtrace/analyze/proto"
)

// TestTLSConnReused: a finished handshake's reassembler goes back to the
// analyzer, zeroed, and the next TLS flow takes it instead of allocating.
func TestTLSConnReused(t *testing.T) {
	a := New(Options{})
	var s payloadState
	s.tcpx = &tcpPayload{tlsC: a.parsers.tls.get()}
	first := s.tcpx.tlsC
	first.Observe(true, 1, false, []byte{22, 3, 1, 0, 9, 1, 0}) // a record cut short: buffered
	s.stopTLS(&a.parsers)
	if s.tcpx.tlsC != nil || len(a.parsers.tls.free) != 1 {
		t.Fatalf("after stopTLS: conn %p, %d spare", s.tcpx.tlsC, len(a.parsers.tls.free))
	}
	c := a.parsers.tls.get()
	if c != first || !reflect.DeepEqual(*c, proto.TLSConn{}) || len(a.parsers.tls.free) != 0 {
		t.Errorf("next conn reused %v, zeroed %v, %d spare left", c == first, reflect.DeepEqual(*c, proto.TLSConn{}), len(a.parsers.tls.free))
	}
}

// TestMediaParsersReused: freezing a media flow (its timeout passed) gives
// its STUN and RTP parsers back, zeroed, for the next media flow; the
// spares are bounded.
func TestMediaParsersReused(t *testing.T) {
	a := New(Options{})
	var s payloadState
	s.stunS, s.rtpS = a.parsers.stun.get(), a.parsers.rtp.get()
	st, rt := s.stunS, s.rtpS
	st.Requests, rt.NotRTP = 3, 2
	s.freezeInto(&a.parsers)
	if s.stunS != nil || s.rtpS != nil || len(a.parsers.stun.free) != 1 || len(a.parsers.rtp.free) != 1 {
		t.Fatalf("after freeze: parsers %p %p, %d and %d spare", s.stunS, s.rtpS, len(a.parsers.stun.free), len(a.parsers.rtp.free))
	}
	if a.parsers.stun.get() != st || !reflect.DeepEqual(*st, proto.STUNStats{}) || a.parsers.rtp.get() != rt || !reflect.DeepEqual(*rt, proto.RTPStats{}) {
		t.Error("the next flow's parsers are not the released ones, zeroed")
	}
	for range poolMax + 10 {
		a.parsers.rtp.put(new(proto.RTPStats))
	}
	if n := len(a.parsers.rtp.free); n != poolMax {
		t.Errorf("%d spare RTP parsers kept, want at most %d", n, poolMax)
	}
}
