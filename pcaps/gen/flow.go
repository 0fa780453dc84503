package main

import (
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Addresses used across the scenarios. Office 365 addresses come from the
// published ranges quoted in /work/shared/REFERENCE.md.
var (
	client4   = netip.MustParseAddr("192.168.1.10")
	client6   = netip.MustParseAddr("2001:db8:10::10")
	gateway4  = netip.MustParseAddr("192.168.1.1") // firewall, DNS resolver
	gateway6  = netip.MustParseAddr("2001:db8:10::1")
	natPublic = netip.MustParseAddr("203.0.113.45") // the firewall's public address

	sipdirIP  = netip.MustParseAddr("52.112.196.42")  // sipdir.online.lync.com
	webpoolIP = netip.MustParseAddr("52.112.197.30")  // webpoolam41e02.infra.lync.com
	teamsIP   = netip.MustParseAddr("52.113.194.132") // teams.microsoft.com
	loginIP   = netip.MustParseAddr("20.190.151.7")   // login.microsoftonline.com
	outlookIP = netip.MustParseAddr("52.96.91.34")    // outlook.office365.com
	spoIP     = netip.MustParseAddr("13.107.136.9")   // contoso.sharepoint.com
	relayIP   = netip.MustParseAddr("52.114.250.27")  // worldaz.tr.teams.microsoft.com
	relay2IP  = netip.MustParseAddr("52.114.250.28")
	edgeIP    = netip.MustParseAddr("13.107.64.21") // media edge listening on 50000-59999
	pushIP    = netip.MustParseAddr("17.57.144.84") // Apple push
	peerHost  = netip.MustParseAddr("10.0.5.23")    // remote peer's private host candidate
	proxyIP   = netip.MustParseAddr("10.0.0.8")     // explicit HTTP proxy

	sipdir6 = netip.MustParseAddr("2603:1027::12")
	relay6  = netip.MustParseAddr("2603:1063:2:4::15")
	teams6  = netip.MustParseAddr("2603:1027:0:1::21")
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// TCP flag bits for tcpConn.seg.
const (
	fFIN = 1 << iota
	fSYN
	fRST
	fPSH
	fACK
)

const mss = 1460

// tcpConn tracks sequence numbers of one TCP connection.
type tcpConn struct {
	c          *capture
	cli, srv   netip.AddrPort
	ciss, siss uint32
	cseq, sseq uint32 // next sequence number each side sends
	cttl, sttl uint8
	hideServer bool // capture-gaps: server packets advance state but are not written
	rtt        time.Duration
}

func (c *capture) tcp(cli, srv netip.AddrPort) *tcpConn {
	k := &tcpConn{c: c, cli: cli, srv: srv, ciss: c.rng.Uint32(), siss: c.rng.Uint32(),
		cttl: c.ttlFor(cli.Addr()), sttl: c.ttlFor(srv.Addr()), rtt: 22 * time.Millisecond}
	k.cseq, k.sseq = k.ciss, k.siss
	return k
}

// seg emits one segment and advances the sender's sequence number.
func (k *tcpConn) seg(at time.Duration, fromClient bool, flags int, payload []byte, note string) {
	k.segTTL(at, fromClient, flags, payload, note, 0)
}

func (k *tcpConn) segTTL(at time.Duration, fromClient bool, flags int, payload []byte, note string, ttl uint8) {
	t := &layers.TCP{FIN: flags&fFIN != 0, SYN: flags&fSYN != 0, RST: flags&fRST != 0, PSH: flags&fPSH != 0, ACK: flags&fACK != 0}
	src, dst := k.srv, k.cli
	seq, ack := &k.sseq, k.cseq
	if fromClient {
		src, dst = k.cli, k.srv
		seq, ack = &k.cseq, k.sseq
		t.Window = 1026 // 262656 bytes with window scale 8
		if ttl == 0 {
			ttl = k.cttl
		}
	} else {
		t.Window = 2050
		if ttl == 0 {
			ttl = k.sttl
		}
	}
	t.SrcPort, t.DstPort = layers.TCPPort(src.Port()), layers.TCPPort(dst.Port())
	t.Seq = *seq
	if flags&fSYN != 0 {
		t.Seq = k.ciss
		t.Window = 64240
		t.Options = synOptions()
		if !fromClient {
			t.Seq = k.siss
			t.Window = 65535
			t.Options[0].OptionData = []byte{0x05, 0xa0} // 1440
		}
	}
	if flags&fACK != 0 {
		t.Ack = ack
	}
	if fromClient || !k.hideServer {
		k.c.add(at, k.c.ipPacket(src.Addr(), dst.Addr(), ttl, layers.IPProtocolTCP, t, payload), note)
	}
	next := t.Seq + uint32(len(payload))
	if flags&(fSYN|fFIN) != 0 {
		next++
	}
	if next-*seq < 1<<31 || flags&fSYN != 0 {
		*seq = next
	}
}

// handshake emits SYN, SYN-ACK, ACK starting at at and returns the time of the ACK.
func (k *tcpConn) handshake(at time.Duration) time.Duration {
	k.seg(at, true, fSYN, nil, "")
	k.seg(at+k.rtt, false, fSYN|fACK, nil, "")
	k.seg(at+k.rtt+200*time.Microsecond, true, fACK, nil, "")
	return at + k.rtt + 200*time.Microsecond
}

// send emits data from one side in MSS-sized segments, PSH on the last, and
// returns the time of the last segment.
func (k *tcpConn) send(at time.Duration, fromClient bool, data []byte, note string) time.Duration {
	for i := 0; len(data) > 0; i++ {
		n := min(mss, len(data))
		flags := fACK
		if n == len(data) {
			flags |= fPSH
		}
		k.seg(at, fromClient, flags, data[:n], note)
		note = ""
		data = data[n:]
		if len(data) > 0 {
			at += 30 * time.Microsecond
		}
	}
	return at
}

// ack emits a pure ACK.
func (k *tcpConn) ack(at time.Duration, fromClient bool) { k.seg(at, fromClient, fACK, nil, "") }

// exchange: client sends req, server ACKs-by-answering after one RTT; returns time of the answer.
func (k *tcpConn) exchange(at time.Duration, req, resp []byte) time.Duration {
	at = k.send(at, true, req, "")
	at = k.send(at+k.rtt, false, resp, "")
	k.ack(at+300*time.Microsecond, true)
	return at + 300*time.Microsecond
}

// close emits a FIN exchange initiated by the client.
func (k *tcpConn) close(at time.Duration) time.Duration {
	k.seg(at, true, fFIN|fACK, nil, "")
	k.seg(at+k.rtt, false, fFIN|fACK, nil, "")
	k.ack(at+k.rtt+200*time.Microsecond, true)
	return at + k.rtt + 200*time.Microsecond
}

// udp emits one UDP datagram; the TTL follows the source.
func (c *capture) udp(at time.Duration, src, dst netip.AddrPort, payload []byte, note string) {
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	c.add(at, c.ipPacket(src.Addr(), dst.Addr(), c.ttlFor(src.Addr()), layers.IPProtocolUDP, u, payload), note)
}

// udpBytes returns the IP packet bytes of a UDP datagram without queuing it.
func (c *capture) udpBytes(src, dst netip.AddrPort, payload []byte) []byte {
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	return c.ipPacket(src.Addr(), dst.Addr(), c.ttlFor(src.Addr()), layers.IPProtocolUDP, u, payload)
}

// icmpUnreachable emits an ICMP (v4 type 3, or v6 type 1) error from router
// quoting orig. For IPv4 the quote is the IP header plus 8 bytes (RFC 792);
// for IPv6 as much of the packet as fits in 1280 bytes (RFC 4443).
func (c *capture) icmpUnreachable(at time.Duration, router netip.Addr, orig []byte, code uint8, note string) {
	if router.Is4() {
		ihl := int(orig[0]&0x0f) * 4
		quote := orig[:ihl+8]
		src, _ := netip.AddrFromSlice(orig[12:16])
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, code)}
		c.add(at, c.ipPacket(router, src, 64, layers.IPProtocolICMPv4, ic, quote), note)
		return
	}
	src, _ := netip.AddrFromSlice(orig[8:24])
	quote := append(make([]byte, 4), orig[:min(len(orig), 1280-48)]...)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeDestinationUnreachable, code)}
	c.add(at, c.ipPacket(router, src, 64, layers.IPProtocolICMPv6, ic, quote), note)
}

func ms(n float64) time.Duration  { return time.Duration(n * float64(time.Millisecond)) }
func sec(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }

// synOptions returns a fresh copy of the SYN options a Windows client sends
// (MSS 1460, NOP, window scale 8, NOP, NOP, SACK permitted); callers may
// change it (a server's SYN-ACK announces MSS 1440).
func synOptions() []layers.TCPOption {
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{8}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
	}
}
