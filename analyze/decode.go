package analyze

import (
	"encoding/binary"
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// IP protocol numbers the analyzer tracks.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// TCP flag bits as on the wire (byte 13 of the header).
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// decodeResult is what the flow table needs from one packet. It is reused
// across packets: slices alias the packet's data.
type decodeResult struct {
	ipv6     bool
	src, dst [16]byte // IPv4 in the first 4 bytes
	ttl      uint8    // IPv4 TTL or IPv6 hop limit
	proto    uint8
	srcPort  uint16
	dstPort  uint16
	tcpFlags uint8
	seq, ack uint32
	payload  []byte

	icmpType, icmpCode uint8
	icmpQuote          []byte // quoted datagram of an ICMP error (IP header onwards)

	fragment bool // non-first IP fragment: counted, not decoded
}

// decodeStatus says what happened to a packet.
type decodeStatus uint8

const (
	decodedOK    decodeStatus = iota
	decodedNonIP              // decoded fine, but no IP layer (ARP, LLDP, ...)
	decodedUnknownLink
	decodedMalformed
	decodedTruncated // cut by the capture's snaplen before the transport header ended
	decodedFragment
	decodedEmpty
)

// decoder owns the gopacket layers and one DecodingLayerParser per first
// layer, all sharing the same preallocated layer structs: no allocation per
// packet.
type decoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	gre     layers.GRE
	ip4     checkedIPv4
	ip6     checkedIPv6
	ip6ext  layers.IPv6ExtensionSkipper
	ip6frag layers.IPv6Fragment
	tcp     layers.TCP
	udp     layers.UDP
	icmp4   layers.ICMPv4
	icmp6   layers.ICMPv6
	payload gopacket.Payload

	// One parser per first layer, picked by a switch on the link type (a
	// map lookup per packet showed in profiles).
	ethP, sllP, sll2P, loopP *gopacket.DecodingLayerParser
	ipv4P, ipv6P             *gopacket.DecodingLayerParser
	decoded                  []gopacket.LayerType

	lastErr   error  // last decode error, for the problem reason
	failLayer string // layer that failed to decode
}

func newDecoder() *decoder {
	d := &decoder{decoded: make([]gopacket.LayerType, 0, 16)}
	all := []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.gre,
		&d.ip4, &d.ip6, &d.ip6ext, &d.ip6frag, &d.tcp, &d.udp, &d.icmp4, &d.icmp6, &d.payload}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first)
		// A sparse slice indexed by layer type: the default map costs a
		// hash lookup per layer per packet (visible in profiles).
		var c gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
		for _, l := range all {
			c = c.Put(l)
		}
		p.SetDecodingLayerContainer(c)
		return p
	}
	d.ipv4P = mk(layers.LayerTypeIPv4)
	d.ipv6P = mk(layers.LayerTypeIPv6)
	d.ethP = mk(layers.LayerTypeEthernet)
	d.sllP = mk(layers.LayerTypeLinuxSLL)
	d.sll2P = mk(layers.LayerTypeLinuxSLL2)
	d.loopP = mk(layers.LayerTypeLoopback)
	return d
}

// decode fills r from one packet. wireLen is the original length, used to
// tell snaplen truncation from malformed headers.
func (d *decoder) decode(lt layers.LinkType, data []byte, wireLen int, r *decodeResult) decodeStatus {
	*r = decodeResult{}
	if len(data) == 0 {
		return decodedEmpty
	}
	var p *gopacket.DecodingLayerParser
	switch lt {
	case layers.LinkTypeEthernet:
		p = d.ethP
	case layers.LinkTypeLinuxSLL:
		p = d.sllP
	case layers.LinkTypeLinuxSLL2:
		p = d.sll2P
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		p = d.loopP
	case 12, 14, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		p = d.rawIP(data)
	case layers.LinkTypePPP:
		// RFC 1661 framing as libpcap stores it: optional ff 03, then a
		// 2-byte protocol (0x0021 IPv4, 0x0057 IPv6).
		if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 {
			data = data[2:]
		}
		if len(data) < 2 {
			return d.malformed("ppp", errShort, len(data), wireLen)
		}
		switch binary.BigEndian.Uint16(data) {
		case 0x0021:
			p = d.ipv4P
		case 0x0057:
			p = d.ipv6P
		default:
			return decodedNonIP
		}
		data = data[2:]
	default:
		return decodedUnknownLink
	}
	if p == nil {
		return d.malformed("ip", errBadVersion, len(data), wireLen)
	}
	err := p.DecodeLayers(data, &d.decoded)
	// A type assertion, not errors.As: &target would escape and allocate.
	if _, unsupported := err.(gopacket.UnsupportedLayerType); err != nil && !unsupported {
		if d.fill(r) && (r.proto == protoICMP || r.proto == protoICMPv6) {
			// An ICMP error whose quote is cut is still worth its header.
			return decodedOK
		}
		return d.malformed(d.failingLayer(), err, len(data), wireLen)
	}
	if !d.fill(r) {
		if r.fragment {
			return decodedFragment
		}
		return decodedNonIP
	}
	if r.proto == 0 {
		return decodedNonIP
	}
	return decodedOK
}

