package proto

import (
	"bytes"
	"testing"
)

func TestClassify(t *testing.T) {
	mux := unhex(t, hexTeamsMSMux)
	tests := []struct {
		name string
		b    []byte
		want Kind
	}{
		{"MS-TURN allocate response", unhex(t, hexTeamsAllocOK), KindSTUN},
		{"MS-TURN data indication, no cookie", unhex(t, hexTeamsDataInd), KindSTUN},
		{"multiplexed TURN 0xFF10", mux, KindMSMux},
		{"flightproxy 0x03 GUID is not STUN", unhex(t, hexFlightProxy03), KindUnknown},
		{"flightproxy 0x06 is not STUN", unhex(t, hexFlightProxy06), KindUnknown},
		{"ChannelData", []byte{0x40, 0x01, 0, 4, 0x80, 0, 0, 1}, KindChannelData},
		{"ChannelData length past end", []byte{0x40, 0x01, 0, 9, 0x80}, KindUnknown},
		{"DTLS 1.2 handshake", append([]byte{22, 0xFE, 0xFD}, make([]byte, 20)...), KindDTLS},
		{"TLS 1.2 record", unhex(t, hexTeamsClientHello), KindTLS},
		{"RTP", rtpPacket(1, 2, 3, 0), KindRTP},
		{"RTCP SR+SDES compound", []byte{0x80, 200, 0, 1, 0, 0, 0, 1, 0x81, 202, 0, 0}, KindRTCP},
		{"RTCP length past end", []byte{0x80, 200, 0, 9, 0, 0, 0, 1}, KindUnknown},
		{"empty", nil, KindUnknown},
		{"0xFF not 0x10", []byte{0xFF, 0x11, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0}, KindUnknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.b); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	sid, inner, ok := MSMuxPayload(mux)
	if !ok || sid != 0xdeaa296708f708fc || !bytes.Equal(inner, mux[12:]) {
		t.Fatalf("MSMuxPayload: got %x %d bytes %v", sid, len(inner), ok)
	}
	if m, ok := ParseSTUN(inner); !ok || m.Type != 0x0101 || m.Size != len(inner) {
		t.Errorf("inner of 0xFF10: got %+v %v", m, ok)
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(unhex(f, hexTeamsMSMux))     // 0xFF10 with a STUN inside
	f.Add(unhex(f, hexFlightProxy03))  // 0x03 first byte that is not STUN
	f.Add([]byte{0x40, 0, 0xFF, 0xFF}) // ChannelData longer than the datagram
	f.Fuzz(func(t *testing.T, b []byte) {
		k := Classify(b)
		_ = k.String()
		if _, inner, ok := MSMuxPayload(b); ok && len(inner) > len(b) {
			t.Fatal("inner longer than frame")
		}
	})
}
