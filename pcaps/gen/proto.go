package main

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"hash/crc32"
	"math/big"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ---- STUN / TURN (RFC 5389, RFC 5766) and MS-TURN ----

const stunCookie = 0x2112A442

// STUN message types.
const (
	stunBindingRequest   = 0x0001
	stunBindingSuccess   = 0x0101
	stunAllocateRequest  = 0x0003
	stunAllocateSuccess  = 0x0103
	stunAllocateError    = 0x0113
	stunRefreshRequest   = 0x0004
	stunRefreshSuccess   = 0x0104
	msturnMagicCookieVal = 0x72C64BC6
)

// STUN attribute types.
const (
	attrMappedAddress      = 0x0001
	attrUsername           = 0x0006
	attrMessageIntegrity   = 0x0008
	attrErrorCode          = 0x0009
	attrLifetime           = 0x000D
	attrMSMagicCookie      = 0x000F
	attrBandwidth          = 0x0010
	attrRealm              = 0x0014
	attrNonce              = 0x0015
	attrXorRelayedAddress  = 0x0016
	attrRequestedTransport = 0x0019
	attrXorMappedAddress   = 0x0020
	attrPriority           = 0x0024
	attrUseCandidate       = 0x0025
	attrMSVersion          = 0x8008
	attrSoftware           = 0x8022
	attrFingerprint        = 0x8028
	attrICEControlling     = 0x802A
	attrMSSequenceNumber   = 0x8050
	attrMSCandidateID      = 0x8054
	attrMSServiceQuality   = 0x8055
)

type stunAttr struct {
	typ uint16
	val []byte
}

// stunMsg describes one STUN message. A 16-byte tid makes a classic
// (RFC 3489 / MS-TURN) header without the magic cookie.
type stunMsg struct {
	typ         uint16
	tid         []byte
	attrs       []stunAttr
	key         []byte // MESSAGE-INTEGRITY key, nil for none
	fingerprint bool
}

func (m stunMsg) bytes() []byte {
	b := make([]byte, 20, 256)
	binary.BigEndian.PutUint16(b[0:], m.typ)
	if len(m.tid) == 16 {
		copy(b[4:], m.tid)
	} else {
		binary.BigEndian.PutUint32(b[4:], stunCookie)
		copy(b[8:], m.tid)
	}
	for _, a := range m.attrs {
		b = appendAttr(b, a.typ, a.val)
	}
	if m.key != nil {
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)-20+24))
		mac := hmac.New(sha1.New, m.key)
		mac.Write(b)
		b = appendAttr(b, attrMessageIntegrity, mac.Sum(nil))
	}
	if m.fingerprint {
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)-20+8))
		b = appendAttr(b, attrFingerprint, binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b)^0x5354554e))
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)-20))
	return b
}