// checkedIPv4 and checkedIPv6 refuse a header whose version nibble is not
// theirs (gopacket decodes "IPv4" version 5 under EtherType 0x0800 as
// IPv4; tshark does not). The reader's sharding hash goes by the nibble,
// so a flow keyed from such a header could land on two shards.
type checkedIPv4 struct{ layers.IPv4 }

func (ip *checkedIPv4) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) > 0 && data[0]>>4 != 4 {
		return errBadVersion
	}
	return ip.IPv4.DecodeFromBytes(data, df)
}

type checkedIPv6 struct{ layers.IPv6 }

func (ip *checkedIPv6) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) > 0 && data[0]>>4 != 6 {
		return errBadVersion
	}
	return ip.IPv6.DecodeFromBytes(data, df)
}

var (
	errShort      = errors.New("too short")
	errBadVersion = errors.New("IP version nibble is neither 4 nor 6")
)

func (d *decoder) rawIP(data []byte) *gopacket.DecodingLayerParser {
	switch data[0] >> 4 {
	case 4:
		return d.ipv4P
	case 6:
		return d.ipv6P
	}
	return nil
}

func (d *decoder) malformed(layer string, err error, capLen, wireLen int) decodeStatus {
	d.lastErr = err
	d.failLayer = layer
	if capLen < wireLen {
		return decodedTruncated
	}
	return decodedMalformed
}

// failingLayer names the layer after the last one decoded.
func (d *decoder) failingLayer() string {
	if len(d.decoded) == 0 {
		return "link"
	}
	switch d.decoded[len(d.decoded)-1] {
	case layers.LayerTypeEthernet:
		return layerName(d.eth.NextLayerType())
	case layers.LayerTypeDot1Q:
		return layerName(d.dot1q.NextLayerType())
	case layers.LayerTypeLinuxSLL:
		return layerName(d.sll.NextLayerType())
	case layers.LayerTypeLinuxSLL2:
		return layerName(d.sll2.NextLayerType())
	case layers.LayerTypeLoopback:
		return layerName(d.loop.NextLayerType())
	case layers.LayerTypeGRE:
		return layerName(d.gre.NextLayerType())
	case layers.LayerTypeIPv4:
		return layerName(d.ip4.NextLayerType())
	case layers.LayerTypeIPv6:
		return layerName(d.ip6.NextLayerType())
	case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
		return layerName(d.ip6ext.NextLayerType())
	case layers.LayerTypeIPv6Fragment:
		return "ipv6"
	}
	return "transport"
}

func layerName(t gopacket.LayerType) string {
	switch t {
	case layers.LayerTypeIPv4:
		return "ipv4"
	case layers.LayerTypeIPv6:
		return "ipv6"
	case layers.LayerTypeTCP:
		return "tcp"
	case layers.LayerTypeUDP:
		return "udp"
	case layers.LayerTypeICMPv4:
		return "icmp"
	case layers.LayerTypeICMPv6:
		return "icmpv6"
	case layers.LayerTypeDot1Q:
		return "vlan"
	case layers.LayerTypeEthernet:
		return "ethernet"
	case layers.LayerTypeGRE:
		return "gre"
	}
	return "ip"
}

