package proto

import (
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/capture"
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

// readCapture reads a capture with the project's own reader (capture.Open)
// and decodes each frame with gopacket (test code: allocation is fine).
// Non-first fragments and non-TCP/UDP packets are skipped; frame numbers
// still count them, as Wireshark does.
func readCapture(t testing.TB, path string) []pkt {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []pkt
	for {
		cp, err := src.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		// gopacket.Default copies the data, which the source reuses.
		gp := gopacket.NewPacket(cp.Data, cp.LinkType, gopacket.Default)
		if p, ok := transport(gp); ok {
			p.frame, p.ts = int(cp.Frame), cp.Timestamp
			out = append(out, p)
		}
	}
}

func transport(gp gopacket.Packet) (pkt, bool) {
	var p pkt
	var src, dst netip.Addr
	switch ip := gp.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP.To16())
		dst, _ = netip.AddrFromSlice(ip.DstIP.To16())
	default:
		return p, false
	}
	switch l4 := gp.TransportLayer().(type) {
	case *layers.UDP:
		p.src = netip.AddrPortFrom(src, uint16(l4.SrcPort))
		p.dst = netip.AddrPortFrom(dst, uint16(l4.DstPort))
		p.payload = l4.Payload
	case *layers.TCP:
		p.tcp = true
		p.src = netip.AddrPortFrom(src, uint16(l4.SrcPort))
		p.dst = netip.AddrPortFrom(dst, uint16(l4.DstPort))
		p.seq, p.syn = l4.Seq, l4.SYN
		p.payload = l4.Payload
	default:
		return p, false
	}
	return p, true
}