func appendAttr(b []byte, typ uint16, val []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func attrU32(typ uint16, v uint32) stunAttr {
	return stunAttr{typ, binary.BigEndian.AppendUint32(nil, v)}
}

func attrStr(typ uint16, s string) stunAttr { return stunAttr{typ, []byte(s)} }

// mappedAddr encodes a (non-XOR) MAPPED-ADDRESS style value.
func mappedAddr(typ uint16, a netip.AddrPort) stunAttr {
	v := []byte{0, 1}
	if a.Addr().Is6() {
		v[1] = 2
	}
	v = binary.BigEndian.AppendUint16(v, a.Port())
	v = append(v, a.Addr().AsSlice()...)
	return stunAttr{typ, v}
}

// xorAddr encodes XOR-MAPPED-ADDRESS / XOR-RELAYED-ADDRESS (RFC 5389 15.2):
// the port is XORed with the top 16 bits of the magic cookie, the address with
// the cookie followed by the 12-byte transaction id tid.
func xorAddr(typ uint16, a netip.AddrPort, tid []byte) stunAttr {
	return xorAddrKey(typ, a, append(binary.BigEndian.AppendUint32(nil, stunCookie), tid...))
}

// xorAddrKey XORs with key, the 16 header bytes after the length: cookie +
// transaction id for RFC 5389, the 128-bit transaction id for MS-TURN (as
// Wireshark's classicstun dissector decodes it).
func xorAddrKey(typ uint16, a netip.AddrPort, key []byte) stunAttr {
	v := []byte{0, 1}
	if a.Addr().Is6() {
		v[1] = 2
	}
	v = binary.BigEndian.AppendUint16(v, a.Port()^binary.BigEndian.Uint16(key))
	ip := a.Addr().AsSlice()
	for i := range ip {
		ip[i] ^= key[i]
	}
	return stunAttr{typ, append(v, ip...)}
}

func errorCode(code int, reason string) stunAttr {
	v := []byte{0, 0, byte(code / 100), byte(code % 100)}
	return stunAttr{attrErrorCode, append(v, reason...)}
}

// longTermKey is MD5(username ":" realm ":" password), RFC 5389 15.4.
func longTermKey(user, realm, pass string) []byte {
	s := md5.Sum([]byte(user + ":" + realm + ":" + pass))
	return s[:]
}

// ---- RTP / RTCP (RFC 3550) ----

// rtpStream is one RTP sender: constant SSRC, advancing sequence and timestamp.
type rtpStream struct {
	ssrc  uint32
	seq   uint16
	ts    uint32
	pt    uint8
	tsInc uint32 // timestamp units per packet
	sent  uint32
	octs  uint32
}

func newRTP(r *rand.Rand, pt uint8, tsInc uint32) *rtpStream {
	return &rtpStream{ssrc: r.Uint32(), seq: uint16(r.Uint32()), ts: r.Uint32(), pt: pt, tsInc: tsInc}
}

// next returns the next RTP packet with a random (SRTP-like) payload and
// advances seq/timestamp. advanceTS=false keeps the timestamp (same video frame).
func (s *rtpStream) next(r *rand.Rand, payloadLen int, marker, advanceTS bool) []byte {
	b := make([]byte, 12+payloadLen)
	b[0] = 0x80
	b[1] = s.pt
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], s.seq)
	binary.BigEndian.PutUint32(b[4:], s.ts)
	binary.BigEndian.PutUint32(b[8:], s.ssrc)
	fillRand(r, b[12:])
	s.seq++
	if advanceTS {
		s.ts += s.tsInc
	}
	s.sent++
	s.octs += uint32(payloadLen)
	return b
}

// rtcpSR builds a sender report (PT 200) with one reception report block
// about peer, followed by 10 bytes of SRTCP-like trailer.
func (s *rtpStream) rtcpSR(at time.Time, peer uint32, lost uint32, jitter uint32) []byte {
	b := make([]byte, 0, 52)
	b = append(b, 0x81, 200)
	b = binary.BigEndian.AppendUint16(b, 12) // (52/4)-1
	b = binary.BigEndian.AppendUint32(b, s.ssrc)
	ntp := uint64(at.Unix()+2208988800)<<32 | uint64(at.Nanosecond())*(1<<32)/1e9
	b = binary.BigEndian.AppendUint64(b, ntp)
	b = binary.BigEndian.AppendUint32(b, s.ts)
	b = binary.BigEndian.AppendUint32(b, s.sent)
	b = binary.BigEndian.AppendUint32(b, s.octs)
	return appendReportBlock(b, peer, lost, jitter)
}

// appendReportBlock appends one RTCP reception report block (RFC 3550
// 6.4.1) about peer: fraction lost 0, cumulative lost, highest sequence 0,
// jitter, no LSR/DLSR.
func appendReportBlock(b []byte, peer, lost, jitter uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, peer)
	b = binary.BigEndian.AppendUint32(b, lost&0xffffff)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, jitter)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0)
	return b
}

// rtcpRR builds a receiver report (PT 201) with one report block.
func rtcpRR(ssrc, peer uint32, lost uint32, jitter uint32) []byte {
	b := make([]byte, 0, 32)
	b = append(b, 0x81, 201)
	b = binary.BigEndian.AppendUint16(b, 7)
	b = binary.BigEndian.AppendUint32(b, ssrc)
	return appendReportBlock(b, peer, lost, jitter)
}

// ---- TLS ----

type tlsHello struct {
	sni      string
	tls13    bool
	pq       bool // X25519MLKEM768 key share: the ClientHello spans two TCP segments
	alpn     []string
	random   []byte
	session  []byte
	keyShare []byte
}

func (c *capture) clientHello(sni string, tls13, pq bool) []byte {
	h := tlsHello{sni: sni, tls13: tls13, pq: pq, random: c.randBytes(32), session: c.randBytes(32), keyShare: c.randBytes(32)}
	if tls13 {
		h.alpn = []string{"h2", "http/1.1"}
	}
	var pqShare []byte
	if pq {
		pqShare = c.randBytes(1216)
	}
	return h.bytes(pqShare)
}

func u16(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }

