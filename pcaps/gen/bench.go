package main

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The benchmark corpus is a gateway mix streamed straight to disk: packets are
// produced in timestamp order by a heap of active flows, each a small state
// machine, so memory stays bounded by the number of concurrent flows.

type benchStats struct{ bytes, packets, flows int64 }

// Flow kinds of the corpus and their share of new flows (percent).
const (
	bkMedia = iota
	bkTLS
	bkDNS
	bkSynOnly
	bkRefused
)

var benchMix = [...]struct{ kind, pct int }{
	{bkMedia, 16}, {bkTLS, 34}, {bkDNS, 30}, {bkSynOnly, 10}, {bkRefused, 10},
}

// benchArrivalsPerSec sets the capture's time scale: ~8000 new flows per
// second gives ~2500 concurrent media flows, a large gateway.
const benchArrivalsPerSec = 8000

var benchSNIs = []string{
	"sipdir.online.lync.com", "webpoolam41e02.infra.lync.com", "webpoolbl20e04.infra.lync.com",
	"teams.microsoft.com", "login.microsoftonline.com", "outlook.office365.com",
	"contoso.sharepoint.com", "worldaz.tr.teams.microsoft.com", "52-113-1-1.relay.teams.microsoft.com",
	"presence.teams.microsoft.com", "api.flightproxy.teams.microsoft.com", "www.example.org",
}

type bflow struct {
	id       uint64
	next     int64 // ns offset from base
	kind     int
	step     int
	left     int // remaining packets (media) / exchanges (tls)
	v6       bool
	vlan     uint16
	cli, srv [16]byte
	cport    uint16
	sport    uint16
	cseq     uint32
	sseq     uint32
	sni      int
	tls13    bool
	answered bool
	mod      *modality
	up, down rtpState
	dnsID    uint16
	dnsName  int
}

type rtpState struct {
	ssrc uint32
	seq  uint16
	ts   uint32
}

type flowHeap []*bflow

func (h flowHeap) Len() int { return len(h) }
func (h flowHeap) Less(i, j int) bool {
	if h[i].next != h[j].next {
		return h[i].next < h[j].next
	}
	return h[i].id < h[j].id
}
func (h flowHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *flowHeap) Push(x any)   { *h = append(*h, x.(*bflow)) }
func (h *flowHeap) Pop() any {
	old := *h
	f := old[len(old)-1]
	*h = old[:len(old)-1]
	return f
}

// benchWriter owns every buffer reused across packets.
type benchWriter struct {
	rng     *rand.Rand
	w       *pcapgo.Writer
	buf     gopacket.SerializeBuffer
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	ls      []gopacket.SerializableLayer
	payload []byte
	hellos  [][2][]byte // per SNI: TLS 1.2 and TLS 1.3 ClientHello templates
	flight  []byte      // server TLS flight template
	dnsQ    [][]byte    // per SNI: query template
	dnsR    [][]byte    // per SNI: response template
	synOpts []layers.TCPOption
	st      benchStats
	ipid    uint16
	now     int64
}

func writeBench(path string, size int64, seed uint64) (benchStats, error) {
	f, err := os.Create(path)
	if err != nil {
		return benchStats{}, err
	}
	bw := bufio.NewWriterSize(f, 4<<20)
	b := newBenchWriter(bw, seed)
	if err := b.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return b.st, err
	}
	b.st.bytes = 24
	if err := b.run(size); err != nil {
		f.Close()
		return b.st, fmt.Errorf("%s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return b.st, err
	}
	return b.st, f.Close()
}

