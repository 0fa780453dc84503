// Command bareloop is the performance yardstick of the benchmark harness:
// the bare gopacket loop (pcapgo read + DecodingLayerParser + a 5-tuple
// map) that sfbtrace's full diagnosis is compared against.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type key struct {
	a, b   [16]byte
	pa, pb uint16
	proto  uint8
}

type counts struct{ pkts, bytes int64 }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bareloop FILE.pcap")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		udp     layers.UDP
		payload gopacket.Payload
	)
	p := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &udp, &payload)
	p.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	flows := make(map[key]*counts, 1<<16)
	var n int64
	for {
		data, ci, err := r.ZeroCopyReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			break
		}
		n++
		_ = p.DecodeLayers(data, &decoded)
		var k key
		for _, t := range decoded {
			switch t {
			case layers.LayerTypeIPv4:
				copy(k.a[:], ip4.SrcIP)
				copy(k.b[:], ip4.DstIP)
				k.proto = uint8(ip4.Protocol)
			case layers.LayerTypeIPv6:
				copy(k.a[:], ip6.SrcIP)
				copy(k.b[:], ip6.DstIP)
				k.proto = uint8(ip6.NextHeader)
			case layers.LayerTypeTCP:
				k.pa, k.pb = uint16(tcp.SrcPort), uint16(tcp.DstPort)
			case layers.LayerTypeUDP:
				k.pa, k.pb = uint16(udp.SrcPort), uint16(udp.DstPort)
			}
		}
		if string(k.a[:]) > string(k.b[:]) || (k.a == k.b && k.pa > k.pb) {
			k.a, k.b, k.pa, k.pb = k.b, k.a, k.pb, k.pa
		}
		c := flows[k]
		if c == nil {
			c = new(counts)
			flows[k] = c
		}
		c.pkts++
		c.bytes += int64(ci.Length)
	}
	fmt.Printf("packets %d flows %d\n", n, len(flows))
}
