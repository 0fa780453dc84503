package proto

// RTPHeader is the fixed RTP header (RFC 3550 §5.1) of one packet.
type RTPHeader struct {
	Marker      bool
	PayloadType uint8
	Seq         uint16
	Timestamp   uint32
	SSRC        uint32
	CSRCCount   uint8
	Extension   bool
	Padding     int // padding bytes at the end (0 when the P bit is clear)
	HeaderLen   int // 12 + CSRCs + extension
	PayloadLen  int // bytes between header and padding
}

// ParseRTP checks version 2 and that the CSRC list, header extension and
// padding fit in b. It does not reject RTCP payload types; use IsRTCP first
// on multiplexed ports (RFC 5761 §4). It never allocates.
func ParseRTP(b []byte) (RTPHeader, bool) {
	var h RTPHeader
	if len(b) < 12 || b[0]>>6 != 2 {
		return h, false
	}
	h.CSRCCount = b[0] & 0x0F
	h.Extension = b[0]&0x10 != 0
	h.Marker = b[1]&0x80 != 0
	h.PayloadType = b[1] & 0x7F
	h.Seq = be16(b[2:])
	h.Timestamp = be32(b[4:])
	h.SSRC = be32(b[8:])
	n := 12 + 4*int(h.CSRCCount)
	if h.Extension {
		if n+4 > len(b) {
			return h, false
		}
		n += 4 + 4*int(be16(b[n+2:]))
	}
	if n > len(b) {
		return h, false
	}
	h.HeaderLen = n
	end := len(b)
	if b[0]&0x20 != 0 {
		p := int(b[len(b)-1])
		if p == 0 || n+p > len(b) {
			return h, false
		}
		h.Padding = p
		end -= p
	}
	h.PayloadLen = end - n
	return h, true
}

// IsRTCP reports whether b is a (compound) RTCP packet: every packet version
// 2, type 200-207 (RFC 5761 §4 range for mux with RTP), lengths tiling b
// exactly. SRTCP's trailing index and auth tag (RFC 3711 §3.4) are tolerated
// after the first packet: the walk stops at bytes that do not look like RTCP.
func IsRTCP(b []byte) bool {
	n, _ := RTCPPackets(b)
	return n > 0
}

// RTCPPackets counts the RTCP packets in a compound datagram and returns the
// type of the first; 0 when b is not RTCP.
func RTCPPackets(b []byte) (count int, firstType uint8) {
	for off := 0; off+4 <= len(b); {
		v, pt := b[off]>>6, b[off+1]
		if v != 2 || pt < 200 || pt > 207 {
			if count == 0 {
				return 0, 0
			}
			return count, firstType // SRTCP trailer or garbage after a valid packet
		}
		size := 4 * (int(be16(b[off+2:])) + 1)
		if off+size > len(b) {
			if count == 0 {
				// SRTCP: a single encrypted packet is still whole here.
				return 0, 0
			}
			return count, firstType
		}
		if count == 0 {
			firstType = pt
		}
		count++
		off += size
	}
	if count == 0 {
		return 0, 0
	}
	return count, firstType
}