func newBenchWriter(w *bufio.Writer, seed uint64) *benchWriter {
	b := &benchWriter{
		rng:     rand.New(rand.NewPCG(seed, 0xbe4c4)),
		w:       pcapgo.NewWriter(w),
		buf:     gopacket.NewSerializeBufferExpectedSize(64, 1600),
		payload: make([]byte, 1600),
		ls:      make([]gopacket.SerializableLayer, 0, 6),
	}
	b.synOpts = synOptions()
	// Templates come from a scratch capture seeded from the corpus seed.
	c := newCapture(fmt.Sprintf("bench-%d", seed), false)
	for _, sni := range benchSNIs {
		b.hellos = append(b.hellos, [2][]byte{c.clientHello(sni, false, false), c.clientHello(sni, true, false)})
		id := uint16(c.rng.Uint32())
		b.dnsQ = append(b.dnsQ, dnsQuery(c.buf, id, sni, layers.DNSTypeA))
		b.dnsR = append(b.dnsR, dnsResponse(c.buf, id, sni, layers.DNSTypeA, 0, []dnsAnswer{a(sni, teamsIP)}))
	}
	b.flight = tlsRecord(0x16, 0x0303, c.serverHello(true))
	b.flight = append(b.flight, tlsRecord(0x14, 0x0303, []byte{1})...)
	b.flight = append(b.flight, c.appData(1460-len(b.flight)-5)...)
	return b
}

