package proto

import (
	"net/netip"
)

// STUN magic values.
const (
	stunCookie    = 0x2112A442 // RFC 5389 §6 header cookie
	msTURNCookie  = 0x72C64BC6 // MS-TURN MAGIC-COOKIE attribute value
	stunHeaderLen = 20
)

// STUNClass is the class of a STUN message (RFC 5389 §6).
type STUNClass uint8

// STUN classes.
const (
	ClassRequest STUNClass = iota
	ClassIndication
	ClassSuccess
	ClassError
)

func (c STUNClass) String() string {
	switch c {
	case ClassRequest:
		return "request"
	case ClassIndication:
		return "indication"
	case ClassSuccess:
		return "success"
	}
	return "error"
}

// STUNMethod is the method of a STUN/TURN/MS-TURN message.
type STUNMethod uint16

// STUN/TURN methods. MS-TURN reuses method 4 for its Send request (RFC 8656
// calls it Refresh) and method 6 for Set Active Destination (RFC 8656 Send is
// only ever an indication).
const (
	MethodBinding          STUNMethod = 0x001
	MethodSharedSecret     STUNMethod = 0x002
	MethodAllocate         STUNMethod = 0x003
	MethodRefresh          STUNMethod = 0x004 // MS-TURN: Send request
	MethodSend             STUNMethod = 0x006 // MS-TURN request: Set Active Destination
	MethodData             STUNMethod = 0x007
	MethodCreatePermission STUNMethod = 0x008
	MethodChannelBind      STUNMethod = 0x009
	MethodMSDataIndication STUNMethod = 0x0115 // MS-TURN Data Indication (cookie-less 0x0115), pseudo method
)

func (m STUNMethod) String() string {
	switch m {
	case MethodBinding:
		return "binding"
	case MethodSharedSecret:
		return "shared-secret"
	case MethodAllocate:
		return "allocate"
	case MethodRefresh:
		return "refresh"
	case MethodSend:
		return "send"
	case MethodData:
		return "data"
	case MethodCreatePermission:
		return "create-permission"
	case MethodChannelBind:
		return "channel-bind"
	case MethodMSDataIndication:
		return "ms-data-indication"
	}
	return "other"
}

// MSAttrs is a bit set of the Microsoft (and nDPI "Teams call marker")
// attributes seen in a message.
type MSAttrs uint16

// MSAttrs bits, one per attribute type.
const (
	MSAttrVersion        MSAttrs = 1 << iota // 0x8008 MS-VERSION
	MSAttrSequenceNumber                     // 0x8050 MS-SEQUENCE-NUMBER
	MSAttrServiceQuality                     // 0x8055 MS-SERVICE-QUALITY
	MSAttrCandidateID                        // 0x8054 CANDIDATE-IDENTIFIER
	MSAttrMuxSessionID                       // 0x8095 multiplexed TURN session id
	MSAttrAppID                              // 0x8037 MS-APP-ID
	MSAttrImplVersion                        // 0x8070 MS-IMPLEMENTATION-VERSION
	MSAttr24DF                               // 0x24DF nDPI marker
	MSAttr3802                               // 0x3802 nDPI marker
	MSAttr8036                               // 0x8036 nDPI marker
	MSAttr0800                               // 0x0800 nDPI marker
	MSAttr8006                               // 0x8006 nDPI marker
	MSAttrMagicCookie                        // 0x000F MS-TURN MAGIC-COOKIE
	MSAttrBandwidth                          // 0x0010 MS-TURN BANDWIDTH
)

var msAttrTypes = [...]uint16{0x8008, 0x8050, 0x8055, 0x8054, 0x8095, 0x8037, 0x8070, 0x24DF, 0x3802, 0x8036, 0x0800, 0x8006, 0x000F, 0x0010}

// NDPITeamsMarkers are the bits nDPI treats as a Teams/Skype call marker.
const NDPITeamsMarkers = MSAttrCandidateID | MSAttr24DF | MSAttr3802 | MSAttr8036 |
	MSAttrMuxSessionID | MSAttr0800 | MSAttr8006 | MSAttrImplVersion | MSAttrServiceQuality

func msAttrBit(t uint16) MSAttrs {
	for i, v := range msAttrTypes {
		if v == t {
			return 1 << i
		}
	}
	return 0
}

