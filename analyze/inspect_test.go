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
	s.tlsC = a.newTLSConn()
	first := s.tlsC
	first.Observe(true, 1, false, []byte{22, 3, 1, 0, 9, 1, 0}) // a record cut short: buffered
	s.stopTLS(&a.tlsFree)
	if s.tlsC != nil || len(a.tlsFree) != 1 {
		t.Fatalf("after stopTLS: conn %p, %d spare", s.tlsC, len(a.tlsFree))
	}
	c := a.newTLSConn()
	if c != first || !reflect.DeepEqual(*c, proto.TLSConn{}) || len(a.tlsFree) != 0 {
		t.Errorf("next conn reused %v, zeroed %v, %d spare left", c == first, reflect.DeepEqual(*c, proto.TLSConn{}), len(a.tlsFree))
	}
}