func (b *benchWriter) run(size int64) error {
	h := &flowHeap{}
	var nextArrival int64
	var id uint64
	for b.st.bytes < size {
		if h.Len() == 0 || nextArrival <= (*h)[0].next {
			f := b.newFlow(id, nextArrival)
			id++
			b.st.flows++
			heap.Push(h, f)
			nextArrival += int64(b.rng.ExpFloat64() * float64(time.Second) / benchArrivalsPerSec)
			continue
		}
		f := (*h)[0]
		done, err := b.step(f)
		if err != nil {
			return err
		}
		if done {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
	}
	return nil
}

func (b *benchWriter) newFlow(id uint64, at int64) *bflow {
	r := b.rng
	f := &bflow{id: id, next: at}
	p := r.IntN(100)
	for _, m := range benchMix {
		if p < m.pct {
			f.kind = m.kind
			break
		}
		p -= m.pct
	}
	f.v6 = r.IntN(100) < 6
	if r.IntN(100) < 10 {
		f.vlan = uint16(10 + r.IntN(8))
	}
	// client 10.x.y.z / 2001:db8:10::/64
	if f.v6 {
		copy(f.cli[:], client6.AsSlice())
		binary.BigEndian.PutUint64(f.cli[8:], r.Uint64())
	} else {
		f.cli[0], f.cli[1], f.cli[2], f.cli[3] = 10, byte(1+r.IntN(40)), byte(r.IntN(256)), byte(1+r.IntN(254))
	}
	f.cport = uint16(60000 + r.IntN(5000))
	f.sport = 443
	switch f.kind {
	case bkMedia:
		mods := [...]*modality{&audioSILK, &audioSILK, &audioSILK, &benchVideo, &benchShare}
		f.mod = mods[r.IntN(len(mods))]
		switch f.mod.pt {
		case 104:
			f.cport = uint16(50000 + r.IntN(20))
			f.left = 50 + r.IntN(80)
		case 122:
			f.cport = uint16(50020 + r.IntN(20))
			f.left = 40 + r.IntN(80)
		default:
			f.cport = uint16(50040 + r.IntN(20))
			f.left = 20 + r.IntN(40)
		}
		if r.IntN(100) < 80 {
			f.sport = uint16(3478 + r.IntN(4))
		} else {
			f.sport = uint16(50000 + r.IntN(10000))
		}
		f.answered = r.IntN(100) >= 4
		f.up = rtpState{r.Uint32(), uint16(r.Uint32()), r.Uint32()}
		f.down = rtpState{r.Uint32(), uint16(r.Uint32()), r.Uint32()}
		b.serverAddr(f, true)
	case bkTLS:
		f.sni = r.IntN(len(benchSNIs))
		f.tls13 = r.IntN(2) == 0
		f.left = 1 + r.IntN(6)
		f.cseq, f.sseq = r.Uint32(), r.Uint32()
		b.serverAddr(f, false)
	case bkDNS:
		f.dnsName = r.IntN(len(benchSNIs))
		f.answered = r.IntN(100) >= 3
		f.sport = 53
		if f.v6 {
			copy(f.srv[:], gateway6.AsSlice())
		} else {
			copy(f.srv[:], []byte{10, 0, 0, 53})
		}
	case bkSynOnly, bkRefused:
		f.cseq = r.Uint32()
		if r.IntN(4) == 0 {
			f.sport = 5223
		}
		b.serverAddr(f, false)
	}
	return f
}

var (
	benchVideo = modality{"video", 122, 90000, 33 * time.Millisecond, 300, 800}
	benchShare = modality{"desktop-share", 127, 90000, 100 * time.Millisecond, 150, 800}
)

// serverAddr picks an Office 365 server (IPv4 52.112.0.0/14 and
// 13.107.64.0/18, IPv6 2603:1063::/38).
func (b *benchWriter) serverAddr(f *bflow, media bool) {
	r := b.rng
	if f.v6 {
		copy(f.srv[:], relay6.AsSlice())
		binary.BigEndian.PutUint32(f.srv[12:], r.Uint32())
		return
	}
	if media || r.IntN(4) != 0 {
		f.srv[0], f.srv[1], f.srv[2], f.srv[3] = 52, byte(112+r.IntN(4)), byte(r.IntN(256)), byte(1+r.IntN(254))
	} else {
		f.srv[0], f.srv[1], f.srv[2], f.srv[3] = 13, 107, byte(64+r.IntN(64)), byte(1+r.IntN(254))
	}
}

// step writes f's next packet and schedules the one after; it reports
// whether the flow is finished.
func (b *benchWriter) step(f *bflow) (bool, error) {
	r := b.rng
	b.now = f.next // the packet's time; the branches below advance f.next
	switch f.kind {
	case bkDNS:
		if f.step == 0 {
			f.dnsID = uint16(r.Uint32())
			q := b.dnsQ[f.dnsName]
			p := b.payload[:len(q)]
			copy(p, q)
			binary.BigEndian.PutUint16(p, f.dnsID)
			f.step++
			f.next += int64(5+r.IntN(30)) * int64(time.Millisecond)
			return !f.answered, b.udpPkt(f, true, p)
		}
		a := b.dnsR[f.dnsName]
		p := b.payload[:len(a)]
		copy(p, a)
		binary.BigEndian.PutUint16(p, f.dnsID)
		return true, b.udpPkt(f, false, p)
	case bkSynOnly:
		f.step++
		f.next += int64(f.step) * int64(time.Second) // t, t+1, t+3
		return f.step == 3, b.tcpPkt(f, true, fSYN, nil)
	case bkRefused:
		if f.step == 0 {
			f.step++
			f.next += int64(time.Millisecond) + int64(r.IntN(20000))*1000
			return false, b.tcpPkt(f, true, fSYN, nil)
		}
		f.cseq++
		return true, b.tcpPkt(f, false, fRST|fACK, nil)
	case bkTLS:
		return b.tlsStep(f)
	case bkMedia:
		return b.mediaStep(f)
	}
	return true, nil
}

func (b *benchWriter) tlsStep(f *bflow) (bool, error) {
	r := b.rng
	rtt := int64(8+r.IntN(40)) * int64(time.Millisecond)
	f.step++
	switch f.step {
	case 1:
		f.next += rtt
		return false, b.tcpPkt(f, true, fSYN, nil)
	case 2:
		f.next += 200 * int64(time.Microsecond)
		f.cseq++
		return false, b.tcpPkt(f, false, fSYN|fACK, nil)
	case 3:
		f.sseq++
		f.next += 300 * int64(time.Microsecond)
		return false, b.tcpPkt(f, true, fACK, nil)
	case 4:
		t := b.hellos[f.sni][0]
		if f.tls13 {
			t = b.hellos[f.sni][1]
		}
		p := b.payload[:len(t)]
		copy(p, t)
		fillRand(r, p[11:43]) // ClientHello.random
		f.next += rtt
		return false, b.sendData(f, true, p)
	case 5:
		f.next += int64(time.Millisecond)
		return false, b.sendData(f, false, b.flight)
	}
	// exchanges: client record, server record, then FIN handshake
	if f.left > 0 {
		if f.step%2 == 0 {
			f.next += rtt
			return false, b.sendData(f, true, b.record(100+r.IntN(700)))
		}
		f.left--
		f.next += int64(50+r.IntN(400)) * int64(time.Millisecond)
		return false, b.sendData(f, false, b.record(200+r.IntN(1200)))
	}
	switch f.step % 2 {
	case 0:
		f.next += rtt
		f.left = -1
		err := b.tcpPkt(f, true, fFIN|fACK, nil)
		f.cseq++
		return false, err
	default:
		err := b.tcpPkt(f, false, fFIN|fACK, nil)
		f.sseq++
		return true, err
	}
}

// record returns an application_data record of n bytes in the payload buffer.
func (b *benchWriter) record(n int) []byte {
	p := b.payload[:n]
	p[0], p[1], p[2] = 0x17, 3, 3
	binary.BigEndian.PutUint16(p[3:], uint16(n-5))
	fillRand(b.rng, p[5:])
	return p
}

func (b *benchWriter) sendData(f *bflow, fromClient bool, p []byte) error {
	err := b.tcpPkt(f, fromClient, fACK|fPSH, p)
	if fromClient {
		f.cseq += uint32(len(p))
	} else {
		f.sseq += uint32(len(p))
	}
	return err
}

func (b *benchWriter) mediaStep(f *bflow) (bool, error) {
	r := b.rng
	m := f.mod
	switch {
	case f.step < 7 && !f.answered: // Binding request, RFC 5389 retransmissions
		f.step++
		f.next += int64(500*time.Millisecond) << (f.step - 1)
		msg := b.stunBinding(f, stunBindingRequest)
		return f.step == 4, b.udpPkt(f, true, msg)
	case f.step == 0:
		f.step++
		f.next += int64(20+r.IntN(30)) * int64(time.Millisecond)
		return false, b.udpPkt(f, true, b.stunBinding(f, stunBindingRequest))
	case f.step == 1:
		f.step++
		f.next += int64(5 * time.Millisecond)
		return false, b.udpPkt(f, false, b.stunBinding(f, stunBindingSuccess))
	}
	// RTP: alternate c2s, s2c
	fromClient := f.step%2 == 0
	f.step++
	st := &f.down
	if fromClient {
		st = &f.up
	} else {
		f.left--
	}
	n := m.minLen + r.IntN(m.maxLen-m.minLen+1)
	p := b.payload[:12+n]
	if f.left%250 == 0 && fromClient {
		// RTCP receiver report (rtcp-mux)
		p = b.payload[:32]
		copy(p, rtcpRR(f.up.ssrc, f.down.ssrc, 0, 40))
	} else {
		p[0], p[1] = 0x80, m.pt
		binary.BigEndian.PutUint16(p[2:], st.seq)
		binary.BigEndian.PutUint32(p[4:], st.ts)
		binary.BigEndian.PutUint32(p[8:], st.ssrc)
		fillRand(r, p[12:])
		st.seq++
		st.ts += uint32(int64(m.clock) * int64(m.interval) / int64(time.Second))
	}
	if fromClient {
		f.next += int64(m.interval) / 2
	} else {
		f.next += int64(m.interval)/2 + int64(r.IntN(1000))*1000 - 500000
	}
	return f.left <= 0, b.udpPkt(f, fromClient, p)
}

func (b *benchWriter) stunBinding(f *bflow, typ uint16) []byte {
	p := b.payload[:20]
	binary.BigEndian.PutUint16(p, typ)
	binary.BigEndian.PutUint32(p[4:], stunCookie)
	binary.BigEndian.PutUint64(p[8:], f.id)
	binary.BigEndian.PutUint32(p[16:], uint32(f.cport))
	if typ == stunBindingSuccess {
		p = append(p, 0, 0x20, 0, 8, 0, 1)
		p = binary.BigEndian.AppendUint16(p, f.cport^0x2112)
		p = binary.BigEndian.AppendUint32(p, 0xcb00712d^stunCookie) // 203.0.113.45
	} else {
		p = append(p, 0x80, 0x22, 0, 8)
		p = append(p, "sfbtrace"...)
	}
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)-20))
	return p
}

