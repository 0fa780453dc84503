package capture

import (
	"encoding/binary"
	"io"

	"github.com/gopacket/gopacket/layers"
)

// Classic pcap, read as libpcap does: µs and ns magics in both byte orders,
// the Kuznetsov variant (24-byte record headers), versions 2.0–2.4, snaplen 0
// meaning unlimited, caplen > snaplen and caplen > wire length accepted.

const pcapHeaderLen = 24

func (fr *fileReader) u16(b []byte) uint16 {
	if fr.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (fr *fileReader) u32(b []byte) uint32 {
	if fr.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (fr *fileReader) u64(b []byte) uint64 {
	if fr.be {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// readPcapHeader reads the 24-byte global header.
func (fr *fileReader) readPcapHeader() error {
	h, err := fr.br.Peek(pcapHeaderLen)
	if len(h) < pcapHeaderLen {
		if err != io.EOF {
			return fr.unusableRead(err, "the pcap file header")
		}
		return unusable("%s: pcap file header truncated (%d of %d bytes)", fr.name, len(h), pcapHeaderLen)
	}
	magic := binary.LittleEndian.Uint32(h)
	if magic>>16 != 0xa1b2 { // written big-endian
		fr.be = true
		magic = binary.BigEndian.Uint32(h)
	}
	fr.hdrLen = 16
	switch magic {
	case 0xa1b23c4d:
		fr.nanos = true
	case 0xa1b2cd34: // Kuznetsov: ifindex, protocol, pkt_type, pad after the usual header
		fr.hdrLen = 24
	}
	major, minor := fr.u16(h[4:]), fr.u16(h[6:])
	if major != 2 {
		return unusable("%s: unsupported pcap version %d.%d", fr.name, major, minor)
	}
	// libpcap: before 2.3 some writers swapped caplen and len; swap back
	// when caplen > len (savefile.c, lengths_swapped).
	fr.swapLens = minor < 4
	fr.snaplen = fr.u32(h[16:])
	// The top bits of the link type carry FCS information (LT_LINKTYPE).
	fr.linkType = layers.LinkType(fr.u32(h[20:]) & 0x03ffffff)
	fr.addLinkType(fr.linkType)
	fr.pkt.LinkType = fr.linkType
	fr.br.Discard(pcapHeaderLen)
	fr.pos = pcapHeaderLen
	return nil
}

// nextPcap reads one record.
func (fr *fileReader) nextPcap() error {
	rec := fr.info.Packets + 1
	hl := fr.hdrLen
	h, err := fr.br.Peek(hl)
	if len(h) < hl {
		if len(h) == 0 && err == io.EOF {
			return io.EOF
		}
		if err == io.EOF {
			return fr.fail("capture cut short: record %d header has %d of %d bytes (offset %d): %d trailing bytes after last record",
				rec, len(h), hl, fr.pos, len(h))
		}
		return fr.short(err, "record %d header has %d of %d bytes (offset %d)", rec, len(h), hl, fr.pos)
	}
	sec, frac := fr.u32(h), fr.u32(h[4:])
	caplen, wirelen := fr.u32(h[8:]), fr.u32(h[12:])
	if fr.swapLens && caplen > wirelen {
		caplen, wirelen = wirelen, caplen
	}
	if caplen > MaxPacket {
		return fr.fail("record %d claims %d captured bytes (limit %d): file damaged (offset %d)",
			rec, caplen, MaxPacket, fr.pos)
	}
	if caplen > fr.snaplen && fr.snaplen != 0 && !fr.warnedSnap {
		fr.warnedSnap = true
		fr.warn("record %d: captured length %d > snapshot length %d of the file header (accepted)", rec, caplen, fr.snaplen)
	}
	fr.checkLens(rec, caplen, wirelen)
	n := hl + int(caplen)
	b, err := fr.peek(n)
	if len(b) < n {
		return fr.short(err, "cut short in packet %d (%d of %d bytes) at offset %d", rec, max(len(b)-hl, 0), caplen, fr.pos)
	}
	fr.consume(n)
	p := &fr.pkt
	p.Data = b[hl:n:n] // full slice expression: an append by the caller cannot clobber the buffer
	p.Length = int(wirelen)
	if fr.nanos {
		p.Timestamp = unixTime(int64(sec), int64(frac))
	} else {
		p.Timestamp = unixTime(int64(sec), int64(frac)*1000)
	}
	return nil
}