// fill copies the innermost IP and transport layer into r. It reports
// whether an IP layer was decoded.
func (d *decoder) fill(r *decodeResult) bool {
	haveIP := false
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			haveIP = true
			r.ipv6 = false
			r.src, r.dst = [16]byte{}, [16]byte{}
			copy(r.src[:], d.ip4.SrcIP.To4())
			copy(r.dst[:], d.ip4.DstIP.To4())
			r.ttl = d.ip4.TTL
			r.proto = uint8(d.ip4.Protocol)
			r.fragment = false
			if d.ip4.FragOffset != 0 {
				r.fragment = true
				r.proto = 0
			} else if d.ip4.Flags&layers.IPv4MoreFragments != 0 {
				// First fragment: gopacket stops here; read the
				// transport ports ourselves so the flow is not lost.
				d.firstFragment(r, d.ip4.Payload)
			}
		case layers.LayerTypeIPv6:
			haveIP = true
			r.ipv6 = true
			copy(r.src[:], d.ip6.SrcIP.To16())
			copy(r.dst[:], d.ip6.DstIP.To16())
			r.ttl = d.ip6.HopLimit
			r.proto = uint8(d.ip6.NextHeader)
			r.fragment = false
		case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
			r.proto = uint8(d.ip6ext.NextHeader)
		case layers.LayerTypeIPv6Fragment:
			r.proto = uint8(d.ip6frag.NextHeader)
			if d.ip6frag.FragmentOffset != 0 {
				r.fragment = true
				r.proto = 0
			} else if d.ip6frag.MoreFragments {
				d.firstFragment(r, d.ip6frag.Payload)
			}
		case layers.LayerTypeTCP:
			r.proto = protoTCP
			r.srcPort, r.dstPort = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			r.seq, r.ack = d.tcp.Seq, d.tcp.Ack
			r.tcpFlags = tcpFlagByte(&d.tcp)
			r.payload = d.tcp.Payload
		case layers.LayerTypeUDP:
			r.proto = protoUDP
			r.srcPort, r.dstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			r.payload = d.udp.Payload
		case layers.LayerTypeICMPv4:
			r.proto = protoICMP
			r.icmpType, r.icmpCode = d.icmp4.TypeCode.Type(), d.icmp4.TypeCode.Code()
			r.icmpQuote = d.icmp4.Payload
		case layers.LayerTypeICMPv6:
			r.proto = protoICMPv6
			r.icmpType, r.icmpCode = d.icmp6.TypeCode.Type(), d.icmp6.TypeCode.Code()
			if p := d.icmp6.Payload; len(p) >= 4 {
				r.icmpQuote = p[4:] // 4 unused bytes, then the invoking packet (RFC 4443 3.1)
			}
		}
	}
	return haveIP && !r.fragment
}

// firstFragment reads TCP/UDP ports from the first fragment of a datagram.
func (d *decoder) firstFragment(r *decodeResult, b []byte) {
	switch r.proto {
	case protoTCP:
		if len(b) >= 20 {
			r.srcPort, r.dstPort = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
			r.seq, r.ack = binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
			r.tcpFlags = b[13]
			if off := int(b[12]>>4) * 4; off >= 20 && off <= len(b) {
				r.payload = b[off:]
			}
			return
		}
	case protoUDP:
		if len(b) >= 8 {
			r.srcPort, r.dstPort = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
			r.payload = b[8:]
			return
		}
	}
	r.proto = 0
}

func tcpFlagByte(t *layers.TCP) uint8 {
	var f uint8
	if t.FIN {
		f |= tcpFIN
	}
	if t.SYN {
		f |= tcpSYN
	}
	if t.RST {
		f |= tcpRST
	}
	if t.PSH {
		f |= tcpPSH
	}
	if t.ACK {
		f |= tcpACK
	}
	return f
}

// quotedFlow extracts the 5-tuple of the datagram an ICMP error quotes
// (RFC 792: IP header + first 8 bytes; RFC 4443: as much as fits).
func quotedFlow(q []byte) (src, dst [16]byte, proto uint8, sport, dport uint16, v6, ok bool) {
	if len(q) < 1 {
		return
	}
	switch q[0] >> 4 {
	case 4:
		ihl := int(q[0]&0x0f) * 4
		if ihl < 20 || len(q) < ihl+4 {
			return
		}
		proto = q[9]
		copy(src[:], q[12:16])
		copy(dst[:], q[16:20])
		sport, dport = binary.BigEndian.Uint16(q[ihl:]), binary.BigEndian.Uint16(q[ihl+2:])
		return src, dst, proto, sport, dport, false, true
	case 6:
		if len(q) < 44 {
			return
		}
		proto = q[6]
		copy(src[:], q[8:24])
		copy(dst[:], q[24:40])
		off := 40
		// Skip extension headers (hop-by-hop, routing, destination) to the transport.
		for i := 0; i < 8 && (proto == 0 || proto == 43 || proto == 60); i++ {
			if len(q) < off+8 {
				return
			}
			proto = q[off]
			off += (int(q[off+1]) + 1) * 8
		}
		if len(q) < off+4 {
			return
		}
		sport, dport = binary.BigEndian.Uint16(q[off:]), binary.BigEndian.Uint16(q[off+2:])
		return src, dst, proto, sport, dport, true, true
	}
	return
}
