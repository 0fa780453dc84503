package pcaptest

import (
	"encoding/binary"
)

// Byte builders for classic pcap and pcapng files, used to make the broken
// captures of ROBUSTNESS.md §6 (see Broken). They write exactly what they are
// told, lengths included, so they can lie on purpose.

// Pcap magics as 32-bit values (written in the file's byte order).
const (
	MagicMicro     = 0xa1b2c3d4
	MagicNano      = 0xa1b23c4d
	MagicKuznetsov = 0xa1b2cd34
)

// PcapHeader is a classic pcap global header (24 bytes).
func PcapHeader(o binary.ByteOrder, magic uint32, major, minor uint16, snaplen, linkType uint32) []byte {
	b := make([]byte, 24)
	o.PutUint32(b[0:], magic)
	o.PutUint16(b[4:], major)
	o.PutUint16(b[6:], minor)
	o.PutUint32(b[16:], snaplen)
	o.PutUint32(b[20:], linkType)
	return b
}

// PcapRecord is a 16-byte record header followed by data; caplen and wirelen
// are written as given, whatever len(data) is.
func PcapRecord(o binary.ByteOrder, sec, frac, caplen, wirelen uint32, data []byte) []byte {
	b := make([]byte, 16, 16+len(data))
	o.PutUint32(b[0:], sec)
	o.PutUint32(b[4:], frac)
	o.PutUint32(b[8:], caplen)
	o.PutUint32(b[12:], wirelen)
	return append(b, data...)
}

// Pcap is a little-endian µs Ethernet pcap (v2.4, snaplen 65535) holding
// frames, with timestamps 1700000000.000001*i.
func Pcap(frames ...[]byte) []byte {
	o := binary.LittleEndian
	b := PcapHeader(o, MagicMicro, 2, 4, 65535, 1)
	for i, f := range frames {
		b = append(b, PcapRecord(o, 1700000000, uint32(i+1), uint32(len(f)), uint32(len(f)), f)...)
	}
	return b
}

// UDPFrame is an Ethernet/IPv4/UDP frame of n bytes (n >= 42) from
// 10.0.0.1:5000 to 10.0.0.2:seq, with a payload of seq bytes.
func UDPFrame(n int, seq byte) []byte {
	n = max(n, 42)
	b := make([]byte, n)
	copy(b, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00})
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(n-14))
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 5000)
	binary.BigEndian.PutUint16(udp[2:], 5000+uint16(seq))
	binary.BigEndian.PutUint16(udp[4:], uint16(n-34))
	for i := 42; i < n; i++ {
		b[i] = seq
	}
	return b
}

// pad4 pads b with zeros to a multiple of 4 bytes.
func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Block is a pcapng block: type, total length, body (padded), total length.
func Block(o binary.ByteOrder, typ uint32, body []byte) []byte {
	body = pad4(append([]byte(nil), body...))
	n := uint32(12 + len(body))
	return BlockLens(o, typ, n, n, body)
}

// BlockLens is a pcapng block with the leading and trailing lengths given.
func BlockLens(o binary.ByteOrder, typ, lead, trail uint32, body []byte) []byte {
	b := make([]byte, 8, 12+len(body))
	o.PutUint32(b[0:], typ)
	o.PutUint32(b[4:], lead)
	b = append(b, body...)
	return appendU32(o, b, trail)
}

// Opt is one pcapng option (code, length, value padded to 4).
func Opt(o binary.ByteOrder, code uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	o.PutUint16(b[0:], code)
	o.PutUint16(b[2:], uint16(len(v)))
	return pad4(append(b, v...))
}

// EndOpt is opt_endofopt.
func EndOpt() []byte { return []byte{0, 0, 0, 0} }

// SHB is a Section Header Block of the given version, section length -1.
func SHB(o binary.ByteOrder, major, minor uint16, opts ...[]byte) []byte {
	body := make([]byte, 16)
	o.PutUint32(body[0:], 0x1a2b3c4d)
	o.PutUint16(body[4:], major)
	o.PutUint16(body[6:], minor)
	binary.LittleEndian.PutUint64(body[8:], ^uint64(0))
	for _, op := range opts {
		body = append(body, op...)
	}
	return Block(o, 0x0a0d0d0a, body)
}

// IDB is an Interface Description Block.
func IDB(o binary.ByteOrder, linkType uint16, snaplen uint32, opts ...[]byte) []byte {
	body := make([]byte, 8)
	o.PutUint16(body[0:], linkType)
	o.PutUint32(body[4:], snaplen)
	for _, op := range opts {
		body = append(body, op...)
	}
	return Block(o, 1, body)
}

// EPB is an Enhanced Packet Block; caplen is len(data).
func EPB(o binary.ByteOrder, ifid uint32, ts uint64, wirelen uint32, data []byte, opts ...[]byte) []byte {
	return EPBLen(o, ifid, ts, uint32(len(data)), wirelen, data, opts...)
}

// EPBLen is an EPB whose captured length field is caplen, whatever the data.
func EPBLen(o binary.ByteOrder, ifid uint32, ts uint64, caplen, wirelen uint32, data []byte, opts ...[]byte) []byte {
	body := make([]byte, 20)
	o.PutUint32(body[0:], ifid)
	o.PutUint32(body[4:], uint32(ts>>32))
	o.PutUint32(body[8:], uint32(ts))
	o.PutUint32(body[12:], caplen)
	o.PutUint32(body[16:], wirelen)
	body = pad4(append(body, data...))
	for _, op := range opts {
		body = append(body, op...)
	}
	return Block(o, 6, body)
}

// SPB is a Simple Packet Block.
func SPB(o binary.ByteOrder, wirelen uint32, data []byte) []byte {
	body := appendU32(o, nil, wirelen)
	return Block(o, 3, append(body, data...))
}

// Pcapng is a little-endian pcapng: SHB, one Ethernet IDB (µs), an EPB per
// frame with timestamps 1700000000 s + i µs.
func Pcapng(frames ...[]byte) []byte {
	o := binary.LittleEndian
	b := append(SHB(o, 1, 0), IDB(o, 1, 0)...)
	for i, f := range frames {
		b = append(b, EPB(o, 0, 1700000000*1000000+uint64(i+1), uint32(len(f)), f)...)
	}
	return b
}

// Noise is n deterministic pseudo-random bytes (incompressible).
func Noise(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed*2654435761 | 1 // xorshift32 must not start at 0
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x >> 24)
	}
	return b
}

func appendU32(o binary.ByteOrder, b []byte, v uint32) []byte {
	var x [4]byte
	o.PutUint32(x[:], v)
	return append(b, x[:]...)
}
