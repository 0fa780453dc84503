package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// base is the timestamp of the first packet of every generated capture.
var base = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// Link-layer framings the generator can write.
type linkKind int

const (
	linkEthernet linkKind = iota
	linkSLL
	linkSLL2
	linkRaw
)

func (k linkKind) linkType() layers.LinkType {
	switch k {
	case linkSLL:
		return layers.LinkTypeLinuxSLL
	case linkSLL2:
		return layers.LinkTypeLinuxSLL2
	case linkRaw:
		return layers.LinkTypeRaw
	}
	return layers.LinkTypeEthernet
}

// iface is one capture interface (pcapng IDB, or the single pcap link type).
type iface struct {
	name string
	kind linkKind
}

// frame is one generated packet before sorting by time.
type frame struct {
	at    time.Duration // offset from base
	data  []byte
	iface int
	note  string // non-empty: listed in README as a frame that matters
	order int    // insertion order, the tie-break for equal timestamps
}

// expectation is one line of a capture's contract.
type expectation struct {
	code  string // finding code, or "" for a free-text rule
	flows string // which flows, in words
	must  bool   // true: must be reported; false: must NOT be reported
}

// capture accumulates the packets of one small scenario file.
type capture struct {
	name     string
	ng       bool // pcapng instead of classic pcap
	ifaces   []iface
	title    string
	desc     string
	expects  []expectation
	frames   []frame
	rng      *rand.Rand
	buf      gopacket.SerializeBuffer
	clients  []netip.Addr // addresses on the capture host's side (outgoing packets)
	curIface int
	vlans    []uint16 // 802.1Q tags for Ethernet frames; two tags = QinQ (outer 0x88a8)
	extra    []string // extra README lines (measured statistics)
}

var (
	clientMAC  = net.HardwareAddr{0x00, 0x15, 0x5d, 0x0a, 0x01, 0x10}
	gatewayMAC = net.HardwareAddr{0x00, 0x1b, 0x21, 0x3c, 0x9d, 0x01}
)

func newCapture(name string, ng bool, ifs ...iface) *capture {
	if len(ifs) == 0 {
		ifs = []iface{{name: "eth0", kind: linkEthernet}}
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return &capture{
		name:    name,
		ng:      ng,
		ifaces:  ifs,
		rng:     rand.New(rand.NewPCG(0x5fb7ace, h.Sum64())),
		buf:     gopacket.NewSerializeBuffer(),
		clients: []netip.Addr{client4, client6},
	}
}

func (c *capture) expect(code, flows string) {
	c.expects = append(c.expects, expectation{code: code, flows: flows, must: true})
}

func (c *capture) expectNot(code, flows string) {
	c.expects = append(c.expects, expectation{code: code, flows: flows, must: false})
}

func (c *capture) isClient(a netip.Addr) bool { return slices.Contains(c.clients, a) }

// ttlFor returns the TTL/hop limit a packet from src has when it reaches the
// capture point: 128 for the Windows client, 50 for Internet servers
// (64 minus 14 hops).
func (c *capture) ttlFor(src netip.Addr) uint8 {
	if c.isClient(src) {
		return 128
	}
	if a := src; a == gateway4 || a == gateway6 || a == proxyIP {
		return 64
	}
	return 50
}

func (c *capture) randBytes(n int) []byte {
	b := make([]byte, n)
	fillRand(c.rng, b)
	return b
}

func fillRand(r *rand.Rand, b []byte) {
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, r.Uint64())
		b = b[8:]
	}
	if len(b) > 0 {
		var t [8]byte
		binary.LittleEndian.PutUint64(t[:], r.Uint64())
		copy(b, t[:])
	}
}

var serializeOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// ipPacket serializes an IPv4 or IPv6 packet (no link header) into c.buf and
// returns a copy of its bytes.
func (c *capture) ipPacket(src, dst netip.Addr, ttl uint8, proto layers.IPProtocol, l4 gopacket.SerializableLayer, payload []byte) []byte {
	b, err := serializeIP(c.buf, src, dst, ttl, 0, proto, l4, payload)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", c.name, err))
	}
	return bytes.Clone(b)
}

// serializeIP builds an IP packet in buf; the result aliases buf.
func serializeIP(buf gopacket.SerializeBuffer, src, dst netip.Addr, ttl uint8, ipid uint16, proto layers.IPProtocol, l4 gopacket.SerializableLayer, payload []byte) ([]byte, error) {
	var net gopacket.NetworkLayer
	var nl gopacket.SerializableLayer
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: proto, Id: ipid,
			Flags: layers.IPv4DontFragment, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if proto == layers.IPProtocolUDP || proto == layers.IPProtocolICMPv4 {
			ip.Flags = 0
		}
		net, nl = ip, ip
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		net, nl = ip, ip
	}
	switch l := l4.(type) {
	case *layers.TCP:
		l.SetNetworkLayerForChecksum(net)
	case *layers.UDP:
		l.SetNetworkLayerForChecksum(net)
	}
	var err error
	if l4 == nil {
		err = gopacket.SerializeLayers(buf, serializeOpts, nl, gopacket.Payload(payload))
	} else if icmp6, ok := l4.(*layers.ICMPv6); ok {
		icmp6.SetNetworkLayerForChecksum(net)
		err = gopacket.SerializeLayers(buf, serializeOpts, nl, icmp6, gopacket.Payload(payload))
	} else {
		err = gopacket.SerializeLayers(buf, serializeOpts, nl, l4, gopacket.Payload(payload))
	}
	return buf.Bytes(), err
}