// STUNMessage is one parsed STUN/TURN/MS-TURN message. Slices alias the input.
type STUNMessage struct {
	Type   uint16 // raw message type
	Method STUNMethod
	Class  STUNClass
	Length int // header length field (may be non-multiple of 4 in MS-TURN)
	Size   int // bytes the message occupies: 20 + Length

	Cookie bool     // RFC 5389 magic cookie present
	MSTURN bool     // MS-TURN MAGIC-COOKIE attribute present
	TxID   [16]byte // 96-bit id in [4:16] with cookie, 128-bit RFC 3489/MS-TURN id otherwise

	ErrorCode  int            // ERROR-CODE, 0 when absent
	XORMapped  netip.AddrPort // XOR-MAPPED-ADDRESS (0x0020, or 0x8020 as MS-TURN uses)
	Mapped     netip.AddrPort // MAPPED-ADDRESS (not in an MS-TURN Allocate response)
	Relayed    netip.AddrPort // XOR-RELAYED-ADDRESS, or MS-TURN's MAPPED-ADDRESS in an Allocate response
	Peer       netip.AddrPort // XOR-PEER-ADDRESS / MS-TURN REMOTE- or DESTINATION-ADDRESS
	Username   []byte         // USERNAME value
	Data       []byte         // DATA attribute (0x0013): inner STUN or media
	MSVersion  uint32         // MS-VERSION, valid when MS&MSAttrVersion != 0
	MS         MSAttrs        // Microsoft / nDPI marker attributes seen
	Attributes int            // attribute count
}

// Ufrag returns the ICE username fragment: USERNAME up to the first ':'
// (RFC 8445 §7.2.2 "RFRAG:LFRAG"); it aliases the input.
func (m *STUNMessage) Ufrag() []byte {
	for i, c := range m.Username {
		if c == ':' {
			return m.Username[:i]
		}
	}
	return m.Username
}

// IsMicrosoft reports whether the message carries MS-TURN or Microsoft attributes.
func (m *STUNMessage) IsMicrosoft() bool { return m.MSTURN || m.MS != 0 }

// knownCookieless lists the message types accepted without the RFC 5389
// cookie (RFC 3489 and MS-TURN). Anything else without a cookie is not STUN.
func knownCookieless(t uint16) bool {
	switch t {
	case 0x0001, 0x0101, 0x0111, // binding
		0x0002, 0x0102, 0x0112, // shared secret
		0x0003, 0x0103, 0x0113, // allocate
		0x0004, 0x0104, 0x0114, // MS-TURN send
		0x0115,                 // MS-TURN data indication
		0x0006, 0x0106, 0x0116: // MS-TURN set active destination
		return true
	}
	return false
}

// ParseSTUN parses the STUN message at the start of b (b may hold more bytes,
// e.g. a TCP segment; Size says how many the message used). It accepts RFC
// 5389/8489, RFC 3489 and MS-TURN: attributes padded to 4 bytes or, as Teams
// relays send them, unpadded with a header length that is not a multiple of
// 4. Without the cookie the type must be a known one and the attributes must
// tile the message exactly. It never allocates; slices alias b.
func ParseSTUN(b []byte) (STUNMessage, bool) {
	var m STUNMessage
	if len(b) < stunHeaderLen || b[0]&0xC0 != 0 {
		return m, false
	}
	m.Type = be16(b)
	m.Length = int(be16(b[2:]))
	m.Size = stunHeaderLen + m.Length
	if m.Size > len(b) {
		return m, false
	}
	m.Cookie = be32(b[4:]) == stunCookie
	if !m.Cookie && !knownCookieless(m.Type) {
		return m, false
	}
	copy(m.TxID[:], b[4:20])
	body := b[stunHeaderLen:m.Size]
	// Padded walk first (RFC); unpadded only if that does not tile.
	padded := walkSTUN(body, true)
	if !padded && !walkSTUN(body, false) {
		return m, false
	}
	t := m.Type
	m.Class = STUNClass((t>>4)&1 | (t>>7)&2)
	m.Method = STUNMethod(t&0xF | (t>>1)&0x70 | (t>>2)&0xF80)
	if t == 0x0115 && !m.Cookie {
		m.Method, m.Class = MethodMSDataIndication, ClassIndication
	}
	m.decodeAttrs(body, padded)
	return m, true
}