func (b *benchWriter) addrs(f *bflow, fromClient bool) (src, dst net.IP) {
	n := 4
	if f.v6 {
		n = 16
	}
	src, dst = f.cli[:n], f.srv[:n]
	if !fromClient {
		src, dst = dst, src
	}
	return src, dst
}

func (b *benchWriter) udpPkt(f *bflow, fromClient bool, payload []byte) error {
	b.udp = layers.UDP{SrcPort: layers.UDPPort(f.cport), DstPort: layers.UDPPort(f.sport)}
	if !fromClient {
		b.udp.SrcPort, b.udp.DstPort = b.udp.DstPort, b.udp.SrcPort
	}
	return b.emit(f, fromClient, layers.IPProtocolUDP, &b.udp, payload)
}

func (b *benchWriter) tcpPkt(f *bflow, fromClient bool, flags int, payload []byte) error {
	t := &b.tcp
	*t = layers.TCP{SrcPort: layers.TCPPort(f.cport), DstPort: layers.TCPPort(f.sport), Seq: f.cseq, Ack: f.sseq, Window: 1026,
		FIN: flags&fFIN != 0, SYN: flags&fSYN != 0, RST: flags&fRST != 0, PSH: flags&fPSH != 0, ACK: flags&fACK != 0}
	if !fromClient {
		t.SrcPort, t.DstPort = t.DstPort, t.SrcPort
		t.Seq, t.Ack = f.sseq, f.cseq
		t.Window = 2050
	}
	if flags&fSYN != 0 {
		t.Options = b.synOpts
		t.Window = 64240
	}
	if flags&fACK == 0 {
		t.Ack = 0
	}
	return b.emit(f, fromClient, layers.IPProtocolTCP, t, payload)
}

