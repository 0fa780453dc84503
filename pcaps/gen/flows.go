package main

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// flowRow is one line of a capture's flow table in README.md.
type flowRow struct {
	proto          string
	a, b           netip.AddrPort // a = sender of the first packet
	first          int            // 1-based frame
	pktsAB, pktsBA int
	bytesAB        int
	bytesBA        int
}

// flowTable groups frames into bidirectional 5-tuple flows, in order of
// their first frame. ICMP errors count toward no flow (listed as their own).
func (c *capture) flowTable(fs []frame) []*flowRow {
	var rows []*flowRow
	find := func(proto string, src, dst netip.AddrPort) (*flowRow, bool) {
		for _, r := range rows {
			if r.proto != proto {
				continue
			}
			if r.a == src && r.b == dst {
				return r, true
			}
			if r.a == dst && r.b == src {
				return r, false
			}
		}
		return nil, false
	}
	for i, f := range fs {
		p := gopacket.NewPacket(f.data, c.ifaces[f.iface].kind.linkType(), gopacket.NoCopy)
		var src, dst netip.Addr
		switch n := p.NetworkLayer().(type) {
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(n.SrcIP)
			dst, _ = netip.AddrFromSlice(n.DstIP)
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(n.SrcIP)
			dst, _ = netip.AddrFromSlice(n.DstIP)
		default:
			continue
		}
		proto := ""
		var sp, dp uint16
		switch t := p.TransportLayer().(type) {
		case *layers.TCP:
			proto, sp, dp = "tcp", uint16(t.SrcPort), uint16(t.DstPort)
		case *layers.UDP:
			proto, sp, dp = "udp", uint16(t.SrcPort), uint16(t.DstPort)
		default:
			proto = "icmp"
		}
		s, d := netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
		r, forward := find(proto, s, d)
		if r == nil {
			r, forward = &flowRow{proto: proto, a: s, b: d, first: i + 1}, true
			rows = append(rows, r)
		}
		if forward {
			r.pktsAB++
			r.bytesAB += len(f.data)
		} else {
			r.pktsBA++
			r.bytesBA += len(f.data)
		}
	}
	return rows
}

func (c *capture) documentFlows(w *bytes.Buffer, fs []frame) {
	w.WriteString("\nFlows (in order of first frame; \"->\" is the direction of the first packet):\n\n")
	w.WriteString("| # | proto | first sender -> peer | first frame | packets -> / <- | bytes -> / <- |\n|---|---|---|---|---|---|\n")
	for i, r := range c.flowTable(fs) {
		a, b := r.a.String(), r.b.String()
		if r.proto == "icmp" {
			a, b = r.a.Addr().String(), r.b.Addr().String()
		}
		fmt.Fprintf(w, "| %d | %s | %s -> %s | %d | %d / %d | %d / %d |\n", i+1, r.proto, a, b, r.first, r.pktsAB, r.pktsBA, r.bytesAB, r.bytesBA)
	}
}