func ext(b []byte, typ int, body []byte) []byte {
	b = u16(b, typ)
	b = u16(b, len(body))
	return append(b, body...)
}

func (h tlsHello) bytes(pqShare []byte) []byte {
	var body []byte
	body = u16(body, 0x0303)
	body = append(body, h.random...)
	body = append(body, byte(len(h.session)))
	body = append(body, h.session...)
	suites := []int{0xc02c, 0xc02b, 0xc030, 0xc02f, 0xc024, 0xc023, 0xc028, 0xc027, 0x009d, 0x009c}
	if h.tls13 {
		suites = append([]int{0x1302, 0x1301}, suites...)
	}
	body = u16(body, 2*len(suites))
	for _, s := range suites {
		body = u16(body, s)
	}
	body = append(body, 1, 0) // compression: null
	var exts []byte
	// server_name (RFC 6066)
	var sn []byte
	sn = u16(sn, len(h.sni)+3)
	sn = append(sn, 0)
	sn = u16(sn, len(h.sni))
	sn = append(sn, h.sni...)
	exts = ext(exts, 0x0000, sn)
	exts = ext(exts, 0x0005, []byte{1, 0, 0, 0, 0})                        // status_request
	groups := []byte{0, 8, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, 0x00, 0x19} // x25519, p256, p384, p521
	if pqShare != nil {
		groups = []byte{0, 10, 0x11, 0xec, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, 0x00, 0x19}
	}
	exts = ext(exts, 0x000a, groups)
	exts = ext(exts, 0x000b, []byte{1, 0}) // ec_point_formats
	exts = ext(exts, 0x000d, []byte{0, 12, 0x08, 0x07, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01})
	exts = ext(exts, 0x0017, nil) // extended_master_secret
	exts = ext(exts, 0xff01, []byte{0})
	if len(h.alpn) > 0 {
		var a []byte
		for _, p := range h.alpn {
			a = append(a, byte(len(p)))
			a = append(a, p...)
		}
		exts = ext(exts, 0x0010, append(u16(nil, len(a)), a...))
	}
	if h.tls13 {
		exts = ext(exts, 0x002b, []byte{4, 0x03, 0x04, 0x03, 0x03}) // supported_versions
		exts = ext(exts, 0x002d, []byte{1, 1})                      // psk_key_exchange_modes
		var ks []byte
		if pqShare != nil {
			ks = u16(ks, 0x11ec)
			ks = u16(ks, len(pqShare))
			ks = append(ks, pqShare...)
		}
		ks = u16(ks, 0x001d)
		ks = u16(ks, 32)
		ks = append(ks, h.keyShare...)
		exts = ext(exts, 0x0033, append(u16(nil, len(ks)), ks...))
	}
	body = u16(body, len(exts))
	body = append(body, exts...)
	return tlsRecord(0x16, 0x0301, handshakeMsg(1, body))
}

func handshakeMsg(typ byte, body []byte) []byte {
	b := []byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return append(b, body...)
}

func tlsRecord(typ byte, version int, body []byte) []byte {
	b := []byte{typ}
	b = u16(b, version)
	b = u16(b, len(body))
	return append(b, body...)
}

// serverHello returns the ServerHello handshake message.
func (c *capture) serverHello(tls13 bool) []byte {
	var body []byte
	body = u16(body, 0x0303)
	body = append(body, c.randBytes(32)...)
	body = append(body, 32)
	body = append(body, c.randBytes(32)...)
	var exts []byte
	if tls13 {
		body = u16(body, 0x1302)
		body = append(body, 0)
		exts = ext(exts, 0x002b, []byte{0x03, 0x04})
		exts = ext(exts, 0x0033, append([]byte{0x00, 0x1d, 0, 32}, c.randBytes(32)...))
	} else {
		body = u16(body, 0xc02c)
		body = append(body, 0)
		exts = ext(exts, 0xff01, []byte{0})
		exts = ext(exts, 0x0017, nil)
		exts = ext(exts, 0x000b, []byte{1, 0})
	}
	body = u16(body, len(exts))
	body = append(body, exts...)
	return handshakeMsg(2, body)
}