func (b *benchWriter) emit(f *bflow, fromClient bool, proto layers.IPProtocol, l4 gopacket.SerializableLayer, payload []byte) error {
	src, dst := b.addrs(f, fromClient)
	ttl := uint8(128)
	if !fromClient {
		ttl = 50
	}
	b.eth = layers.Ethernet{SrcMAC: clientMAC, DstMAC: gatewayMAC, EthernetType: layers.EthernetTypeIPv4}
	if !fromClient {
		b.eth.SrcMAC, b.eth.DstMAC = gatewayMAC, clientMAC
	}
	ls := append(b.ls[:0], &b.eth)
	var nl gopacket.NetworkLayer
	et := layers.EthernetTypeIPv4
	if f.v6 {
		et = layers.EthernetTypeIPv6
		b.ip6 = layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: proto, SrcIP: src, DstIP: dst}
		nl = &b.ip6
	} else {
		b.ipid++
		b.ip4 = layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: proto, Id: b.ipid, SrcIP: src, DstIP: dst}
		if proto == layers.IPProtocolTCP {
			b.ip4.Flags = layers.IPv4DontFragment
		}
		nl = &b.ip4
	}
	if f.vlan != 0 {
		b.eth.EthernetType = layers.EthernetTypeDot1Q
		b.dot1q = layers.Dot1Q{VLANIdentifier: f.vlan, Type: et}
		ls = append(ls, &b.dot1q)
	} else {
		b.eth.EthernetType = et
	}
	ls = append(ls, nl.(gopacket.SerializableLayer))
	switch l := l4.(type) {
	case *layers.TCP:
		l.SetNetworkLayerForChecksum(nl)
	case *layers.UDP:
		l.SetNetworkLayerForChecksum(nl)
	}
	ls = append(ls, l4, gopacket.Payload(payload))
	if err := gopacket.SerializeLayers(b.buf, serializeOpts, ls...); err != nil {
		return err
	}
	data := b.buf.Bytes()
	ts := base.Add(time.Duration(b.now))
	if err := b.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		return err
	}
	b.st.packets++
	b.st.bytes += int64(16 + len(data))
	return nil
}
