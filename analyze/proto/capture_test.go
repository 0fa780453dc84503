package proto

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// pkt is one transport payload read from a real capture (test code only).
type pkt struct {
	frame    int
	ts       time.Time
	src, dst netip.AddrPort
	tcp      bool
	seq      uint32
	syn      bool
	payload  []byte
}

// readShared reads ../shared/rel and returns every TCP/UDP packet, skipping
// when the file is absent.
func readShared(t testing.TB, rel string) []pkt {
	t.Helper()
	return readCapture(t, sharedPath(t, rel))
}

// sharedPath returns ../shared/rel, skipping the test when it is absent.
func sharedPath(t testing.TB, rel string) string {
	t.Helper()
	return pcaptest.Shared(t, rel)
}

// readCapture is a minimal pcap/pcapng reader (little-endian files, Ethernet,
// raw IP, Linux SLL and null link types): enough for the fixtures, and it keeps
// the test free of gopacket's pcapgo, whose x/net dependency is not in go.sum.
func readCapture(t testing.TB, path string) []pkt {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []pkt
	frame := 0
	add := func(link uint32, ts time.Time, data []byte) {
		frame++
		if p, ok := decodeFrame(link, data); ok {
			p.frame, p.ts = frame, ts
			out = append(out, p)
		}
	}
	le := binary.LittleEndian
	if len(b) >= 24 && le.Uint32(b) == 0xa1b2c3d4 || le.Uint32(b) == 0xa1b23c4d {
		nano := le.Uint32(b) == 0xa1b23c4d
		link := le.Uint32(b[20:])
		for off := 24; off+16 <= len(b); {
			sec, sub, incl := le.Uint32(b[off:]), le.Uint32(b[off+4:]), int(le.Uint32(b[off+8:]))
			off += 16
			if off+incl > len(b) {
				break
			}
			if !nano {
				sub *= 1000
			}
			add(link, time.Unix(int64(sec), int64(sub)).UTC(), b[off:off+incl])
			off += incl
		}
		return out
	}
	if len(b) < 12 || le.Uint32(b) != 0x0a0d0d0a || le.Uint32(b[8:]) != 0x1a2b3c4d {
		t.Fatalf("%s: unsupported capture format", path)
	}
	var links []uint32
	for off := 0; off+12 <= len(b); {
		typ, blen := le.Uint32(b[off:]), int(le.Uint32(b[off+4:]))
		if blen < 12 || off+blen > len(b) {
			break
		}
		body := b[off+8 : off+blen-4]
		switch typ {
		case 0x0a0d0d0a:
			links = links[:0]
		case 1:
			links = append(links, uint32(le.Uint16(body)))
		case 6:
			iface, hi, lo, capl := le.Uint32(body), le.Uint32(body[4:]), le.Uint32(body[8:]), int(le.Uint32(body[12:]))
			if int(iface) < len(links) && 20+capl <= len(body) {
				us := int64(hi)<<32 | int64(lo) // default resolution: microseconds
				add(links[iface], time.UnixMicro(us).UTC(), body[20:20+capl])
			}
		}
		off += blen
	}
	return out
}

func decodeFrame(link uint32, d []byte) (pkt, bool) {
	be := binary.BigEndian
	var p pkt
	etype := uint16(0)
	switch link {
	case 1: // Ethernet
		if len(d) < 14 {
			return p, false
		}
		etype, d = be.Uint16(d[12:]), d[14:]
		for etype == 0x8100 && len(d) >= 4 {
			etype, d = be.Uint16(d[2:]), d[4:]
		}
	case 113: // Linux SLL
		if len(d) < 16 {
			return p, false
		}
		etype, d = be.Uint16(d[14:]), d[16:]
	case 0: // BSD null
		if len(d) < 4 {
			return p, false
		}
		d = d[4:]
	case 101, 12, 14: // raw IP
	default:
		return p, false
	}
	if len(d) < 1 {
		return p, false
	}
	var src, dst netip.Addr
	var proto byte
	switch {
	case d[0]>>4 == 4 && (etype == 0 || etype == 0x0800):
		ihl := int(d[0]&15) * 4
		if len(d) < 20 || ihl < 20 || len(d) < ihl {
			return p, false
		}
		if be.Uint16(d[6:])&0x3fff != 0 { // fragments: skip
			return p, false
		}
		tot := int(be.Uint16(d[2:]))
		if tot >= ihl && tot < len(d) {
			d = d[:tot] // strip Ethernet padding
		}
		proto = d[9]
		src = netip.AddrFrom4([4]byte(d[12:16]))
		dst = netip.AddrFrom4([4]byte(d[16:20]))
		d = d[ihl:]
	case d[0]>>4 == 6 && (etype == 0 || etype == 0x86dd):
		if len(d) < 40 {
			return p, false
		}
		pl := int(be.Uint16(d[4:]))
		proto = d[6]
		src = netip.AddrFrom16([16]byte(d[8:24]))
		dst = netip.AddrFrom16([16]byte(d[24:40]))
		d = d[40:]
		if pl < len(d) {
			d = d[:pl]
		}
	default:
		return p, false
	}
	switch proto {
	case 17:
		if len(d) < 8 {
			return p, false
		}
		p.src = netip.AddrPortFrom(src, be.Uint16(d))
		p.dst = netip.AddrPortFrom(dst, be.Uint16(d[2:]))
		p.payload = d[8:]
	case 6:
		if len(d) < 20 {
			return p, false
		}
		off := int(d[12]>>4) * 4
		if off < 20 || off > len(d) {
			return p, false
		}
		p.tcp = true
		p.src = netip.AddrPortFrom(src, be.Uint16(d))
		p.dst = netip.AddrPortFrom(dst, be.Uint16(d[2:]))
		p.seq = be.Uint32(d[4:])
		p.syn = d[13]&2 != 0
		p.payload = d[off:]
	default:
		return p, false
	}
	return p, true
}