// serverFlight12 returns the TLS 1.2 server flight: ServerHello, Certificate,
// ServerKeyExchange (x25519, ed25519 signature), ServerHelloDone in one record.
func (c *capture) serverFlight12(chain [][]byte) []byte {
	hs := c.serverHello(false)
	var certs []byte
	for _, der := range chain {
		certs = append(certs, byte(len(der)>>16), byte(len(der)>>8), byte(len(der)))
		certs = append(certs, der...)
	}
	cm := []byte{byte(len(certs) >> 16), byte(len(certs) >> 8), byte(len(certs))}
	hs = append(hs, handshakeMsg(11, append(cm, certs...))...)
	ske := []byte{3, 0x00, 0x1d, 32}
	ske = append(ske, c.randBytes(32)...)
	ske = append(ske, 0x08, 0x07, 0, 64)
	ske = append(ske, c.randBytes(64)...)
	hs = append(hs, handshakeMsg(12, ske)...)
	hs = append(hs, handshakeMsg(14, nil)...)
	return tlsRecord(0x16, 0x0303, hs)
}

// appData returns one TLS application_data record of n encrypted bytes.
func (c *capture) appData(n int) []byte { return tlsRecord(0x17, 0x0303, c.randBytes(n)) }

// tls12 runs a full TLS 1.2 handshake on k after the TCP handshake and
// returns the time the handshake completed.
func (k *tcpConn) tls12(at time.Duration, sni string, chain [][]byte, note string) time.Duration {
	c := k.c
	at = k.send(at+ms(0.5), true, c.clientHello(sni, false, false), note)
	at = k.send(at+k.rtt, false, c.serverFlight12(chain), "")
	// ClientKeyExchange + ChangeCipherSpec + encrypted Finished
	cke := tlsRecord(0x16, 0x0303, handshakeMsg(16, append([]byte{32}, c.randBytes(32)...)))
	cke = append(cke, tlsRecord(0x14, 0x0303, []byte{1})...)
	cke = append(cke, tlsRecord(0x16, 0x0303, c.randBytes(40))...)
	at = k.send(at+ms(1.2), true, cke, "")
	fin := append(tlsRecord(0x14, 0x0303, []byte{1}), tlsRecord(0x16, 0x0303, c.randBytes(40))...)
	at = k.send(at+k.rtt, false, fin, "")
	return at
}

// tls13 runs a TLS 1.3 handshake (server certificate encrypted).
func (k *tcpConn) tls13(at time.Duration, sni string, pq bool, note string) time.Duration {
	c := k.c
	at = k.send(at+ms(0.5), true, c.clientHello(sni, true, pq), note)
	flight := tlsRecord(0x16, 0x0303, c.serverHello(true))
	flight = append(flight, tlsRecord(0x14, 0x0303, []byte{1})...)
	flight = append(flight, c.appData(2900+c.rng.IntN(600))...) // EncryptedExtensions..Finished
	at = k.send(at+k.rtt, false, flight, "")
	k.ack(at+ms(0.2), true)
	fin := append(tlsRecord(0x14, 0x0303, []byte{1}), c.appData(53)...)
	return k.send(at+ms(1), true, fin, "")
}

// ---- certificates ----

