package proto

// Framing is how STUN messages are delimited on a TCP stream.
type Framing uint8

// Framing values.
const (
	FramingUnknown Framing = iota
	FramingPlain           // back to back, ChannelData padded to 4 (RFC 8656 §12.5)
	FramingRFC4571         // 2-byte length prefix (RFC 4571, used by RFC 6544 ICE-TCP)
	FramingMSTURN          // MS-TURN TCP: type 0x02 control / 0x03 data, reserved, 2-byte length
)

func (f Framing) String() string {
	switch f {
	case FramingPlain:
		return "plain"
	case FramingRFC4571:
		return "rfc4571"
	case FramingMSTURN:
		return "ms-turn"
	}
	return "unknown"
}

// stunStreamBuf bounds the bytes carried from one segment to the next: a
// STUN control message is far smaller; bigger frames are skipped, not kept.
const stunStreamBuf = 2048

// STUNStream splits one direction of a TCP stream into STUN messages. It
// detects the framing from the first frame (plain, RFC 4571 or MS-TURN, the
// last possibly after a pseudo-TLS handshake whose records are skipped),
// carries a partial message over to the next segment in a fixed buffer and
// skips media frames without copying them. Once it loses frame sync it stops
// (Broken) rather than guess. Feed it segments in sequence order.
//
// Use: s.Write(seg); for { m, ok := s.Next(); if !ok { break }; ... }.
// A message returned by Next aliases seg or the stream's buffer and is valid
// until the next Write or Next.
type STUNStream struct {
	Framing    Framing
	Messages   int  // STUN messages returned
	DataFrames int  // media/ChannelData/MS-TURN data frames (returned by NextFrame, or skipped)
	TLSRecords int  // TLS records skipped before the framing started
	Oversized  int  // STUN frames longer than the carry buffer, skipped
	Broken     bool // frame sync lost; nothing more is parsed

	in   []byte
	skip int
	r, n int // unread carried bytes are buf[r:n]
	buf  [stunStreamBuf]byte
}

// Resync drops a carried partial frame after bytes were lost, so that
// parsing restarts at the next segment (which usually starts a frame).
func (s *STUNStream) Resync() {
	s.r, s.n, s.skip, s.in = 0, 0, 0, nil
}

// Write hands the stream the next in-order segment payload.
func (s *STUNStream) Write(p []byte) { s.in = p }

type frameKind uint8

const (
	frameNeedMore frameKind = iota
	frameSTUN
	frameSkip
	frameTLS
	frameBad
)

// frame inspects the frame at the start of v and returns its kind, total size
// and the offset of the STUN message inside it.
func (s *STUNStream) frame(v []byte) (kind frameKind, size, off int) {
	if len(v) == 0 {
		return frameNeedMore, 0, 0
	}
	if s.Framing == FramingUnknown {
		if c := v[0]; c >= 20 && c <= 23 {
			// Pseudo-TLS (SfB) or real TLS: skip records until the framing shows.
			if len(v) < 5 {
				return frameNeedMore, 0, 0
			}
			if v[1] != 3 {
				return frameBad, 0, 0
			}
			return frameTLS, 5 + int(be16(v[3:])), 0
		}
		if len(v) < 24 {
			return frameNeedMore, 0, 0
		}
		l := int(be16(v))
		switch {
		case v[2]&0xC0 == 0 && 2+stunHeaderLen+int(be16(v[4:])) == 2+l && l >= stunHeaderLen && be32(v[6:]) == stunCookie:
			s.Framing = FramingRFC4571
		case (v[0] == 2 || v[0] == 3) && v[1] == 0 && 4+stunHeaderLen+int(be16(v[6:])) == 4+int(be16(v[2:])):
			s.Framing = FramingMSTURN
		case v[0]&0xC0 == 0 && (be32(v[4:]) == stunCookie || knownCookieless(be16(v))):
			s.Framing = FramingPlain
		case v[0] >= 0x40 && v[0] <= 0x7F:
			s.Framing = FramingPlain
		case 2+l > 2 && len(v) >= 3 && v[2] >= 128 && v[2] <= 191:
			s.Framing = FramingRFC4571 // RFC 4571 carrying RTP/RTCP first
		default:
			return frameBad, 0, 0
		}
	}
	switch s.Framing {
	case FramingRFC4571:
		if len(v) < 3 {
			return frameNeedMore, 0, 0
		}
		size = 2 + int(be16(v))
		if v[2]&0xC0 == 0 {
			return frameSTUN, size, 2
		}
		return frameSkip, size, 2
	case FramingMSTURN:
		if len(v) < 4 {
			return frameNeedMore, 0, 0
		}
		if v[1] != 0 || (v[0] != 2 && v[0] != 3) {
			return frameBad, 0, 0
		}
		size = 4 + int(be16(v[2:]))
		if v[0] == 2 {
			return frameSTUN, size, 4
		}
		return frameSkip, size, 4
	default: // plain
		if len(v) < 4 {
			return frameNeedMore, 0, 0
		}
		switch c := v[0]; {
		case c&0xC0 == 0:
			return frameSTUN, stunHeaderLen + int(be16(v[2:])), 0
		case c >= 0x40 && c <= 0x7F:
			n := 4 + int(be16(v[2:]))
			return frameSkip, (n + 3) &^ 3, 0
		}
		return frameBad, 0, 0
	}
}

