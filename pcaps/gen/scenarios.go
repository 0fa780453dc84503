package main

import (
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// scenarios lists the capture builders in README order.
var scenarios = []func() *capture{
	healthyCall,
	failingCall,
	tcpNoAnswer,
	tcpRefused,
	tcpReset,
	tlsResetAfterHello,
	icmpUnreachable,
	udpNoAnswer,
	oneWayMedia,
	mediaOverTCP,
	sourcePortOutOfRange,
	edgePortRangeBlocked,
	idleCut,
	dnsFailure,
	nonO365Destination,
	turnAllocateFailed,
	mediaQuality,
	natMappingChanged,
	tlsIntercepted,
	viaProxy,
	captureGaps,
	vlanQinQ,
	sllCapture,
	sll2Capture,
	rawIPCapture,
	twoInterfaces,
	ipv6Call,
}

const (
	sipdirName  = "sipdir.online.lync.com"
	webpoolName = "webpoolam41e02.infra.lync.com"
	teamsName   = "teams.microsoft.com"
	loginName   = "login.microsoftonline.com"
	outlookName = "outlook.office365.com"
	spoName     = "contoso.sharepoint.com"
	relayName   = "worldaz.tr.teams.microsoft.com"
	pushName    = "1-courier.push.apple.com"
)

var (
	lyncChain    = microsoftChain("*.online.lync.com", "*.online.lync.com", "sipdir.online.lync.com", "*.infra.lync.com", "*.lync.com")
	infraChain   = microsoftChain("*.infra.lync.com", "*.infra.lync.com", "*.online.lync.com")
	relayChain   = microsoftChain("tr.teams.microsoft.com", "tr.teams.microsoft.com", "*.tr.teams.microsoft.com", "relay.teams.microsoft.com", "turn.teams.microsoft.com")
	contosoLync  = contosoChain("*.online.lync.com", "*.online.lync.com", "sipdir.online.lync.com")
	contosoInfra = contosoChain("*.infra.lync.com", "*.infra.lync.com")
)

// httpsExchange runs a TLS 1.3 session with n request/response pairs and closes it.
func (c *capture) httpsExchange(at time.Duration, k *tcpConn, sni string, pq bool, n int, note string) time.Duration {
	at = k.handshake(at)
	at = k.tls13(at, sni, pq, note)
	for i := 0; i < n; i++ {
		at = k.exchange(at+ms(2), c.appData(400+c.rng.IntN(900)), c.appData(800+c.rng.IntN(5000)))
	}
	return k.close(at + ms(50))
}

// signIn emits the sign-in sequence (DNS + TLS to sipdir, login, webpool
// SIP, teams) and returns the long-lived SIP connection.
func (c *capture) signIn(at time.Duration, port uint16) (*tcpConn, time.Duration) {
	at = c.dns(at, sipdirName, 0, a(sipdirName, sipdirIP))
	k := c.tcp(ap(client4, port), ap(sipdirIP, 443))
	at = k.handshake(at)
	at = k.tls12(at, sipdirName, lyncChain, fmt.Sprintf("ClientHello SNI %s (TLS 1.2), %s:%d -> %s:443", sipdirName, client4, port, sipdirIP))
	at = k.exchange(at+ms(2), c.appData(712), c.appData(1530))
	at = k.close(at + ms(20))

	at = c.dns(at+ms(5), loginName, 0, a(loginName, loginIP))
	at = c.httpsExchange(at, c.tcp(ap(client4, port+1), ap(loginIP, 443)), loginName, true, 2,
		fmt.Sprintf("ClientHello SNI %s, TLS 1.3 with X25519MLKEM768: spans 2 TCP segments", loginName))

	at = c.dns(at+ms(5), webpoolName, 0, a(webpoolName, webpoolIP))
	sip := c.tcp(ap(client4, port+2), ap(webpoolIP, 443))
	at = sip.handshake(at)
	at = sip.tls12(at, webpoolName, infraChain, fmt.Sprintf("ClientHello SNI %s: the long-lived SIP/TLS connection", webpoolName))
	for i := 0; i < 3; i++ { // REGISTER, SUBSCRIBE, SERVICE
		at = sip.exchange(at+ms(3), c.appData(900+c.rng.IntN(600)), c.appData(600+c.rng.IntN(2400)))
	}
	at = c.dns(at+ms(5), teamsName, 0, a(teamsName, teamsIP))
	at = c.httpsExchange(at, c.tcp(ap(client4, port+3), ap(teamsIP, 443)), teamsName, true, 2,
		fmt.Sprintf("ClientHello SNI %s, TLS 1.3 with X25519MLKEM768: spans 2 TCP segments", teamsName))
	return sip, at
}

func healthyCall() *capture {
	c := newCapture("healthy-call.pcapng", true)
	c.title = "A complete sign-in and a 20 s audio/video/sharing call through the Teams relay"
	c.desc = `
Sign-in: DNS then TLS 1.2 to sipdir.online.lync.com (certificate chain *.online.lync.com
issued by "Microsoft Azure TLS Issuing CA 01", intermediate issued by "DigiCert Global Root
G2"), TLS 1.3 to login.microsoftonline.com and teams.microsoft.com (ClientHello records of
~1,490 bytes carrying an X25519MLKEM768 key share: SNI extraction needs both segments), the
long-lived SIP/TLS 1.2 connection 192.168.1.10:49702 -> webpoolam41e02.infra.lync.com
52.112.197.30:443 (open until the end of the capture, SIP traffic every few seconds),
Outlook (52.96.91.34:443), SharePoint (13.107.136.9:443) and Apple push
192.168.1.10:49720 -> 17.57.144.84:5223 (answered, stays open).

Call at t≈6 s, all media to the relay 52.114.250.27:3478 on UDP:
audio 192.168.1.10:50010 (RFC 5389 TURN Allocate -> 401 -> Allocate -> 0x0103 with
XOR-RELAYED-ADDRESS 52.114.250.27:52044 and XOR-MAPPED-ADDRESS 203.0.113.45:50010), video
192.168.1.10:50030 (same, relayed :52046), sharing 192.168.1.10:50045 (MS-TURN: 16-byte
transaction id without cookie, MAGIC-COOKIE attribute 0x000F = 0x72C64BC6, MS-VERSION
0x8008 = 6, MS-SERVICE-QUALITY 0x8055, MS-SEQUENCE-NUMBER 0x8050; success carries
MAPPED-ADDRESS 0x0001 = relayed 52.114.250.27:52048 and 0x8020 XOR-MAPPED-ADDRESS). RTP
then flows in both directions on the same 5-tuples for 20 s; RTCP SR every 5 s.
Unanswered ICE checks 192.168.1.10:50010 -> 10.0.5.23:50014 (the remote peer's private
host candidate; USERNAME "PeerUfrag:LocUfrag") are normal ICE behaviour.`
	c.expect("", "MUST NOT report any finding of severity error or warning.")
	c.expectNot("udp-no-answer", "192.168.1.10:50010 -> 10.0.5.23:50014 (ICE check to a private host candidate: normal)")
	c.expectNot("turn-allocate-failed", "the three 401 challenges are normal")
	c.expect("", "Verdicts: sign-in/SIP, presence, audio, video, desktop sharing, push = ok; calls: one call with audio/video/desktop-share RELAY streams (flows 50010, 50030, 50045 -> 52.114.250.27:3478).")

	sip, at := c.signIn(0, 49700)
	// Outlook and SharePoint
	at = c.dns(at+ms(10), outlookName, 0, a(outlookName, outlookIP))
	at = c.httpsExchange(at, c.tcp(ap(client4, 49710), ap(outlookIP, 443)), outlookName, false, 2, "ClientHello SNI outlook.office365.com (Outlook integration)")
	at = c.dns(at+ms(10), spoName, 0, a(spoName, spoIP))
	at = c.httpsExchange(at, c.tcp(ap(client4, 49711), ap(spoIP, 443)), spoName, false, 1, "ClientHello SNI contoso.sharepoint.com (file transfer)")
	// Apple push
	at = c.dns(at+ms(10), pushName, 0, a(pushName, pushIP))
	push := c.tcp(ap(client4, 49720), ap(pushIP, 5223))
	push.rtt = 95 * time.Millisecond
	pat := push.handshake(at)
	c.frames[len(c.frames)-3].note = "SYN 192.168.1.10:49720 -> 17.57.144.84:5223 (push), answered"
	pat = push.tls13(pat, pushName, false, "")
	push.exchange(pat+ms(5), c.appData(120), c.appData(80))

	// call setup on the SIP connection
	callStart := sec(6)
	sip.exchange(callStart-ms(400), c.appData(2900), c.appData(1100)) // INVITE / 183
	c.dns(callStart-ms(60), relayName, 0, a(relayName, relayIP))
	relay := ap(relayIP, 3478)
	audio, video, share := ap(client4, 50010), ap(client4, 50030), ap(client4, 50045)
	t := c.turnAllocate(callStart, audio, relay, ap(natPublic, 50010), ap(relayIP, 52044), allocOK,
		"TURN Allocate 192.168.1.10:50010 -> 52.114.250.27:3478 (audio)", "Allocate error 401 to 50010 (normal challenge)", "Allocate with credentials from 50010", "Allocate success 0x0103 to 50010, XOR-RELAYED-ADDRESS 52.114.250.27:52044")
	c.turnAllocate(callStart+ms(3), video, relay, ap(natPublic, 50030), ap(relayIP, 52046), allocOK,
		"TURN Allocate 192.168.1.10:50030 -> 52.114.250.27:3478 (video)", "", "", "Allocate success 0x0103 to 50030")
	c.msturnAllocate(callStart+ms(6), share, relay, ap(natPublic, 50045), ap(relayIP, 52048), 3,
		"MS-TURN Allocate 192.168.1.10:50045 -> 52.114.250.27:3478 (sharing; no header cookie, MAGIC-COOKIE attribute)", "MS-TURN 401 to 50045", "", "MS-TURN Allocate success 0x0103 to 50045")
	// ICE checks to the peer's private host candidate: unanswered, normal.
	for i, off := range []float64{0, 100, 300, 700, 1500} {
		note := ""
		if i == 0 {
			note = "ICE check 192.168.1.10:50010 -> 10.0.5.23:50014 (peer host candidate, never answered: normal)"
		}
		c.udp(t+ms(20+off), audio, ap(peerHost, 50014), c.iceCheck("PeerUfrag", "LocUfrag", "peerpassword0123456789ab", 2130706431), note)
	}
	sip.exchange(t+ms(200), c.appData(700), c.appData(1400)) // 200 OK / ACK
	mt := t + ms(300)
	c.media(mt, sec(20), audio, relay, audioSILK, mediaOpts{c2s: true, s2c: true, rtcp: sec(5), first: "first RTP c2s audio PT 104 from 50010", firstS2C: "first RTP s2c audio"})
	c.media(mt+ms(7), sec(20), video, relay, videoH264, mediaOpts{c2s: true, s2c: true, rtcp: sec(5), first: "first RTP c2s video PT 122 from 50030"})
	c.media(mt+ms(13), sec(20), share, relay, sharing, mediaOpts{c2s: true, s2c: true, rtcp: sec(5), first: "first RTP c2s sharing PT 127 from 50045"})
	// SIP keepalive traffic during the call and BYE at the end
	for s := 5.0; s < 20; s += 5 {
		sip.exchange(mt+sec(s)+ms(3), c.appData(60), c.appData(420))
	}
	push.exchange(mt+sec(12), c.appData(90), c.appData(90))
	sip.exchange(mt+sec(20)+ms(100), c.appData(850), c.appData(620)) // BYE / 200
	return c
}

func failingCall() *capture {
	c := newCapture("failing-call.pcap", false)
	c.title = "A failing sign-in and call: TCP 443 and UDP 3478 blocked, media from a wrong port"
	c.desc = `
DNS works. SYNs 192.168.1.10:49750 -> sipdir.online.lync.com 52.112.196.42:443 and
192.168.1.10:49751 -> teams.microsoft.com 52.113.194.132:443 are never answered (SYN at t,
t+1, t+3, t+7 s). TURN Allocates 192.168.1.10:50010 -> 52.114.250.27:3478 get no answer
(7 transmissions). A second client stack sends audio from 192.168.1.10:61234 to
52.114.250.28:3479: its Allocate is answered (401 then 0x0103) and RTP PT 104 flows both
ways for 5 s — working media, but from a source port outside 50000-50059.`
	c.expect("tcp-no-answer", "192.168.1.10:49750 -> 52.112.196.42:443 and 192.168.1.10:49751 -> 52.113.194.132:443 (state S0, 4 SYNs each)")
	c.expect("udp-no-answer", "192.168.1.10:50010 -> 52.114.250.27:3478 (7 Allocates, no reply)")
	c.expect("source-port-out-of-range", "192.168.1.10:61234 -> 52.114.250.28:3479 (audio from 61234)")
	at := c.dns(0, sipdirName, 0, a(sipdirName, sipdirIP))
	k := c.tcp(ap(client4, 49750), ap(sipdirIP, 443))
	for i, off := range []float64{0, 1, 3, 7} {
		note := ""
		if i == 0 {
			note = "SYN 192.168.1.10:49750 -> 52.112.196.42:443, never answered"
		}
		k.seg(at+sec(off), true, fSYN, nil, note)
	}
	at = c.dns(at+sec(7.5), teamsName, 0, a(teamsName, teamsIP))
	k = c.tcp(ap(client4, 49751), ap(teamsIP, 443))
	for i, off := range []float64{0, 1, 3, 7} {
		note := ""
		if i == 0 {
			note = "SYN 192.168.1.10:49751 -> 52.113.194.132:443, never answered"
		}
		k.seg(at+sec(off), true, fSYN, nil, note)
	}
	at += sec(8)
	alloc := stunMsg{typ: stunAllocateRequest, tid: c.tid(), attrs: []stunAttr{attrU32(attrRequestedTransport, 17<<24), attrStr(attrSoftware, software)}, fingerprint: true}.bytes()
	c.unansweredSTUN(at, ap(client4, 50010), ap(relayIP, 3478), alloc, "TURN Allocate 192.168.1.10:50010 -> 52.114.250.27:3478, never answered")
	wrong := ap(client4, 61234)
	srv := ap(relay2IP, 3479)
	t := c.turnAllocate(at+ms(200), wrong, srv, ap(natPublic, 61234), ap(relay2IP, 53112), allocOK, "TURN Allocate from 192.168.1.10:61234 (outside 50000-50059) -> 52.114.250.28:3479")
	c.media(t+ms(100), sec(5), wrong, srv, audioSILK, mediaOpts{c2s: true, s2c: true, first: "first RTP PT 104 from 61234"})
	return c
}

func tcpNoAnswer() *capture {
	c := newCapture("tcp-no-answer.pcap", false)
	c.title = "SYNs to Office 365 on 443 silently dropped"
	c.desc = `
Two connections, each a SYN and three retransmissions (t, t+1, t+3, t+7 s), no reply:
192.168.1.10:49760 -> 52.112.196.42:443 (sipdir.online.lync.com, resolved just before) and
192.168.1.10:49761 -> 52.113.194.132:443 (teams.microsoft.com).`
	c.expect("tcp-no-answer", "192.168.1.10:49760 -> 52.112.196.42:443 and 192.168.1.10:49761 -> 52.113.194.132:443 (state S0)")
	c.expectNot("tcp-refused", "no RST in the file")
	at := c.dns(0, sipdirName, 0, a(sipdirName, sipdirIP))
	at = c.dns(at, teamsName, 0, a(teamsName, teamsIP))
	for j, dst := range []struct {
		port uint16
		ip   string
	}{{49760, "52.112.196.42"}, {49761, "52.113.194.132"}} {
		srvIP := sipdirIP
		if j == 1 {
			srvIP = teamsIP
		}
		k := c.tcp(ap(client4, dst.port), ap(srvIP, 443))
		for i, off := range []float64{0, 1, 3, 7} {
			note := fmt.Sprintf("SYN retransmission %d 192.168.1.10:%d -> %s:443", i, dst.port, dst.ip)
			if i == 0 {
				note = fmt.Sprintf("SYN 192.168.1.10:%d -> %s:443", dst.port, dst.ip)
			}
			k.seg(at+ms(5)+sec(off)+ms(float64(j)*2), true, fSYN, nil, note)
		}
	}
	return c
}

func tcpRefused() *capture {
	c := newCapture("tcp-refused.pcap", false)
	c.title = "SYNs answered by RST/ACK"
	c.desc = `
192.168.1.10:49770 -> 52.112.196.42:443: SYN answered by RST/ACK with TTL 254 (forged by
the firewall; no SYN-ACK); Windows retries twice (t+0.5 s, t+1.5 s), each refused the same
way. 192.168.1.10:49771 -> 52.96.91.34:443 (Outlook): SYN answered by RST/ACK with TTL 50,
retried twice too.`
	c.expect("tcp-refused", "192.168.1.10:49770 -> 52.112.196.42:443 (REJ; the RST/ACK carries TTL 254: forged by the firewall) and 192.168.1.10:49771 -> 52.96.91.34:443 (REJ)")
	c.expectNot("tcp-no-answer", "every SYN got a RST")
	at := c.dns(0, sipdirName, 0, a(sipdirName, sipdirIP))
	for j, srv := range []struct {
		port uint16
		ip   string
		ttl  uint8
	}{{49770, "52.112.196.42", 254}, {49771, "52.96.91.34", 50}} {
		dst := sipdirIP
		if j == 1 {
			dst = outlookIP
		}
		k := c.tcp(ap(client4, srv.port), ap(dst, 443))
		t := at + sec(float64(j)*3)
		for i, off := range []float64{0, 500, 1500} {
			k.seg(t+ms(off), true, fSYN, nil, map[bool]string{true: fmt.Sprintf("SYN 192.168.1.10:%d -> %s:443", srv.port, srv.ip)}[i == 0])
			k.sseq = 0 // RFC 793: a RST answering a SYN has seq 0 and acks the SYN
			k.segTTL(t+ms(off)+ms(1.2+float64(j)*20), false, fRST|fACK, nil, fmt.Sprintf("RST/ACK from %s TTL %d", srv.ip, srv.ttl), srv.ttl)
		}
	}
	return c
}

func tcpReset() *capture {
	c := newCapture("tcp-reset.pcap", false)
	c.title = "An established SIP/TLS connection reset mid-session by a middlebox"
	c.desc = `
192.168.1.10:49780 -> 52.112.196.42:443: handshake and TLS 1.2 with the server (TTL 50),
then SIP traffic for 4 s, then a RST (seq = the server's next sequence number, so it is
accepted) that claims to come from 52.112.196.42 but carries TTL 254: forged by a
middlebox. The client reconnects (192.168.1.10:49781) and that connection stays up.`
	c.expect("tcp-reset", "192.168.1.10:49780 -> 52.112.196.42:443 (RSTR; RST TTL 254 differs from the handshake TTL 50)")
	c.expectNot("tls-reset-after-hello", "the TLS handshake completed before the reset")
	c.expectNot("tcp-reset", "192.168.1.10:49781 (the reconnection, not reset)")
	at := c.dns(0, sipdirName, 0, a(sipdirName, sipdirIP))
	k := c.tcp(ap(client4, 49780), ap(sipdirIP, 443))
	at = k.handshake(at)
	c.frames[len(c.frames)-2].note = "SYN-ACK from 52.112.196.42, TTL 50"
	at = k.tls12(at, sipdirName, lyncChain, "ClientHello SNI sipdir.online.lync.com")
	for i := 0; i < 4; i++ {
		at = k.exchange(at+sec(1), c.appData(500+c.rng.IntN(400)), c.appData(300+c.rng.IntN(900)))
	}
	k.segTTL(at+ms(800), false, fRST, nil, "RST from 52.112.196.42 with TTL 254 (forged)", 254)
	k2 := c.tcp(ap(client4, 49781), ap(sipdirIP, 443))
	at = k2.handshake(at + sec(1))
	at = k2.tls12(at, sipdirName, lyncChain, "reconnection 192.168.1.10:49781 (stays up)")
	k2.exchange(at+ms(5), c.appData(700), c.appData(900))
	return c
}

func tlsResetAfterHello() *capture {
	c := newCapture("tls-reset-after-hello.pcap", false)
	c.title = "TLS ClientHello answered by a RST (SNI filtering)"
	c.desc = `
Two connections complete the TCP handshake with the real server (TTL 50); right after the
ClientHello the client receives RST/ACK with TTL 254: 192.168.1.10:49790 -> 52.112.196.42:443
(SNI sipdir.online.lync.com, TLS 1.2) and 192.168.1.10:49791 -> 20.190.151.7:443 (SNI
login.microsoftonline.com, TLS 1.3, ~1,490-byte ClientHello in 2 segments).`
	c.expect("tls-reset-after-hello", "192.168.1.10:49790 -> 52.112.196.42:443 (SNI sipdir.online.lync.com) and 192.168.1.10:49791 -> 20.190.151.7:443 (SNI login.microsoftonline.com)")
	at := c.dns(0, sipdirName, 0, a(sipdirName, sipdirIP))
	k := c.tcp(ap(client4, 49790), ap(sipdirIP, 443))
	at = k.handshake(at)
	at = k.send(at+ms(0.5), true, c.clientHello(sipdirName, false, false), "ClientHello SNI sipdir.online.lync.com")
	k.segTTL(at+ms(1.1), false, fRST|fACK, nil, "RST/ACK TTL 254 right after the ClientHello", 254)
	at = c.dns(at+sec(1), loginName, 0, a(loginName, loginIP))
	k = c.tcp(ap(client4, 49791), ap(loginIP, 443))
	at = k.handshake(at)
	at = k.send(at+ms(0.5), true, c.clientHello(loginName, true, true), "ClientHello SNI login.microsoftonline.com (first of 2 segments)")
	k.segTTL(at+ms(1.1), false, fRST|fACK, nil, "RST/ACK TTL 254 right after the ClientHello", 254)
	return c
}

func icmpUnreachable() *capture {
	c := newCapture("icmp-unreachable.pcap", false)
	c.title = "UDP 3478 answered by ICMP administratively prohibited (IPv4 and IPv6)"
	c.desc = `
192.168.1.10:50010 -> 52.114.250.27:3478 TURN Allocate, three transmissions, each answered
by ICMP type 3 code 13 from the firewall 192.168.1.1 (TTL 64) quoting the IP header + 8
bytes of the datagram. 2001:db8:10::10:50020 -> [2603:1063:2:4::15]:3478 Allocate, three
transmissions, each answered by ICMPv6 type 1 code 1 (administratively prohibited) from
2001:db8:10::1 quoting the whole datagram.`
	c.expect("icmp-unreachable", "192.168.1.10:50010 -> 52.114.250.27:3478 (ICMP 3/13 from 192.168.1.1) and [2001:db8:10::10]:50020 -> [2603:1063:2:4::15]:3478 (ICMPv6 1/1 from 2001:db8:10::1)")
	c.expectNot("udp-no-answer", "both flows got an answer (an ICMP error); reporting udp-no-answer in addition is tolerated only if icmp-unreachable is present")
	alloc := func() []byte {
		return stunMsg{typ: stunAllocateRequest, tid: c.tid(), attrs: []stunAttr{attrU32(attrRequestedTransport, 17<<24), attrStr(attrSoftware, software)}, fingerprint: true}.bytes()
	}
	m := alloc()
	for i, off := range []float64{0, 500, 1500} {
		ip := c.udpBytes(ap(client4, 50010), ap(relayIP, 3478), m)
		c.add(ms(off), ip, map[bool]string{true: "Allocate 192.168.1.10:50010 -> 52.114.250.27:3478"}[i == 0])
		c.icmpUnreachable(ms(off)+ms(0.4), gateway4, ip, 13, "ICMP dest unreachable code 13 (admin prohibited) from 192.168.1.1")
	}
	m = alloc()
	for i, off := range []float64{0, 500, 1500} {
		ip := c.udpBytes(ap(client6, 50020), ap(relay6, 3478), m)
		c.add(sec(3)+ms(off), ip, map[bool]string{true: "Allocate [2001:db8:10::10]:50020 -> [2603:1063:2:4::15]:3478"}[i == 0])
		c.icmpUnreachable(sec(3)+ms(off)+ms(0.4), gateway6, ip, 1, "ICMPv6 dest unreachable code 1 (admin prohibited) from 2001:db8:10::1")
	}
	return c
}

func udpNoAnswer() *capture {
	c := newCapture("udp-no-answer.pcap", false)
	c.title = "TURN Allocates to 3478-3481 silently dropped"
	c.desc = `
Allocate requests with the RFC 5389 retransmission schedule, no reply:
192.168.1.10:50010 -> 52.114.250.27:3478 (audio), 192.168.1.10:50030 -> 52.114.250.27:3480
(video), 192.168.1.10:50045 -> 52.114.250.27:3481 (sharing). Also ICE checks
192.168.1.10:50010 -> 10.0.5.23:50014 (peer private host candidate), unanswered as usual.`
	c.expect("udp-no-answer", "192.168.1.10:50010 -> 52.114.250.27:3478, 192.168.1.10:50030 -> 52.114.250.27:3480, 192.168.1.10:50045 -> 52.114.250.27:3481")
	c.expectNot("udp-no-answer", "192.168.1.10:50010 -> 10.0.5.23:50014 (private peer candidate: normal)")
	for i, f := range []struct{ port, dport uint16 }{{50010, 3478}, {50030, 3480}, {50045, 3481}} {
		m := stunMsg{typ: stunAllocateRequest, tid: c.tid(), attrs: []stunAttr{attrU32(attrRequestedTransport, 17<<24), attrStr(attrSoftware, software)}, fingerprint: true}.bytes()
		c.unansweredSTUN(ms(float64(i)*3), ap(client4, f.port), ap(relayIP, f.dport), m, fmt.Sprintf("Allocate 192.168.1.10:%d -> 52.114.250.27:%d, never answered", f.port, f.dport))
	}
	for i, off := range []float64{0, 100, 300, 700, 1500} {
		c.udp(ms(50+off), ap(client4, 50010), ap(peerHost, 50014), c.iceCheck("PeerUfrag", "LocUfrag", "peerpassword0123456789ab", 2130706431),
			map[bool]string{true: "ICE check to private host candidate 10.0.5.23:50014 (normal, not a finding)"}[i == 0])
	}
	return c
}

func oneWayMedia() *capture {
	c := newCapture("one-way-media.pcap", false)
	c.title = "TURN allocation works but RTP flows only client -> relay"
	c.desc = `
192.168.1.10:50010 <-> 52.114.250.27:3478: Allocate -> 401 -> Allocate -> success, then RTP
PT 104 only from the client for 10 s (500 packets), nothing from the relay after the
allocation (the firewall passes STUN but drops inbound media).`
	c.expect("one-way-media", "192.168.1.10:50010 -> 52.114.250.27:3478 (RTP c2s 500 packets, s2c 0)")
	c.expectNot("udp-no-answer", "the flow is answered (STUN responses)")
	c.expectNot("turn-allocate-failed", "the allocation succeeded")
	cli, srv := ap(client4, 50010), ap(relayIP, 3478)
	t := c.turnAllocate(0, cli, srv, ap(natPublic, 50010), ap(relayIP, 52044), allocOK, "Allocate", "401 challenge", "", "Allocate success 0x0103")
	c.media(t+ms(100), sec(10), cli, srv, audioSILK, mediaOpts{c2s: true, first: "first RTP c2s (no RTP ever comes back)"})
	return c
}

func mediaOverTCP() *capture {
	c := newCapture("media-over-tcp.pcap", false)
	c.title = "UDP blocked, media falls back to TLS over TCP 443 to the relay"
	c.desc = `
192.168.1.10:50010 -> 52.114.250.27:3478: Allocate never answered (7 transmissions). Then
192.168.1.10:50012 -> 52.114.250.27:443: TCP + TLS 1.2, SNI worldaz.tr.teams.microsoft.com,
certificate tr.teams.microsoft.com; then 8 s of application data both ways every 20 ms
(TURN-over-TLS media). Source port 50012 is in the audio range.`
	c.expect("media-over-tcp", "192.168.1.10:50012 -> 52.114.250.27:443 (SNI worldaz.tr.teams.microsoft.com, client port in 50000-50059)")
	c.expect("udp-no-answer", "192.168.1.10:50010 -> 52.114.250.27:3478 (why media went to TCP)")
	m := stunMsg{typ: stunAllocateRequest, tid: c.tid(), attrs: []stunAttr{attrU32(attrRequestedTransport, 17<<24), attrStr(attrSoftware, software)}, fingerprint: true}.bytes()
	c.unansweredSTUN(0, ap(client4, 50010), ap(relayIP, 3478), m, "Allocate over UDP, never answered")
	k := c.tcp(ap(client4, 50012), ap(relayIP, 443))
	at := k.handshake(sec(2))
	c.frames[len(c.frames)-3].note = "SYN 192.168.1.10:50012 -> 52.114.250.27:443"
	at = k.tls12(at, relayName, relayChain, "ClientHello SNI worldaz.tr.teams.microsoft.com from media port 50012")
	at += ms(20)
	for i := 0; i < 400; i++ {
		t := at + time.Duration(i)*20*time.Millisecond
		k.send(t, true, c.appData(90+c.rng.IntN(30)), map[bool]string{true: "first media record c2s over TLS"}[i == 0])
		k.send(t+ms(9), false, c.appData(90+c.rng.IntN(30)), map[bool]string{true: "first media record s2c over TLS"}[i == 0])
	}
	return c
}

func sourcePortOutOfRange() *capture {
	c := newCapture("source-port-out-of-range.pcap", false)
	c.title = "Media from client ports the firewall rules do not cover"
	c.desc = `
Audio from 192.168.1.10:62000 -> 52.114.250.27:3478 (Allocate ok, RTP PT 104 both ways 3 s):
outside the client media range 50000-50059. Video from 192.168.1.10:50005 ->
52.114.250.27:3478 (Allocate ok, RTP PT 122 both ways 3 s): inside 50000-50059 but in the
audio sub-range 50000-50019 while the payload is video (the video sub-range is
50020-50039). Audio from 192.168.1.10:50010 (correct) for contrast.`
	c.expect("source-port-out-of-range", "192.168.1.10:62000 -> 52.114.250.27:3478 (audio outside 50000-50059)")
	c.expect("source-port-out-of-range", "192.168.1.10:50005 -> 52.114.250.27:3478 (video PT 122 from the audio sub-range; may be a separate finding of the same code with lower severity)")
	c.expectNot("source-port-out-of-range", "192.168.1.10:50010 (audio PT 104 from the audio sub-range)")
	srv := ap(relayIP, 3478)
	for i, f := range []struct {
		port uint16
		m    modality
		note string
	}{{62000, audioSILK, "Allocate from 62000 (outside 50000-50059)"}, {50005, videoH264, "Allocate from 50005, carries video"}, {50010, audioSILK, "Allocate from 50010 (correct audio port)"}} {
		cli := ap(client4, f.port)
		t := c.turnAllocate(ms(float64(i)*5), cli, srv, ap(natPublic, f.port), ap(relayIP, 52044+uint16(2*i)), allocOK, f.note)
		c.media(t+ms(100), sec(3), cli, srv, f.m, mediaOpts{c2s: true, s2c: true, first: fmt.Sprintf("first RTP PT %d from %d", f.m.pt, f.port)})
	}
	return c
}

func edgePortRangeBlocked() *capture {
	c := newCapture("edge-port-range-blocked.pcap", false)
	c.title = "Firewall opens only 50000-50059 as destination on the media edge"
	c.desc = `
From 192.168.1.10:50010 to the edge 13.107.64.21: STUN Binding to :50020 and :50045 answered
(XOR-MAPPED-ADDRESS 203.0.113.45:50010) followed by 2 s of RTP both ways; Binding to :51000
and :55000 never answered (7 transmissions each). The edge listens on the whole
50000-59999: only destinations above 50059 fail.`
	c.expect("edge-port-range-blocked", "192.168.1.10:50010 -> 13.107.64.21:51000 and 192.168.1.10:50010 -> 13.107.64.21:55000 (contrast: :50020 and :50045 answered)")
	c.expect("", "udp-no-answer on the :51000 and :55000 flows is tolerated (not required) alongside edge-port-range-blocked.")
	cli := ap(client4, 50010)
	for i, p := range []uint16{50020, 50045} {
		srv := ap(edgeIP, p)
		t := c.binding(ms(float64(i)*40), cli, srv, ap(natPublic, 50010), fmt.Sprintf("Binding 50010 -> 13.107.64.21:%d", p), "answered")
		c.media(t+ms(50), sec(2), cli, srv, audioSILK, mediaOpts{c2s: true, s2c: true})
	}
	for i, p := range []uint16{51000, 55000} {
		m := stunMsg{typ: stunBindingRequest, tid: c.tid(), attrs: []stunAttr{attrStr(attrSoftware, software)}, fingerprint: true}.bytes()
		c.unansweredSTUN(ms(100+float64(i)*40), cli, ap(edgeIP, p), m, fmt.Sprintf("Binding 50010 -> 13.107.64.21:%d, never answered", p))
	}
	return c
}

func idleCut() *capture {
	c := newCapture("idle-cut.pcap", false)
	c.title = "SIP/TLS connections cut by the firewall after 300 s idle"
	c.desc = `
Three consecutive TLS 1.2 connections to sipdir.online.lync.com 52.112.196.42:443 from
192.168.1.10:49800, :49801, :49802. Each carries SIP for ~2 s, then nothing in either
direction for exactly 300 s, then the network ends it: RST (TTL 254, in-window seq) for
:49800, FIN/ACK (TTL 254) for :49801 followed by the client's FIN, RST (TTL 254) for :49802.
The client reconnects 1 s after each cut. (A real SIP client sends keepalives; here the
idle period is bare to keep the file small.)`
	c.expect("idle-cut", "192.168.1.10:49800, :49801 and :49802 -> 52.112.196.42:443 (300 s idle then RST/FIN with TTL 254); the three cuts share the same ~300 s timeout")
	c.expectNot("tls-reset-after-hello", "the handshakes completed")
	at := c.dns(0, sipdirName, 0, a(sipdirName, sipdirIP))
	for i := 0; i < 3; i++ {
		port := uint16(49800 + i)
		k := c.tcp(ap(client4, port), ap(sipdirIP, 443))
		at = k.handshake(at)
		at = k.tls12(at, sipdirName, lyncChain, fmt.Sprintf("connection %d: ClientHello from 192.168.1.10:%d", i+1, port))
		for j := 0; j < 3; j++ {
			at = k.exchange(at+ms(500), c.appData(400+c.rng.IntN(500)), c.appData(300+c.rng.IntN(800)))
		}
		c.frames[len(c.frames)-1].note = fmt.Sprintf("connection %d: last packet before 300 s of silence", i+1)
		cut := at + sec(300) + ms(float64(i)*1.5)
		switch i {
		case 1:
			k.segTTL(cut, false, fFIN|fACK, nil, fmt.Sprintf("connection %d: FIN/ACK TTL 254 after 300 s idle", i+1), 254)
			k.seg(cut+ms(0.3), true, fFIN|fACK, nil, "")
		default:
			k.segTTL(cut, false, fRST, nil, fmt.Sprintf("connection %d: RST TTL 254 after 300 s idle", i+1), 254)
		}
		at = cut + sec(1)
	}
	return c
}

func dnsFailure() *capture {
	c := newCapture("dns-failure.pcap", false)
	c.title = "Discovery DNS fails: NXDOMAIN, SERVFAIL and no answer"
	c.desc = `
Resolver 192.168.1.1:53. lyncdiscover.contoso.com A -> NXDOMAIN (SOA in authority);
sipdir.online.lync.com A -> SERVFAIL; webdir.online.lync.com A sent 3 times (t, t+1, t+3 s),
never answered; login.microsoftonline.com A -> 20.190.151.7 (works, for contrast).`
	c.expect("dns-failure", "lyncdiscover.contoso.com (NXDOMAIN), sipdir.online.lync.com (SERVFAIL), webdir.online.lync.com (no answer)")
	c.expectNot("dns-failure", "login.microsoftonline.com (answered)")
	buf := c.buf
	q := func(at time.Duration, name string, rcode layers.DNSResponseCode, port uint16, note, rnote string) {
		id := uint16(c.rng.Uint32())
		cli, srv := ap(client4, port), ap(gateway4, 53)
		c.udp(at, cli, srv, dnsQuery(buf, id, name, layers.DNSTypeA), note)
		c.udp(at+ms(15), srv, cli, dnsResponse(buf, id, name, layers.DNSTypeA, rcode, nil), rnote)
	}
	q(0, "lyncdiscover.contoso.com", layers.DNSResponseCodeNXDomain, 54101, "query lyncdiscover.contoso.com A", "NXDOMAIN")
	q(ms(200), sipdirName, layers.DNSResponseCodeServFail, 54102, "query sipdir.online.lync.com A", "SERVFAIL")
	id := uint16(c.rng.Uint32())
	m := dnsQuery(buf, id, "webdir.online.lync.com", layers.DNSTypeA)
	for i, off := range []float64{0, 1, 3} {
		c.udp(ms(400)+sec(off), ap(client4, 54103), ap(gateway4, 53), m, map[bool]string{true: "query webdir.online.lync.com A (3 tries, never answered)"}[i == 0])
	}
	c.dns(sec(5), loginName, 0, a(loginName, loginIP))
	return c
}

func nonO365Destination() *capture {
	c := newCapture("non-o365-destination.pcap", false)
	c.title = "Office 365 names reaching addresses outside the Office 365 ranges"
	c.desc = `
DNS (a hijacking resolver) answers sipdir.online.lync.com A 203.0.113.10. TLS 1.3
192.168.1.10:49810 -> 203.0.113.10:443 with SNI sipdir.online.lync.com is answered
(handshake completes). STUN Binding 192.168.1.10:50010 -> 198.51.100.7:3478 answered
(XOR-MAPPED-ADDRESS 203.0.113.45:50010), followed by 2 s of RTP both ways.`
	c.expect("non-o365-destination", "192.168.1.10:49810 -> 203.0.113.10:443 (SNI sipdir.online.lync.com) and 192.168.1.10:50010 -> 198.51.100.7:3478 (STUN/RTP)")
	bad := mustAddr("203.0.113.10")
	at := c.dns(0, sipdirName, 0, a(sipdirName, bad))
	k := c.tcp(ap(client4, 49810), ap(bad, 443))
	at = k.handshake(at)
	at = k.tls13(at, sipdirName, false, "ClientHello SNI sipdir.online.lync.com to 203.0.113.10")
	at = k.exchange(at+ms(3), c.appData(700), c.appData(1300))
	k.close(at + ms(100))
	stunSrv := ap(mustAddr("198.51.100.7"), 3478)
	t := c.binding(sec(1), ap(client4, 50010), stunSrv, ap(natPublic, 50010), "STUN Binding to 198.51.100.7:3478", "Binding success")
	c.media(t+ms(50), sec(2), ap(client4, 50010), stunSrv, audioSILK, mediaOpts{c2s: true, s2c: true})
	return c
}

func turnAllocateFailed() *capture {
	c := newCapture("turn-allocate-failed.pcap", false)
	c.title = "TURN allocations rejected (403) or unanswered after the 401 challenge"
	c.desc = `
192.168.1.10:50010 -> 52.114.250.27:3478: Allocate -> 401 (normal) -> Allocate with
USERNAME/REALM/NONCE/MESSAGE-INTEGRITY -> 0x0113 ERROR-CODE 403 Forbidden.
192.168.1.10:50030 -> 52.114.250.28:3478: Allocate -> 401 -> authenticated Allocate sent 7
times (RFC 5389 schedule), never answered.`
	c.expect("turn-allocate-failed", "192.168.1.10:50010 -> 52.114.250.27:3478 (403) and 192.168.1.10:50030 -> 52.114.250.28:3478 (no answer after the 401)")
	c.expectNot("udp-no-answer", "both flows got answers (the 401s)")
	c.turnAllocate(0, ap(client4, 50010), ap(relayIP, 3478), ap(natPublic, 50010), ap(relayIP, 52044), allocForbidden,
		"Allocate 50010 -> 52.114.250.27:3478", "401 challenge (normal)", "authenticated Allocate", "0x0113 ERROR-CODE 403 Forbidden")
	c.turnAllocate(ms(300), ap(client4, 50030), ap(relay2IP, 3478), ap(natPublic, 50030), ap(relay2IP, 52046), allocUnanswered,
		"Allocate 50030 -> 52.114.250.28:3478", "401 challenge (normal)", "authenticated Allocate, 7 transmissions, never answered")
	return c
}

func mediaQuality() *capture {
	c := newCapture("media-quality.pcap", false)
	c.title = "Audio received with 5 % loss and high jitter"
	c.desc = `
192.168.1.10:50010 <-> 52.114.250.27:3478, Allocate ok, then 15 s of RTP PT 104 both ways.
The relay -> client direction loses ~5 % of packets (sequence gaps) and arrives in delay
spikes (200-400 ms, then the queue drains back to back, no reordering): RFC 3550
interarrival jitter well above Microsoft's 30 ms target. The client -> relay direction is
clean.`
	c.expect("media-quality", "192.168.1.10:50010 <-> 52.114.250.27:3478, direction s2c (loss and jitter)")
	c.expectNot("one-way-media", "both directions carry RTP")
	cli, srv := ap(client4, 50010), ap(relayIP, 3478)
	t := c.turnAllocate(0, cli, srv, ap(natPublic, 50010), ap(relayIP, 52044), allocOK)
	// Delay spikes: the transit time jumps by 200-400 ms, then the queued
	// packets are released back to back until the queue has drained.
	var queue time.Duration
	st := c.media(t+ms(100), sec(15), cli, srv, audioSILK, mediaOpts{c2s: true, s2c: true, lossPct: 5, rtcp: sec(5),
		firstS2C: "first RTP s2c (lossy, jittery direction)",
		s2cDelay: func(i int) time.Duration {
			if queue > 0 {
				queue -= 20*time.Millisecond - 200*time.Microsecond
				if queue < 0 {
					queue = 0
				}
			} else if c.rng.IntN(2) == 0 {
				queue = ms(200 + float64(c.rng.IntN(200)))
			}
			return queue
		}})
	c.extra = append(c.extra, fmt.Sprintf("Measured by the generator on the s2c direction (SSRC 0x%08x): %d packets written, %d lost (%.1f %%), RFC 3550 jitter (ms, RTP clock 16 kHz) mean %.1f, max %.1f, at the end %.1f.",
		st.s2cSSRC, st.s2cPackets, st.s2cLost, 100*float64(st.s2cLost)/float64(st.s2cPackets+st.s2cLost), st.meanJitterMs, st.maxJitterMs, st.jitterMs))
	return c
}

func natMappingChanged() *capture {
	c := newCapture("nat-mapping-changed.pcap", false)
	c.title = "The NAT's public mapping of the media flow changes mid-call"
	c.desc = `
192.168.1.10:50010 <-> 52.114.250.27:3478: Allocate success with XOR-MAPPED-ADDRESS
203.0.113.45:50010, RTP both ways for 12 s, STUN Binding keepalives every 3 s. The
response at t≈3 s reports 203.0.113.45:50010; from t≈6 s on they report 203.0.113.45:1034
(the firewall re-created the mapping).`
	c.expect("nat-mapping-changed", "192.168.1.10:50010 -> 52.114.250.27:3478 (XOR-MAPPED-ADDRESS 203.0.113.45:50010 -> 203.0.113.45:1034)")
	cli, srv := ap(client4, 50010), ap(relayIP, 3478)
	t := c.turnAllocate(0, cli, srv, ap(natPublic, 50010), ap(relayIP, 52044), allocOK, "", "", "", "Allocate success, XOR-MAPPED-ADDRESS 203.0.113.45:50010")
	c.media(t+ms(100), sec(12), cli, srv, audioSILK, mediaOpts{c2s: true, s2c: true})
	for i := 1; i < 4; i++ {
		mapped, note := ap(natPublic, 50010), "Binding success, XOR-MAPPED-ADDRESS 203.0.113.45:50010"
		if i >= 2 {
			mapped, note = ap(natPublic, 1034), "Binding success, XOR-MAPPED-ADDRESS 203.0.113.45:1034 (changed)"
		}
		if i > 2 {
			note = ""
		}
		c.binding(t+sec(float64(i)*3)+ms(5), cli, srv, mapped, "", note)
	}
	return c
}

func tlsIntercepted() *capture {
	c := newCapture("tls-intercepted.pcap", false)
	c.title = "A TLS-inspecting proxy re-signs the Office 365 certificates"
	c.desc = `
TLS 1.2 192.168.1.10:49820 -> 52.112.196.42:443 (SNI sipdir.online.lync.com) and
192.168.1.10:49821 -> 52.112.197.30:443 (SNI webpoolam41e02.infra.lync.com). The
Certificate messages carry leaves *.online.lync.com / *.infra.lync.com issued by
"Contoso Proxy CA" (O=Contoso Ltd, self-signed CA included in the chain) instead of
"Microsoft Azure TLS Issuing CA 01". Server packets carry TTL 64 (the proxy is local).`
	c.expect("tls-intercepted", "192.168.1.10:49820 -> 52.112.196.42:443 and 192.168.1.10:49821 -> 52.112.197.30:443 (issuer CN Contoso Proxy CA)")
	at := c.dns(0, sipdirName, 0, a(sipdirName, sipdirIP))
	for i, f := range []struct {
		sni   string
		dst   string
		chain [][]byte
	}{{sipdirName, "52.112.196.42", contosoLync}, {webpoolName, "52.112.197.30", contosoInfra}} {
		k := c.tcp(ap(client4, uint16(49820+i)), ap(mustAddr(f.dst), 443))
		k.sttl = 64
		k.rtt = 2 * time.Millisecond
		at = k.handshake(at + ms(20))
		at = k.tls12(at, f.sni, f.chain, "ClientHello SNI "+f.sni)
		c.markLast("ServerHello+Certificate: issuer CN=Contoso Proxy CA")
		at = k.exchange(at+ms(5), c.appData(800), c.appData(1200))
	}
	return c
}

// markLast notes the first server->client frame that carries the certificate
// (the first segment of the server flight).
func (c *capture) markLast(note string) {
	for i := len(c.frames) - 1; i >= 0; i-- {
		d := c.frames[i].data
		// Ethernet + IPv4 + 20-byte TCP: look for a TLS handshake record with ServerHello.
		if len(d) > 14+20+20+6 && d[14+20+20] == 0x16 && d[14+20+20+5] == 2 {
			c.frames[i].note = note
			return
		}
	}
}

func viaProxy() *capture {
	c := newCapture("via-proxy.pcap", false)
	c.title = "Office 365 reached through an explicit HTTP proxy (CONNECT)"
	c.desc = `
192.168.1.10:49830 -> proxy 10.0.0.8:8080: "CONNECT sipdir.online.lync.com:443 HTTP/1.1"
answered "HTTP/1.1 200 Connection established", then TLS 1.2 inside the tunnel (SNI
sipdir.online.lync.com, genuine Microsoft certificate). Same for 192.168.1.10:49831 ->
10.0.0.8:8080 with CONNECT login.microsoftonline.com:443 and TLS 1.3.`
	c.expect("via-proxy", "192.168.1.10:49830 -> 10.0.0.8:8080 (CONNECT sipdir.online.lync.com:443) and 192.168.1.10:49831 -> 10.0.0.8:8080 (CONNECT login.microsoftonline.com:443)")
	c.expectNot("tls-intercepted", "the certificate inside the tunnel is Microsoft's")
	c.expectNot("non-o365-destination", "10.0.0.8 is a private proxy; the SNI names O365 but the address is the proxy")
	connect := func(host string) []byte {
		return []byte("CONNECT " + host + ":443 HTTP/1.1\r\nHost: " + host + ":443\r\nUser-Agent: Microsoft Lync\r\nProxy-Connection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
	}
	ok := []byte("HTTP/1.1 200 Connection established\r\nProxy-Agent: Contoso-Proxy/1.0\r\n\r\n")
	var at time.Duration
	for i, host := range []string{sipdirName, loginName} {
		k := c.tcp(ap(client4, uint16(49830+i)), ap(proxyIP, 8080))
		k.rtt = ms(1.5)
		at = k.handshake(at + ms(10))
		at = k.send(at+ms(0.3), true, connect(host), "CONNECT "+host+":443 to 10.0.0.8:8080")
		at = k.send(at+ms(40), false, ok, "HTTP/1.1 200 Connection established")
		k.rtt = ms(25)
		if i == 0 {
			at = k.tls12(at+ms(0.5), host, lyncChain, "ClientHello SNI "+host+" inside the tunnel")
		} else {
			at = k.tls13(at+ms(0.5), host, false, "ClientHello SNI "+host+" inside the tunnel")
		}
		at = k.exchange(at+ms(3), c.appData(800), c.appData(1900))
	}
	return c
}

func captureGaps() *capture {
	c := newCapture("capture-gaps.pcap", false)
	c.title = "Only the client -> server half of TCP connections was captured"
	c.desc = `
Asymmetric routing / a SPAN of one direction: 192.168.1.10:49840 -> 52.112.196.42:443 and
192.168.1.10:49841 -> 52.112.197.30:443 show the SYN, the client's ACK of a SYN-ACK that is
not in the file, the ClientHello and client data whose ACK numbers acknowledge server bytes
never seen (the server flights, ~4-8 KB each).`
	c.expect("capture-gaps", "192.168.1.10:49840 -> 52.112.196.42:443 and 192.168.1.10:49841 -> 52.112.197.30:443 (ACKs for data never seen)")
	c.expectNot("tcp-no-answer", "the client's ACKs prove the SYN was answered")
	var at time.Duration
	for i, f := range []struct {
		dst  string
		sni  string
		cert [][]byte
	}{{"52.112.196.42", sipdirName, lyncChain}, {"52.112.197.30", webpoolName, infraChain}} {
		k := c.tcp(ap(client4, uint16(49840+i)), ap(mustAddr(f.dst), 443))
		k.hideServer = true
		at = k.handshake(at + ms(30))
		c.frames[len(c.frames)-1].note = fmt.Sprintf("ACK of a SYN-ACK not in the capture (49%d)", 840+i)
		at = k.tls12(at, f.sni, f.cert, "ClientHello SNI "+f.sni)
		for j := 0; j < 4; j++ {
			at = k.exchange(at+ms(200), c.appData(600+c.rng.IntN(400)), c.appData(1000+c.rng.IntN(3000)))
		}
	}
	return c
}

// shortFlow emits DNS, a TLS 1.2 session to sipdir and a STUN binding with
// 1 s of RTP: the content of the link-type variants.
func (c *capture) shortFlow(at time.Duration) time.Duration {
	at = c.dns(at, sipdirName, 0, a(sipdirName, sipdirIP))
	k := c.tcp(ap(client4, 49850), ap(sipdirIP, 443))
	at = k.handshake(at)
	at = k.tls12(at, sipdirName, lyncChain, "ClientHello SNI sipdir.online.lync.com")
	at = k.exchange(at+ms(3), c.appData(600), c.appData(900))
	at = k.close(at + ms(50))
	cli, srv := ap(client4, 50010), ap(relayIP, 3478)
	at = c.binding(at+ms(10), cli, srv, ap(natPublic, 50010), "STUN Binding 50010 -> 52.114.250.27:3478", "Binding success")
	c.media(at+ms(20), sec(1), cli, srv, audioSILK, mediaOpts{c2s: true, s2c: true})
	return at + sec(1)
}

func linkVariant(name string, kind linkKind, title string) *capture {
	c := newCapture(name, false, iface{name: "any", kind: kind})
	c.title = title
	c.desc = `
DNS sipdir.online.lync.com, TLS 1.2 192.168.1.10:49850 -> 52.112.196.42:443 (handshake,
one exchange, FIN), STUN Binding 192.168.1.10:50010 -> 52.114.250.27:3478 answered and 1 s
of RTP PT 104 both ways. Same content in sll.pcap, sll2.pcap and raw-ip.pcap.`
	c.expect("", "MUST NOT report any finding; the report lists the link type and decodes every packet (decode_errors 0).")
	c.shortFlow(0)
	return c
}

func sllCapture() *capture {
	return linkVariant("sll.pcap", linkSLL, "A short healthy flow with Linux cooked headers (LINKTYPE_LINUX_SLL, 113)")
}

func sll2Capture() *capture {
	return linkVariant("sll2.pcap", linkSLL2, "A short healthy flow with Linux cooked v2 headers (LINKTYPE_LINUX_SLL2, 276)")
}

func rawIPCapture() *capture {
	return linkVariant("raw-ip.pcap", linkRaw, "A short healthy flow as raw IP (LINKTYPE_RAW, 101)")
}

func vlanQinQ() *capture {
	c := newCapture("vlan-qinq.pcap", false)
	c.title = "Healthy flows behind 802.1Q and QinQ tags"
	c.desc = `
DNS and TLS 1.2 192.168.1.10:49850 -> 52.112.196.42:443 are tagged 802.1Q VLAN 100
(TPID 0x8100). The STUN Binding and RTP 192.168.1.10:50010 <-> 52.114.250.27:3478 are
double-tagged (outer 802.1ad TPID 0x88a8 VLAN 200, inner 0x8100 VLAN 100).`
	c.expect("", "MUST NOT report any finding; all packets decode (decode_errors 0) and the flows are the same as in sll.pcap.")
	c.vlans = []uint16{100}
	at := c.dns(0, sipdirName, 0, a(sipdirName, sipdirIP))
	k := c.tcp(ap(client4, 49850), ap(sipdirIP, 443))
	at = k.handshake(at)
	at = k.tls12(at, sipdirName, lyncChain, "ClientHello SNI sipdir.online.lync.com (VLAN 100)")
	at = k.exchange(at+ms(3), c.appData(600), c.appData(900))
	at = k.close(at + ms(50))
	c.vlans = []uint16{200, 100}
	cli, srv := ap(client4, 50010), ap(relayIP, 3478)
	at = c.binding(at+ms(10), cli, srv, ap(natPublic, 50010), "STUN Binding (QinQ 200/100)", "")
	c.media(at+ms(20), sec(1), cli, srv, audioSILK, mediaOpts{c2s: true, s2c: true})
	return c
}

func twoInterfaces() *capture {
	c := newCapture("two-interfaces.pcapng", true, iface{name: "eth0", kind: linkEthernet}, iface{name: "tun0", kind: linkRaw})
	c.title = "pcapng with two interfaces of different link types"
	c.desc = `
Interface 0 "eth0" (Ethernet) carries DNS and TLS 1.2 192.168.1.10:49850 ->
52.112.196.42:443. Interface 1 "tun0" (raw IP, a VPN) carries STUN Binding and 1 s of RTP
192.168.1.10:50010 <-> 52.114.250.27:3478. The two interfaces' packets interleave in time.
Reader pitfall: gopacket's pcapgo.NgReader with default options silently drops the packets
of interfaces whose link type differs from the first (all 102 tun0 frames here); set
NgReaderOptions.WantMixedLinkType and take the link type from ci.AncillaryData[0].`
	c.expect("", "MUST NOT report any finding; link_types lists both Ethernet and Raw; decode_errors 0.")
	at := c.dns(0, sipdirName, 0, a(sipdirName, sipdirIP))
	k := c.tcp(ap(client4, 49850), ap(sipdirIP, 443))
	at = k.handshake(at)
	tlsAt := at
	k.tls12(at, sipdirName, lyncChain, "ClientHello SNI sipdir.online.lync.com (interface 0)")
	c.curIface = 1
	cli, srv := ap(client4, 50010), ap(relayIP, 3478)
	t := c.binding(tlsAt, cli, srv, ap(natPublic, 50010), "STUN Binding (interface 1, raw IP)", "")
	c.media(t+ms(5), sec(1), cli, srv, audioSILK, mediaOpts{c2s: true, s2c: true})
	c.curIface = 0
	k.exchange(tlsAt+ms(300), c.appData(600), c.appData(900))
	return c
}

func ipv6Call() *capture {
	c := newCapture("ipv6-call.pcapng", true)
	c.title = "The healthy call over IPv6"
	c.desc = `
Client 2001:db8:10::10. AAAA sipdir.online.lync.com -> 2603:1027::12; TLS 1.2
[2001:db8:10::10]:49860 -> [2603:1027::12]:443 (SNI sipdir.online.lync.com, Microsoft
certificate); TLS 1.3 [2001:db8:10::10]:49861 -> [2603:1027:0:1::21]:443 (SNI
teams.microsoft.com). Media to the relay [2603:1063:2:4::15]:3478 (in 2603:1063::/38):
audio from 50010 and video from 50030, TURN Allocate -> 401 -> success with IPv6
XOR-MAPPED-ADDRESS (XORed with cookie and transaction id), RTP both ways for 10 s.`
	c.expect("", "MUST NOT report any finding of severity error or warning; all flows are in Office 365 IPv6 ranges.")
	at := c.dns(0, sipdirName, 0, a(sipdirName, sipdir6))
	k := c.tcp(ap(client6, 49860), ap(sipdir6, 443))
	at = k.handshake(at)
	at = k.tls12(at, sipdirName, lyncChain, "ClientHello SNI sipdir.online.lync.com over IPv6")
	at = k.exchange(at+ms(3), c.appData(700), c.appData(1500))
	at = c.dns(at, teamsName, 0, a(teamsName, teams6))
	at = c.httpsExchange(at, c.tcp(ap(client6, 49861), ap(teams6, 443)), teamsName, true, 1, "ClientHello SNI teams.microsoft.com over IPv6")
	relay := ap(relay6, 3478)
	at += ms(500)
	for i, f := range []struct {
		port uint16
		m    modality
	}{{50010, audioSILK}, {50030, videoH264}} {
		cli := ap(client6, f.port)
		t := c.turnAllocate(at+ms(float64(i)*4), cli, relay, ap(mustAddr("2001:db8:10::10"), f.port), ap(relay6, 52044+uint16(2*i)), allocOK,
			fmt.Sprintf("Allocate [2001:db8:10::10]:%d -> [2603:1063:2:4::15]:3478", f.port), "", "", "Allocate success, IPv6 XOR-RELAYED/XOR-MAPPED-ADDRESS")
		c.media(t+ms(100), sec(10), cli, relay, f.m, mediaOpts{c2s: true, s2c: true, rtcp: sec(5)})
	}
	k.exchange(at+sec(11), c.appData(500), c.appData(500))
	return c
}