// walkSTUN reports whether the attributes tile body exactly.
func walkSTUN(body []byte, pad bool) bool {
	for off := 0; off < len(body); {
		if off+4 > len(body) {
			return false
		}
		n := int(be16(body[off+2:]))
		off += 4 + n
		if off > len(body) {
			return false
		}
		if pad {
			off += (4 - n&3) & 3
			if off > len(body) {
				// a missing final pad is left to the unpadded walk
				return false
			}
		}
	}
	return true
}

func (m *STUNMessage) decodeAttrs(body []byte, pad bool) {
	var mapped netip.AddrPort
	for off := 0; off+4 <= len(body); {
		t, n := be16(body[off:]), int(be16(body[off+2:]))
		v := body[off+4 : off+4+n] // bounds proven by walkSTUN
		off += 4 + n
		if pad {
			off += (4 - n&3) & 3
		}
		m.Attributes++
		switch t {
		case 0x000F:
			if n == 4 && be32(v) == msTURNCookie {
				m.MSTURN = true
			}
		case 0x0001:
			mapped = stunAddr(v, nil)
		case 0x0020, 0x8020:
			m.XORMapped = stunAddr(v, m.xorKey())
		case 0x0016:
			m.Relayed = stunAddr(v, m.xorKey())
		case 0x0012:
			if m.Cookie {
				m.Peer = stunAddr(v, m.xorKey()) // XOR-PEER-ADDRESS; fixed below for MS-TURN
			}
		case 0x0011:
			m.Peer = stunAddr(v, nil) // MS-TURN DESTINATION-ADDRESS
		case 0x0009:
			if n >= 4 {
				m.ErrorCode = int(v[2]&7)*100 + int(v[3])
			}
		case 0x0006:
			m.Username = v
		case 0x0013:
			m.Data = v
		case 0x8008:
			if n >= 4 {
				m.MSVersion = be32(v)
			}
		}
		m.MS |= msAttrBit(t)
	}
	if m.MSTURN {
		m.MS |= MSAttrMagicCookie
		// MS-TURN REMOTE-ADDRESS (0x0012) is not XORed.
		for off := 0; off+4 <= len(body); {
			t, n := be16(body[off:]), int(be16(body[off+2:]))
			if t == 0x0012 {
				m.Peer = stunAddr(body[off+4:off+4+n], nil)
			}
			off += 4 + n
			if pad {
				off += (4 - n&3) & 3
			}
		}
		// MS-TURN returns the relayed address in MAPPED-ADDRESS (MS-TURN §2.2.2.1).
		if m.Method == MethodAllocate && m.Class == ClassSuccess {
			if !m.Relayed.IsValid() {
				m.Relayed = mapped
			}
			return
		}
	}
	m.Mapped = mapped
}

// xorKey returns the 16 bytes XOR-ed into addresses: cookie then txid.
func (m *STUNMessage) xorKey() *[16]byte {
	k := m.TxID
	k[0], k[1], k[2], k[3] = 0x21, 0x12, 0xA4, 0x42
	return &k
}

// stunAddr decodes a (XOR-)MAPPED-ADDRESS style value: reserved, family
// (1 IPv4, 2 IPv6), port, address.
func stunAddr(v []byte, key *[16]byte) netip.AddrPort {
	if len(v) < 8 {
		return netip.AddrPort{}
	}
	port := be16(v[2:])
	if key != nil {
		port ^= uint16(key[0])<<8 | uint16(key[1])
	}
	switch v[1] {
	case 1:
		var a [4]byte
		copy(a[:], v[4:8])
		if key != nil {
			for i := range a {
				a[i] ^= key[i]
			}
		}
		return netip.AddrPortFrom(netip.AddrFrom4(a), port)
	case 2:
		if len(v) < 20 {
			return netip.AddrPort{}
		}
		var a [16]byte
		copy(a[:], v[4:20])
		if key != nil {
			for i := range a {
				a[i] ^= key[i]
			}
		}
		return netip.AddrPortFrom(netip.AddrFrom16(a), port)
	}
	return netip.AddrPort{}
}
