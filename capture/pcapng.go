package capture

import (
	"encoding/binary"
	"io"
	"math/bits"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// pcapng, read as Wireshark does: several sections, each with its own byte
// order and its own interfaces; a link type, snaplen and timestamp
// resolution per interface; EPB, SPB and the obsolete Packet Block; every
// other block skipped. Every length is checked before use.

const (
	blockSHB = 0x0a0d0d0a
	blockIDB = 1
	blockPB  = 2 // obsolete Packet Block
	blockSPB = 3
	blockEPB = 6

	optEnd      = 0
	optFlags    = 2 // epb_flags, pack_flags
	optDrops    = 4 // epb_dropcount
	optTSResol  = 9
	optTSOffset = 14
)

// iface is one Interface Description Block of the current section.
type iface struct {
	linkType layers.LinkType
	snaplen  uint32
	ups      uint64 // timestamp units per second (if_tsresol)
	offset   int64  // if_tsoffset, seconds
}

// time converts a pcapng timestamp without overflow (bits.Mul64/Div64) and
// without allocating.
func (i *iface) time(ts uint64) time.Time {
	sec, rem := ts/i.ups, ts%i.ups
	var ns uint64
	switch {
	case i.ups == 1e9:
		ns = rem
	case i.ups < 1e9 && 1e9%i.ups == 0:
		ns = rem * (1e9 / i.ups)
	default:
		hi, lo := bits.Mul64(rem, 1e9)
		ns, _ = bits.Div64(hi, lo, i.ups) // hi < ups because rem < ups
	}
	return unixTime(int64(sec)+i.offset, int64(ns))
}

// nextPcapng reads blocks until a packet.
func (fr *fileReader) nextPcapng() error {
	for {
		off := fr.pos
		h, err := fr.br.Peek(8)
		if len(h) < 8 {
			if len(h) == 0 && err == io.EOF {
				return io.EOF
			}
			if off == 0 {
				if err != io.EOF {
					return fr.unusableRead(err, "the pcapng section header")
				}
				return fr.bad("pcapng section header truncated (%d of at least 28 bytes)", len(h))
			}
			return fr.short(err, "cut short inside block at offset %d (header has %d of 8 bytes)", off, len(h))
		}
		// The SHB type reads the same in both byte orders.
		if binary.LittleEndian.Uint32(h) == blockSHB {
			if err := fr.readSHB(); err != nil {
				return err
			}
			continue
		}
		if off == 0 {
			return fr.bad("not a pcapng file (first block is not a section header)")
		}
		typ, total := fr.u32(h), fr.u32(h[4:])
		if total < 12 || total%4 != 0 {
			return fr.fail("damaged block at offset %d (length %d)", off, total)
		}
		switch typ {
		case blockIDB, blockEPB, blockSPB, blockPB:
		default:
			if err := fr.skipBlock(off, total); err != nil {
				return err
			}
			continue
		}
		b, err := fr.block(off, total)
		if err != nil {
			return err
		}
		if typ == blockIDB {
			if err := fr.readIDB(off, b); err != nil {
				return err
			}
			fr.discard(total)
			continue
		}
		if err := fr.readPacketBlock(off, typ, b); err != nil {
			return err
		}
		fr.discard(total)
		return nil
	}
}

func (fr *fileReader) discard(total uint32) { fr.consume(int(total)) }

// block peeks a whole block of a type we parse and checks both lengths.
func (fr *fileReader) block(off int64, total uint32) ([]byte, error) {
	if total > maxBlock {
		return nil, fr.fail("damaged block at offset %d (length %d, limit %d)", off, total, maxBlock)
	}
	n := int(total)
	b, err := fr.peek(n)
	if len(b) < n {
		return nil, fr.short(err, "cut short inside block at offset %d (%d of %d bytes)", off, len(b), n)
	}
	if t := fr.u32(b[n-4:]); t != total {
		return nil, fr.fail("damaged block at offset %d (lengths %d/%d)", off, total, t)
	}
	return b, nil
}

// skipBlock passes over a block we do not use (NRB, ISB, DSB, CB, DCB,
// unknown) as a stream, so its size costs no memory, and checks its trailing
// length.
func (fr *fileReader) skipBlock(off int64, total uint32) error {
	body := int(total) - 4
	n, err := fr.br.Discard(body)
	fr.pos += int64(n)
	if n < body {
		return fr.short(err, "cut short inside block at offset %d (%d of %d bytes)", off, n, total)
	}
	t, err := fr.br.Peek(4)
	if len(t) < 4 {
		return fr.short(err, "cut short inside block at offset %d (%d of %d bytes)", off, n+len(t), total)
	}
	if lt := fr.u32(t); lt != total {
		return fr.fail("damaged block at offset %d (lengths %d/%d)", off, total, lt)
	}
	fr.br.Discard(4)
	fr.pos += 4
	return nil
}

// readSHB reads a Section Header Block: byte order, version; the new
// section has no interfaces yet.
func (fr *fileReader) readSHB() error {
	off := fr.pos
	first := off == 0
	h, err := fr.br.Peek(12)
	if len(h) < 12 {
		if first {
			if err != io.EOF {
				return fr.unusableRead(err, "the pcapng section header")
			}
			return fr.bad("pcapng section header truncated (%d of at least 28 bytes)", len(h))
		}
		return fr.short(err, "cut short inside section header at offset %d (%d of at least 28 bytes)", off, len(h))
	}
	switch binary.BigEndian.Uint32(h[8:]) {
	case 0x1a2b3c4d:
		fr.be = true
	case 0x4d3c2b1a:
		fr.be = false
	default:
		return fr.bad("not a pcapng file (bad byte-order magic % x in the section header at offset %d)", h[8:12], off)
	}
	total := fr.u32(h[4:])
	if total < 28 || total%4 != 0 || total > maxBlock {
		if first {
			return fr.bad("pcapng section header damaged (length %d)", total)
		}
		return fr.fail("damaged block at offset %d (length %d)", off, total)
	}
	n := int(total)
	b, err := fr.peek(n)
	if len(b) < n {
		if first {
			if err != io.EOF {
				return fr.unusableRead(err, "the pcapng section header")
			}
			return fr.bad("pcapng section header truncated (%d of %d bytes)", len(b), n)
		}
		return fr.short(err, "cut short inside section header at offset %d (%d of %d bytes)", off, len(b), n)
	}
	if t := fr.u32(b[n-4:]); t != total {
		return fr.fail("damaged block at offset %d (lengths %d/%d)", off, total, t)
	}
	if major, minor := fr.u16(b[12:]), fr.u16(b[14:]); major != 1 {
		return fr.bad("unsupported pcapng version %d.%d (section at offset %d)", major, minor, off)
	}
	fr.ifaces = fr.ifaces[:0]
	fr.discard(total)
	return nil
}

// options walks the options in o, calling f for each; ok is false when an
// option runs past the block.
func (fr *fileReader) options(o []byte, f func(code uint16, v []byte)) (ok bool) {
	for len(o) >= 4 {
		code, l := fr.u16(o), int(fr.u16(o[2:]))
		if code == optEnd {
			return true
		}
		padded := (l + 3) &^ 3
		if 4+padded > len(o) {
			return false
		}
		f(code, o[4:4+l])
		o = o[4+padded:]
	}
	return true
}

// readIDB adds an interface to the current section.
func (fr *fileReader) readIDB(off int64, b []byte) error {
	if len(b) < 20 {
		return fr.fail("damaged block at offset %d (length %d)", off, len(b))
	}
	if len(fr.ifaces) >= maxIfaces {
		return fr.fail("block at offset %d: more than %d interfaces in one section: file damaged", off, maxIfaces)
	}
	ifc := iface{linkType: layers.LinkType(fr.u16(b[8:])), snaplen: fr.u32(b[12:]), ups: 1e6}
	tsresol := -1
	ok := fr.options(b[16:len(b)-4], func(code uint16, v []byte) {
		switch {
		case code == optTSResol && len(v) >= 1:
			tsresol = int(v[0])
		case code == optTSOffset && len(v) >= 8:
			ifc.offset = int64(fr.u64(v))
		}
	})
	if !ok {
		return fr.bad("damaged IDB option in block at offset %d (option longer than its block)", off)
	}
	if tsresol >= 0 {
		ups, ok := unitsPerSecond(uint8(tsresol))
		if !ok {
			if tsresol&0x80 != 0 {
				return fr.bad("block at offset %d: unsupported timestamp resolution 2^-%d", off, tsresol&0x7f)
			}
			return fr.bad("block at offset %d: unsupported timestamp resolution 10^-%d", off, tsresol)
		}
		ifc.ups = ups
	}
	fr.ifaces = append(fr.ifaces, ifc)
	fr.addLinkType(ifc.linkType)
	return nil
}

// unitsPerSecond decodes if_tsresol: 10^-v, or 2^-v when the top bit is set.
// Resolutions whose units per second do not fit 64 bits are refused.
func unitsPerSecond(r uint8) (uint64, bool) {
	if r&0x80 != 0 {
		e := r & 0x7f
		if e > 63 {
			return 0, false
		}
		return 1 << e, true
	}
	if r > 19 {
		return 0, false
	}
	u := uint64(1)
	for range r {
		u *= 10
	}
	return u, true
}

// readPacketBlock fills fr.pkt from an EPB, SPB or PB.
func (fr *fileReader) readPacketBlock(off int64, typ uint32, b []byte) error {
	n := len(b)
	if len(fr.ifaces) == 0 {
		return fr.bad("packet block before any interface description (block at offset %d)", off)
	}
	p := &fr.pkt
	p.Flags, p.DropCount = 0, 0
	rec := fr.info.Packets + 1
	if typ == blockSPB {
		if n < 16 {
			return fr.fail("damaged block at offset %d (length %d)", off, n)
		}
		ifc := &fr.ifaces[0]
		wirelen := fr.u32(b[8:])
		// Wireshark: captured = min(original, snaplen); the block must hold it.
		caplen := wirelen
		if ifc.snaplen != 0 && caplen > ifc.snaplen {
			caplen = ifc.snaplen
		}
		if uint64(caplen) > uint64(n-16) {
			return fr.fail("block at offset %d: block too short for %d bytes of packet data", off, caplen)
		}
		if caplen > MaxPacket {
			return fr.fail("block at offset %d: packet %d claims %d captured bytes (limit %d): file damaged", off, rec, caplen, MaxPacket)
		}
		p.Data = b[12 : 12+caplen : 12+caplen]
		p.Length = int(wirelen)
		p.Timestamp = time.Time{}
		p.Interface = 0
		p.LinkType = ifc.linkType
		return nil
	}
	if n < 32 {
		return fr.fail("damaged block at offset %d (length %d)", off, n)
	}
	var id uint32
	var drops uint64
	if typ == blockEPB {
		id = fr.u32(b[8:])
	} else {
		id = uint32(fr.u16(b[8:]))
		if d := fr.u16(b[10:]); d != 0xffff {
			drops = uint64(d)
		}
	}
	if uint64(id) >= uint64(len(fr.ifaces)) {
		return fr.fail("block at offset %d: packet refers to interface %d, section has %d", off, id, len(fr.ifaces))
	}
	ifc := &fr.ifaces[id]
	ts := uint64(fr.u32(b[12:]))<<32 | uint64(fr.u32(b[16:]))
	caplen, wirelen := fr.u32(b[20:]), fr.u32(b[24:])
	if uint64(caplen) > uint64(n-32) {
		return fr.fail("block at offset %d: block too short for %d bytes of packet data", off, caplen)
	}
	if caplen > MaxPacket {
		return fr.fail("block at offset %d: packet %d claims %d captured bytes (limit %d): file damaged", off, rec, caplen, MaxPacket)
	}
	fr.checkLens(rec, caplen, wirelen)
	end := 28 + int(caplen)
	p.Data = b[28:end:end]
	p.Length = int(wirelen)
	p.Timestamp = ifc.time(ts)
	p.Interface = int(id)
	p.LinkType = ifc.linkType
	p.DropCount = drops
	// Options in the section's byte order (gopacket v1.7.7 reads them LE).
	o := b[min(28+(int(caplen)+3)&^3, n-4) : n-4]
	fr.epbOptions(o)
	return nil
}

// epbOptions reads epb_flags and epb_dropcount; damaged options are ignored
// (the packet itself is intact). A loop rather than options() with a
// closure: this runs per packet and must not allocate.
func (fr *fileReader) epbOptions(o []byte) {
	p := &fr.pkt
	for len(o) >= 4 {
		code, l := fr.u16(o), int(fr.u16(o[2:]))
		if code == optEnd {
			return
		}
		padded := (l + 3) &^ 3
		if 4+padded > len(o) {
			return
		}
		v := o[4 : 4+l]
		switch {
		case code == optFlags && l == 4:
			p.Flags = fr.u32(v)
		case code == optDrops && l == 8:
			p.DropCount = fr.u64(v)
		}
		o = o[4+padded:]
	}
}