// certChain returns DER certificates [leaf, issuer] generated
// deterministically from fixed ed25519 seeds (ed25519 signatures need no
// randomness, so the bytes are stable).
func certChain(leafCN string, sans []string, issuerCN, issuerOrg, rootCN string) [][]byte {
	key := func(label string) ed25519.PrivateKey {
		s := sha256.Sum256([]byte("sfbtrace " + label))
		return ed25519.NewKeyFromSeed(s[:])
	}
	rootKey, caKey, leafKey := key(rootCN), key(issuerCN), key(leafCN+issuerCN)
	nb := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(0x0d7d5bd5a3f3b7b1),
		Subject:               pkix.Name{CommonName: issuerCN, Organization: []string{issuerOrg}, Country: []string{"US"}},
		Issuer:                pkix.Name{CommonName: rootCN},
		NotBefore:             nb.AddDate(-2, 0, 0),
		NotAfter:              nb.AddDate(3, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	parentTmpl := ca
	parentKey := rootKey
	if rootCN != issuerCN {
		parentTmpl = &x509.Certificate{Subject: pkix.Name{CommonName: rootCN, Organization: []string{"DigiCert Inc"}, Country: []string{"US"}}}
	} else {
		parentKey = caKey
	}
	caDER, err := x509.CreateCertificate(zeroReader{}, ca, parentTmpl, caKey.Public(), parentKey)
	if err != nil {
		panic(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		panic(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(0x33000a1b2c3d4e),
		Subject:      pkix.Name{CommonName: leafCN, Organization: []string{"Microsoft Corporation"}, Locality: []string{"Redmond"}, Province: []string{"WA"}, Country: []string{"US"}},
		DNSNames:     sans,
		NotBefore:    nb,
		NotAfter:     nb.AddDate(0, 6, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(zeroReader{}, leaf, caCert, leafKey.Public(), caKey)
	if err != nil {
		panic(err)
	}
	return [][]byte{leafDER, caDER}
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) { clear(b); return len(b), nil }

var (
	msIssuer      = "Microsoft Azure TLS Issuing CA 01"
	contosoIssuer = "Contoso Proxy CA"
)

func microsoftChain(cn string, sans ...string) [][]byte {
	return certChain(cn, sans, msIssuer, "Microsoft Corporation", "DigiCert Global Root G2")
}

func contosoChain(cn string, sans ...string) [][]byte {
	return certChain(cn, sans, contosoIssuer, "Contoso Ltd", contosoIssuer)
}

// ---- DNS ----

type dnsAnswer struct {
	name  string
	addr  netip.Addr // zero for CNAME
	cname string
}

// dnsQuery returns a standard recursive query.
func dnsQuery(buf gopacket.SerializeBuffer, id uint16, name string, typ layers.DNSType) []byte {
	d := &layers.DNS{ID: id, RD: true, Questions: []layers.DNSQuestion{{Name: []byte(name), Type: typ, Class: layers.DNSClassIN}}}
	return serializeDNS(buf, d)
}

func serializeDNS(buf gopacket.SerializeBuffer, d *layers.DNS) []byte {
	buf.Clear() // SerializeTo appends to whatever buf holds
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		panic(err)
	}
	out := append([]byte(nil), buf.Bytes()...)
	buf.Clear()
	return out
}

// dnsResponse answers name with the answers, or with rcode when it is not NoError.
func dnsResponse(buf gopacket.SerializeBuffer, id uint16, name string, typ layers.DNSType, rcode layers.DNSResponseCode, answers []dnsAnswer) []byte {
	d := &layers.DNS{ID: id, QR: true, RD: true, RA: true, ResponseCode: rcode,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: typ, Class: layers.DNSClassIN}}}
	for _, a := range answers {
		rr := layers.DNSResourceRecord{Name: []byte(a.name), Class: layers.DNSClassIN, TTL: 300}
		switch {
		case a.cname != "":
			rr.Type, rr.CNAME = layers.DNSTypeCNAME, []byte(a.cname)
		case a.addr.Is4():
			rr.Type, rr.IP = layers.DNSTypeA, net.IP(a.addr.AsSlice())
		default:
			rr.Type, rr.IP = layers.DNSTypeAAAA, net.IP(a.addr.AsSlice())
		}
		d.Answers = append(d.Answers, rr)
	}
	if rcode == layers.DNSResponseCodeNXDomain {
		zone := name
		for i := 0; i < len(zone); i++ {
			if zone[i] == '.' {
				zone = zone[i+1:]
				break
			}
		}
		d.Authorities = []layers.DNSResourceRecord{{Name: []byte(zone), Type: layers.DNSTypeSOA, Class: layers.DNSClassIN, TTL: 3600,
			SOA: layers.DNSSOA{MName: []byte("ns1-205.azure-dns.com"), RName: []byte("azuredns-hostmaster.microsoft.com"), Serial: 1, Refresh: 3600, Retry: 300, Expire: 2419200, Minimum: 300}}}
	}
	return serializeDNS(buf, d)
}

// dns emits a query from the client to the resolver and, when answered, its
// response after 12 ms. It returns the time after the response.
func (c *capture) dns(at time.Duration, name string, rcode layers.DNSResponseCode, answers ...dnsAnswer) time.Duration {
	resolver := gateway4
	src := client4
	typ := layers.DNSTypeA
	if len(answers) > 0 && answers[len(answers)-1].addr.Is6() {
		resolver, src, typ = gateway6, client6, layers.DNSTypeAAAA
	}
	id := uint16(c.rng.Uint32())
	cli := ap(src, uint16(60000+c.rng.IntN(5000))) // outside 50000-59999 on purpose
	srv := ap(resolver, 53)
	buf := gopacket.NewSerializeBuffer()
	c.udp(at, cli, srv, dnsQuery(buf, id, name, typ), "")
	at += ms(12)
	c.udp(at, srv, cli, dnsResponse(buf, id, name, typ, rcode, answers), "")
	return at + ms(1)
}

func a(name string, addr netip.Addr) dnsAnswer { return dnsAnswer{name: name, addr: addr} }