// Next returns the next complete STUN message (without framing bytes),
// skipping media frames.
func (s *STUNStream) Next() ([]byte, bool) {
	for {
		b, stun, ok := s.NextFrame()
		if !ok || stun {
			return b, ok
		}
	}
}

// NextFrame returns the next complete frame without its framing bytes:
// a STUN message (stun true), or a media frame (ChannelData with its 4-byte
// header, an MS-TURN 0x03 data payload, or an RFC 4571 RTP/RTCP/DTLS
// packet) so that relayed media over TCP can be fed to RTPStats. Media
// frames larger than the carry buffer that span segments are skipped and
// counted, not returned.
func (s *STUNStream) NextFrame() (frame []byte, stun bool, ok bool) {
	for !s.Broken {
		if s.skip > 0 {
			d := min(s.skip, len(s.in))
			s.skip -= d
			s.in = s.in[d:]
			if s.skip > 0 {
				return nil, false, false
			}
		}
		if s.r < s.n {
			// Carried bytes: parse from the buffer, topping it up from in.
			if s.r > 0 {
				s.n = copy(s.buf[:], s.buf[s.r:s.n])
				s.r = 0
			}
			kind, size, off := s.frame(s.buf[:s.n])
			switch {
			case kind == frameBad:
				s.Broken = true
				return nil, false, false
			case kind != frameNeedMore && size <= s.n:
				s.r = size
				if m, st, ok := s.emit(kind, s.buf[:size], off); ok {
					return m, st, true
				}
				continue
			case kind != frameNeedMore && size > stunStreamBuf:
				// Too big to carry: drop what we hold and skip the rest.
				s.countSkipped(kind)
				s.skip = size - s.n
				s.r, s.n = 0, 0
				continue
			}
			if len(s.in) == 0 || s.n == stunStreamBuf {
				return nil, false, false
			}
			d := copy(s.buf[s.n:], s.in)
			s.n += d
			s.in = s.in[d:]
			continue
		}
		s.r, s.n = 0, 0
		if len(s.in) == 0 {
			return nil, false, false
		}
		kind, size, off := s.frame(s.in)
		switch {
		case kind == frameBad:
			s.Broken = true
			return nil, false, false
		case kind != frameNeedMore && size > len(s.in) && size > stunStreamBuf:
			s.countSkipped(kind)
			s.skip = size - len(s.in)
			s.in = nil
			return nil, false, false
		case kind == frameNeedMore || size > len(s.in):
			s.n = copy(s.buf[:], s.in)
			s.in = nil
			return nil, false, false
		}
		v := s.in[:size]
		s.in = s.in[size:]
		if m, st, ok := s.emit(kind, v, off); ok {
			return m, st, true
		}
	}
	return nil, false, false
}

func (s *STUNStream) countSkipped(kind frameKind) {
	switch kind {
	case frameTLS:
		s.TLSRecords++
	case frameSTUN:
		s.Oversized++
	default:
		s.DataFrames++
	}
}

func (s *STUNStream) emit(kind frameKind, v []byte, off int) ([]byte, bool, bool) {
	switch kind {
	case frameSTUN:
		s.Messages++
		return v[off:], true, true
	case frameSkip:
		s.DataFrames++
		return v[off:], false, true
	}
	s.countSkipped(kind)
	return nil, false, false
}
