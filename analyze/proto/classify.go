package proto

// Kind is what the first bytes of a UDP (or de-framed TCP) payload look like.
type Kind uint8

// Kind values. The ranges follow RFC 7983 §7 (first byte 0-3 STUN, 16-19 ZRTP,
// 20-63 DTLS, 64-79 TURN ChannelData, 128-191 RTP/RTCP) extended with
// Microsoft's multiplexed TURN framing (0xFF 0x10), which RFC 7983 cannot see.
const (
	KindUnknown     Kind = iota
	KindSTUN             // STUN/TURN/MS-TURN message that parses structurally
	KindChannelData      // TURN ChannelData, channel 0x4000-0x7FFF
	KindDTLS             // DTLS record (content type 20-63 with DTLS version)
	KindRTP              // RTP version 2, not an RTCP payload type
	KindRTCP             // RTCP version 2, packet type 200-207
	KindMSMux            // MS multiplexed TURN: 0xFF10, length, session id
	KindTLS              // TLS record (content type 20-23, version 3.x)
)

var kindNames = [...]string{"unknown", "stun", "channeldata", "dtls", "rtp", "rtcp", "ms-mux", "tls"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Classify demultiplexes one datagram by its first bytes (RFC 7983) and a
// cheap structural check of the candidate protocol; it never allocates.
func Classify(b []byte) Kind {
	if len(b) == 0 {
		return KindUnknown
	}
	switch c := b[0]; {
	case c <= 3:
		if _, ok := ParseSTUN(b); ok {
			return KindSTUN
		}
	case c >= 20 && c <= 23 && len(b) >= 5 && b[1] == 3 && b[2] <= 4:
		// TLS 1.0-1.3 record header; DTLS uses 0xFEFx and is tested below.
		return KindTLS
	case c >= 20 && c <= 63:
		if len(b) >= 13 && b[1] == 0xFE && b[2] >= 0xFC {
			return KindDTLS
		}
	case c >= 64 && c <= 127:
		// RFC 8656 §12: ChannelData length must fit the datagram (padding allowed).
		if len(b) >= 4 && int(b[2])<<8|int(b[3])+4 <= len(b) {
			return KindChannelData
		}
	case c >= 128 && c <= 191:
		if IsRTCP(b) {
			return KindRTCP
		}
		if _, ok := ParseRTP(b); ok {
			return KindRTP
		}
	case c == 0xFF:
		if len(b) >= 12 && b[1] == 0x10 && int(b[2])<<8|int(b[3])+4 <= len(b) {
			return KindMSMux
		}
	}
	return KindUnknown
}

// MSMuxPayload returns the inner payload of a Microsoft multiplexed TURN frame
// (0xFF10, 2-byte length, 8-byte session id) and the session id; the payload
// aliases b. The length counts the session id and the payload.
func MSMuxPayload(b []byte) (session uint64, inner []byte, ok bool) {
	if len(b) < 12 || b[0] != 0xFF || b[1] != 0x10 {
		return 0, nil, false
	}
	n := int(b[2])<<8 | int(b[3])
	if n < 8 || 4+n > len(b) {
		return 0, nil, false
	}
	return be64(b[4:]), b[12 : 4+n], true
}

func be16(b []byte) uint16 { _ = b[1]; return uint16(b[0])<<8 | uint16(b[1]) }
func be32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func be64(b []byte) uint64 { _ = b[7]; return uint64(be32(b))<<32 | uint64(be32(b[4:])) }