// add frames an IP packet for the current interface and queues it.
func (c *capture) add(at time.Duration, ip []byte, note string) {
	out := false
	var src netip.Addr
	if ip[0]>>4 == 4 {
		src, _ = netip.AddrFromSlice(ip[12:16])
	} else {
		src, _ = netip.AddrFromSlice(ip[8:24])
	}
	out = c.isClient(src)
	hdr := linkHeader(c.ifaces[c.curIface].kind, ip[0]>>4 == 6, out, c.vlans)
	data := make([]byte, 0, len(hdr)+len(ip))
	data = append(append(data, hdr...), ip...)
	c.frames = append(c.frames, frame{at: at, data: data, iface: c.curIface, note: note, order: len(c.frames)})
}

// linkHeader returns the link-layer header for a packet. out is true for
// packets sent by the capture host.
func linkHeader(kind linkKind, v6, out bool, vlans []uint16) []byte {
	etype := uint16(layers.EthernetTypeIPv4)
	if v6 {
		etype = uint16(layers.EthernetTypeIPv6)
	}
	src, dst := gatewayMAC, clientMAC
	if out {
		src, dst = clientMAC, gatewayMAC
	}
	switch kind {
	case linkEthernet:
		h := make([]byte, 0, 14+4*len(vlans))
		h = append(append(h, dst...), src...)
		for i, v := range vlans {
			tpid := uint16(0x8100)
			if i == 0 && len(vlans) > 1 {
				tpid = 0x88a8 // 802.1ad service tag
			}
			h = binary.BigEndian.AppendUint16(h, tpid)
			h = binary.BigEndian.AppendUint16(h, v)
		}
		return binary.BigEndian.AppendUint16(h, etype)
	case linkSLL:
		// https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html
		h := make([]byte, 16)
		if out {
			binary.BigEndian.PutUint16(h[0:], 4) // sent by us
		}
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], src)
		binary.BigEndian.PutUint16(h[14:], etype)
		return h
	case linkSLL2:
		// https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], etype)
		binary.BigEndian.PutUint32(h[4:], 2) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		if out {
			h[10] = 4
		}
		h[11] = 6
		copy(h[12:], src)
		return h
	}
	return nil
}

// sorted returns the frames in timestamp order (stable on insertion order).
func (c *capture) sorted() []frame {
	fs := slices.Clone(c.frames)
	slices.SortStableFunc(fs, func(a, b frame) int {
		if a.at != b.at {
			if a.at < b.at {
				return -1
			}
			return 1
		}
		return a.order - b.order
	})
	return fs
}

// write writes the capture into dir and returns the sorted frames.
func (c *capture) write(dir string) ([]frame, error) {
	fs := c.sorted()
	var out bytes.Buffer
	if c.ng {
		first := pcapgo.NgInterface{Name: c.ifaces[0].name, LinkType: c.ifaces[0].kind.linkType(), SnapLength: 262144, TimestampResolution: 9}
		w, err := pcapgo.NewNgWriterInterface(&out, first, pcapgo.NgWriterOptions{
			SectionInfo: pcapgo.NgSectionInfo{Application: "sfbtrace pcaps/gen"},
		})
		if err != nil {
			return nil, err
		}
		for _, ifc := range c.ifaces[1:] {
			if _, err := w.AddInterface(pcapgo.NgInterface{Name: ifc.name, LinkType: ifc.kind.linkType(), SnapLength: 262144, TimestampResolution: 9}); err != nil {
				return nil, err
			}
		}
		for _, f := range fs {
			ci := gopacket.CaptureInfo{Timestamp: base.Add(f.at), CaptureLength: len(f.data), Length: len(f.data), InterfaceIndex: f.iface}
			if err := w.WritePacket(ci, f.data); err != nil {
				return nil, err
			}
		}
		if err := w.Flush(); err != nil {
			return nil, err
		}
	} else {
		w := pcapgo.NewWriter(&out)
		if err := w.WriteFileHeader(262144, c.ifaces[0].kind.linkType()); err != nil {
			return nil, err
		}
		for _, f := range fs {
			ci := gopacket.CaptureInfo{Timestamp: base.Add(f.at), CaptureLength: len(f.data), Length: len(f.data)}
			if err := w.WritePacket(ci, f.data); err != nil {
				return nil, err
			}
		}
	}
	return fs, os.WriteFile(filepath.Join(dir, c.name), out.Bytes(), 0o644)
}
