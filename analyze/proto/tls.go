package proto

import (
	"crypto/x509"
	"fmt"
	"strings"
)

// TLS reassembly bounds.
const (
	tlsMaxBuffer  = 16 << 10 // bytes of each direction kept for the handshake
	tlsInitBuffer = 4 << 10
	tlsMaxHoles   = 8 // out-of-order ranges remembered per direction
	tlsMaxAlerts  = 4
	tlsMaxALPN    = 8
	tlsMaxVers    = 8
	tlsMaxNames   = 8
)

// TLSAlert is one plaintext (or, when Encrypted, only seen) alert record.
type TLSAlert struct {
	FromClient  bool
	Level       uint8 // 1 warning, 2 fatal; 0 when encrypted
	Description uint8
	Encrypted   bool // sent after ChangeCipherSpec: level/description unknown
}

type span struct{ start, end int }

// tlsDir reassembles one direction by sequence number from its first byte.
type tlsDir struct {
	started    bool
	done       bool // nothing more to learn from this direction
	gap        bool // data was lost (a hole never filled, or past the cap)
	isn        uint32
	base       int // stream offset of buf[0]: records before it were parsed in place
	buf        []byte
	contig     int // bytes [0, contig) of buf are present
	spans      [tlsMaxHoles]span
	nspans     int
	recOff     int  // next record header in buf
	hsLen      int  // handshake bytes compacted at buf[:hsLen]
	hsOff      int  // next handshake message in buf[:hsLen]
	ccs        bool // ChangeCipherSpec seen: later records are encrypted
	httpPrefix bool // HTTP proxy CONNECT request/answer precedes the records
	records    int
}

// TLSConn extracts what a firewall diagnosis needs from a TLS handshake: the
// ClientHello (SNI, ALPN, offered versions), the ServerHello (selected
// version), alerts, and for TLS 1.2 the server certificate's names. It
// reassembles up to 16 KiB per direction by sequence number, tolerating
// reordering, retransmission and overlap; a segment that never arrives stops
// that direction (Gap). It also recognises Lync/SfB pseudo-TLS: ServerHello
// and ServerHelloDone in one record without a certificate, followed by
// MS-TURN TCP framing.
//
// Memory: a direction's buffer is allocated when its first payload arrives
// and released once the handshake is parsed; after that Observe does not
// allocate. Strings are copied out of the packets (they outlive them).
type TLSConn struct {
	SNI           string
	ALPN          []string
	Versions      []uint16 // supported_versions offered, GREASE removed
	LegacyVersion uint16   // ClientHello legacy_version
	ServerVersion uint16   // selected: supported_versions, else ServerHello legacy_version
	CipherSuite   uint16
	Alerts        []TLSAlert
	AlertCount    int // all alert records, including those beyond Alerts' bound

	CertSubject  string // first certificate's subject CN
	CertIssuer   string // first certificate's issuer CN and O
	CertDNSNames []string
	CertError    string // why the certificate did not parse, if it did not

	HelloSeen       bool
	ServerHelloSeen bool
	CertificateSeen bool
	PseudoTLS       bool   // SfB pseudo-TLS: SH+SHD in one record, no certificate
	ProxyTarget     string // HTTP CONNECT target ("host:port") when tunnelled through a proxy
	ProxyStatus     int    // the proxy's answer to CONNECT (200, 407, ...)
	NotTLS          bool   // a direction did not start with a TLS record

	dir [2]tlsDir // 0 server->client, 1 client->server
}

// Observe feeds one TCP segment. seq is the segment's sequence number; syn
// marks SYN (its payload, if any, starts at seq+1).
func (c *TLSConn) Observe(fromClient bool, seq uint32, syn bool, payload []byte) {
	i := 0
	if fromClient {
		i = 1
	}
	d := &c.dir[i]
	if d.done {
		return
	}
	if syn {
		if !d.started {
			d.isn, d.started = seq+1, true
		}
		if len(payload) == 0 {
			return
		}
		seq++
	}
	if len(payload) == 0 {
		return
	}
	if !d.started {
		// Capture began mid-connection: take the first payload as the start.
		d.isn, d.started = seq, true
	}
	off := int(int32(seq-d.isn)) - d.base
	if d.buf == nil && off == 0 && d.base == 0 && (payload[0] < 20 || payload[0] > 23) {
		// An HTTP proxy tunnel (CONNECT, then "HTTP/1.1 200") carries the
		// TLS handshake after the HTTP headers.
		switch {
		case fromClient && hasPrefixFold(payload, "CONNECT "):
			d.httpPrefix = true
		case !fromClient && c.dir[1].httpPrefix || !fromClient && c.ProxyTarget != "":
			d.httpPrefix = hasPrefixFold(payload, "HTTP/1.")
		}
		if !d.httpPrefix {
			d.done, c.NotTLS = true, true // not a TLS record: stop at once
			return
		}
	}
	if d.buf == nil && off == 0 && !d.httpPrefix {
		// In order with nothing buffered: whole records are parsed straight
		// from the packet, and only a record cut by the segment end is
		// copied. Most hellos fit one segment, so most flows copy nothing.
		n := c.parseInPlace(d, fromClient, payload)
		if d.done {
			return
		}
		payload, d.base = payload[n:], d.base+n
		if len(payload) == 0 {
			return
		}
	}
	if d.buf == nil {
		d.buf = make([]byte, 0, tlsInitBuffer)
	}
	c.write(d, off, payload)
	c.parse(d, fromClient)
	if d.done {
		d.buf = nil
	}
}

// write places payload at offset off of the stream, first copy winning.
func (c *TLSConn) write(d *tlsDir, off int, p []byte) {
	if off < d.contig {
		if off+len(p) <= d.contig {
			return // retransmission of bytes we have
		}
		p = p[d.contig-off:]
		off = d.contig
	}
	end := off + len(p)
	if end > tlsMaxBuffer {
		end = tlsMaxBuffer
		d.gap = true
		if off >= end {
			return
		}
		p = p[:end-off]
	}
	if end > len(d.buf) {
		if end > cap(d.buf) {
			nb := make([]byte, len(d.buf), min(tlsMaxBuffer, max(2*cap(d.buf), end)))
			copy(nb, d.buf)
			d.buf = nb
		}
		d.buf = d.buf[:end]
	}
	copy(d.buf[off:end], p)
	if off > d.contig {
		// Out of order: remember the range until the hole fills.
		if d.nspans == tlsMaxHoles {
			d.gap = true
			return
		}
		d.spans[d.nspans] = span{off, end}
		d.nspans++
		return
	}
	d.contig = end
	for merged := true; merged; {
		merged = false
		for j := 0; j < d.nspans; j++ {
			if s := d.spans[j]; s.start <= d.contig {
				d.contig = max(d.contig, s.end)
				d.nspans--
				d.spans[j] = d.spans[d.nspans]
				merged = true
			}
		}
	}
}

// parseInPlace handles the whole records at the start of p (the next bytes
// of the stream, nothing buffered) without copying them, and returns how
// many bytes it consumed. It stops before a record that is cut, or a
// handshake record whose messages do not end with it: those need the buffer.
func (c *TLSConn) parseInPlace(d *tlsDir, fromClient bool, p []byte) int {
	used := 0
	for len(p)-used >= 5 && !d.done {
		if d.base+used >= tlsMaxBuffer {
			d.done = true // as parse: nothing past 16 KiB is read
			break
		}
		h := p[used:]
		typ, n := h[0], int(be16(h[3:]))
		if !c.recordHeader(d, typ, h[1]) {
			return used
		}
		if 5+n > len(h) {
			return used
		}
		body := h[5 : 5+n]
		if typ == 22 && !d.ccs {
			if !wholeMessages(body) {
				return used
			}
			c.messages(d, fromClient, body, 0, 0)
		} else {
			c.record(d, fromClient, typ, body)
		}
		d.records++
		used += 5 + n
	}
	return used
}

// wholeMessages reports whether a handshake record body is a sequence of
// complete handshake messages.
func wholeMessages(b []byte) bool {
	for len(b) >= 4 {
		n := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
		if n > len(b) {
			return false
		}
		b = b[n:]
	}
	return len(b) == 0
}

// recordHeader checks a record header; it ends the direction at a non-TLS
// header, and at application data: the handshake is over (or encrypted,
// TLS 1.3), decided from the header alone, since waiting for a 16 KiB record
// body would only copy bytes nobody reads. It reports whether to go on.
func (c *TLSConn) recordHeader(d *tlsDir, typ, major byte) bool {
	if typ < 20 || typ > 23 || major != 3 {
		if d.records == 0 {
			c.NotTLS = true
		}
		d.done = true
		return false
	}
	if typ == 23 {
		d.records++
		d.done = true
		return false
	}
	return true
}

// record handles a complete non-handshake record (or a handshake record
// after ChangeCipherSpec, which is encrypted and skipped).
func (c *TLSConn) record(d *tlsDir, fromClient bool, typ byte, body []byte) {
	switch typ {
	case 20:
		d.ccs = true
	case 21:
		c.AlertCount++
		if len(c.Alerts) < tlsMaxAlerts {
			a := TLSAlert{FromClient: fromClient, Encrypted: d.ccs || len(body) != 2}
			if !a.Encrypted {
				a.Level, a.Description = body[0], body[1]
			}
			c.Alerts = append(c.Alerts, a)
		}
	}
}

// parse walks complete records in buf[recOff:contig], compacting handshake
// payloads to buf[:hsLen], then parses complete handshake messages.
func (c *TLSConn) parse(d *tlsDir, fromClient bool) {
	if d.httpPrefix && !c.skipHTTP(d, fromClient) {
		return
	}
	for d.recOff+5 <= d.contig {
		h := d.buf[d.recOff:]
		typ, n := h[0], int(be16(h[3:]))
		if !c.recordHeader(d, typ, h[1]) {
			return
		}
		if d.recOff+5+n > d.contig {
			if d.recOff+5+n > tlsMaxBuffer {
				d.gap, d.done = true, true
			}
			return
		}
		body := d.buf[d.recOff+5 : d.recOff+5+n]
		d.records++
		if typ == 22 && !d.ccs {
			hsStart := d.hsLen
			d.hsLen += copy(d.buf[d.hsLen:], body)
			d.hsOff = c.messages(d, fromClient, d.buf[:d.hsLen], d.hsOff, hsStart)
		} else {
			c.record(d, fromClient, typ, body)
		}
		d.recOff += 5 + n
		if d.done {
			return
		}
	}
	if d.recOff >= tlsMaxBuffer {
		d.done = true
	}
}

// skipHTTP consumes the HTTP CONNECT request or the proxy's answer before
// the tunnelled TLS; it reports whether records follow.
func (c *TLSConn) skipHTTP(d *tlsDir, fromClient bool) bool {
	v := d.buf[:d.contig]
	end := -1
	for i := 0; i+4 <= len(v); i++ {
		if v[i] == '\r' && v[i+1] == '\n' && v[i+2] == '\r' && v[i+3] == '\n' {
			end = i + 4
			break
		}
	}
	if end < 0 {
		if d.contig >= tlsInitBuffer {
			d.done, c.NotTLS = true, true // no end of headers in 4 KiB: not a proxy tunnel
		}
		return false
	}
	line, _, _ := sipLine(v)
	if fromClient {
		// "CONNECT host:port HTTP/1.1"
		target := line[len("CONNECT "):]
		if sp := indexByte(target, ' '); sp >= 0 {
			target = target[:sp]
		}
		c.ProxyTarget = string(target)
	} else if len(line) >= 12 && digit(line[9]) && digit(line[10]) && digit(line[11]) {
		c.ProxyStatus = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
		if c.ProxyStatus/100 != 2 {
			d.done = true // the proxy refused the tunnel
			return false
		}
	}
	d.httpPrefix = false
	d.recOff = end
	return true
}

// messages parses the complete handshake messages in hs from offset off and
// returns the offset of the first incomplete one; recStart is where the
// bytes of the record just added begin (for the pseudo-TLS same-record test).
func (c *TLSConn) messages(d *tlsDir, fromClient bool, hs []byte, off, recStart int) int {
	shInRecord := false
	for off+4 <= len(hs) {
		h := hs[off:]
		typ, n := h[0], int(h[1])<<16|int(h[2])<<8|int(h[3])
		if 4+n > len(h) {
			if off+4+n > tlsMaxBuffer {
				d.gap, d.done = true, true
			}
			return off
		}
		msg := h[4 : 4+n]
		inRecord := off >= recStart
		off += 4 + n
		switch {
		case typ == 1 && fromClient:
			c.clientHello(msg)
			d.done = true // nothing the client sends later is needed
			return off
		case typ == 2 && !fromClient:
			c.serverHello(msg)
			shInRecord = inRecord
			if c.ServerVersion == 0x0304 {
				d.done = true // the rest is encrypted
				return off
			}
		case typ == 11 && !fromClient:
			c.CertificateSeen = true
			c.certificate(msg)
		case typ == 14 && !fromClient:
			// ServerHelloDone in the ServerHello's record, no certificate:
			// Lync/SfB pseudo-TLS; the stream continues in MS-TURN framing.
			if shInRecord && !c.CertificateSeen {
				c.PseudoTLS = true
			}
			d.done = true
			return off
		}
	}
	return off
}

// tlsReader is a bounds-checked cursor; any overrun sets bad.
type tlsReader struct {
	b   []byte
	bad bool
}

func (r *tlsReader) u8() int {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return int(v)
}

func (r *tlsReader) u16() int {
	if len(r.b) < 2 {
		r.bad = true
		return 0
	}
	v := be16(r.b)
	r.b = r.b[2:]
	return int(v)
}

func (r *tlsReader) bytes(n int) []byte {
	if n > len(r.b) {
		r.bad = true
		r.b = nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func isGREASE(v uint16) bool { return v&0x0F0F == 0x0A0A && v>>8 == v&0xFF }

// ClientHelloInfo is what ParseClientHello extracts; slices alias the input.
type ClientHelloInfo struct {
	LegacyVersion uint16
	SNI           []byte
	ALPN          []byte // the protocol_name_list (1-byte length prefixed names)
	Versions      []byte // supported_versions list (2 bytes each)
}

// ParseClientHello parses a ClientHello handshake body (after the 4-byte
// handshake header) without allocating.
func ParseClientHello(msg []byte) (ClientHelloInfo, bool) {
	var h ClientHelloInfo
	r := tlsReader{b: msg}
	h.LegacyVersion = uint16(r.u16())
	r.bytes(32)
	r.bytes(r.u8())  // session id
	r.bytes(r.u16()) // cipher suites
	r.bytes(r.u8())  // compression methods
	if r.bad {
		return h, false
	}
	if len(r.b) == 0 {
		return h, true // no extensions (SSL 3 / old TLS)
	}
	ext := tlsReader{b: r.bytes(r.u16())}
	if r.bad {
		return h, false
	}
	for len(ext.b) >= 4 && !ext.bad {
		typ := ext.u16()
		v := tlsReader{b: ext.bytes(ext.u16())}
		switch typ {
		case 0: // server_name (RFC 6066 §3)
			list := tlsReader{b: v.bytes(v.u16())}
			for len(list.b) > 0 && !list.bad {
				kind := list.u8()
				name := list.bytes(list.u16())
				if kind == 0 && !list.bad {
					h.SNI = name
					break
				}
			}
		case 16: // ALPN (RFC 7301)
			h.ALPN = v.bytes(v.u16())
		case 43: // supported_versions (RFC 8446 §4.2.1)
			h.Versions = v.bytes(v.u8())
		}
	}
	return h, !ext.bad
}

func (c *TLSConn) clientHello(msg []byte) {
	h, ok := ParseClientHello(msg)
	if !ok {
		return
	}
	c.HelloSeen = true
	c.LegacyVersion = h.LegacyVersion
	c.SNI = string(h.SNI)
	for a := (tlsReader{b: h.ALPN}); len(a.b) > 0 && len(c.ALPN) < tlsMaxALPN; {
		p := a.bytes(a.u8())
		if a.bad {
			break
		}
		c.ALPN = append(c.ALPN, string(p))
	}
	for v := h.Versions; len(v) >= 2 && len(c.Versions) < tlsMaxVers; v = v[2:] {
		if x := be16(v); !isGREASE(x) {
			c.Versions = append(c.Versions, x)
		}
	}
}

func (c *TLSConn) serverHello(msg []byte) {
	r := tlsReader{b: msg}
	legacy := uint16(r.u16())
	r.bytes(32)
	r.bytes(r.u8())
	suite := uint16(r.u16())
	r.u8()
	if r.bad {
		return
	}
	c.ServerHelloSeen = true
	c.ServerVersion, c.CipherSuite = legacy, suite
	if len(r.b) < 2 {
		return
	}
	ext := tlsReader{b: r.bytes(r.u16())}
	for len(ext.b) >= 4 && !ext.bad {
		typ := ext.u16()
		v := ext.bytes(ext.u16())
		if typ == 43 && len(v) == 2 {
			c.ServerVersion = be16(v)
		}
	}
}

// certificate parses the first certificate of a TLS 1.2 Certificate message
// (RFC 5246 §7.4.2). This allocates, once per connection.
func (c *TLSConn) certificate(msg []byte) {
	r := tlsReader{b: msg}
	list := tlsReader{b: r.bytes(int(r.u8())<<16 | r.u16())}
	der := list.bytes(int(list.u8())<<16 | list.u16())
	if r.bad || list.bad || len(der) == 0 {
		c.CertError = "truncated certificate list"
		return
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		c.CertError = err.Error()
		return
	}
	c.CertSubject = cert.Subject.CommonName
	issuer := cert.Issuer.CommonName
	if len(cert.Issuer.Organization) > 0 {
		issuer = strings.Join([]string{"CN=" + issuer, "O=" + cert.Issuer.Organization[0]}, ", ")
	}
	c.CertIssuer = issuer
	for _, n := range cert.DNSNames {
		if len(c.CertDNSNames) == tlsMaxNames {
			break
		}
		c.CertDNSNames = append(c.CertDNSNames, n)
	}
}

// HelloProgress reports, while the client's first record is still
// incomplete, how many of its bytes arrived in order and how many it needs
// (record header included); 0, 0 otherwise. A stall here (have < want) with
// a reset is a firewall dropping the second segment of a large ClientHello.
func (c *TLSConn) HelloProgress() (have, want int) {
	d := &c.dir[1]
	if c.HelloSeen || d.buf == nil || d.httpPrefix || d.contig < d.recOff+5 || d.records > 0 {
		return 0, 0
	}
	return d.contig - d.recOff, 5 + int(be16(d.buf[d.recOff+3:]))
}

// Done reports whether both directions have nothing more to tell: the
// client's hello was parsed and the server's side ended its handshake
// (TLS 1.3 ServerHello, ServerHelloDone, application data) or is not TLS.
// Further Observe calls are no-ops.
func (c *TLSConn) Done() bool { return c.dir[0].done && c.dir[1].done }

// Gap reports whether reassembly lost data in a direction before the
// handshake was parsed (a missing segment, or more than 16 KiB).
func (c *TLSConn) Gap() bool {
	for i := range c.dir {
		d := &c.dir[i]
		if d.gap || (!d.done && d.nspans > 0) {
			return true
		}
	}
	return false
}

// TLSVersionName names a TLS protocol version ("TLS1.2"); unknown values
// print as hex.
func TLSVersionName(v uint16) string {
	switch v {
	case 0x0300:
		return "SSL3.0"
	case 0x0301:
		return "TLS1.0"
	case 0x0302:
		return "TLS1.1"
	case 0x0303:
		return "TLS1.2"
	case 0x0304:
		return "TLS1.3"
	case 0:
		return ""
	}
	return fmt.Sprintf("0x%04X", v)
}

// TLSAlertSummary is the JSON form of an alert.
type TLSAlertSummary struct {
	From        string `json:"from"` // "client" or "server"
	Level       int    `json:"level,omitempty"`
	Description int    `json:"description,omitempty"`
	Encrypted   bool   `json:"encrypted,omitempty"`
}

// TLSSummary is the JSON form of a TLS connection's handshake.
type TLSSummary struct {
	SNI             string            `json:"sni,omitempty"`
	ALPN            []string          `json:"alpn,omitempty"`
	Versions        []string          `json:"versions,omitempty"`
	LegacyVersion   string            `json:"legacy_version,omitempty"`
	ServerVersion   string            `json:"server_version,omitempty"`
	CipherSuite     string            `json:"cipher_suite,omitempty"`
	Alerts          []TLSAlertSummary `json:"alerts,omitempty"`
	CertSubject     string            `json:"cert_subject,omitempty"`
	CertIssuer      string            `json:"cert_issuer,omitempty"`
	CertDNSNames    []string          `json:"cert_dns_names,omitempty"`
	HelloSeen       bool              `json:"hello_seen"`
	ServerHelloSeen bool              `json:"server_hello_seen"`
	PseudoTLS       bool              `json:"pseudo_tls,omitempty"`
	Gap             bool              `json:"gap,omitempty"`
	ProxyTarget     string            `json:"proxy_target,omitempty"`
	ProxyStatus     int               `json:"proxy_status,omitempty"`
	HelloHave       int               `json:"hello_have,omitempty"` // incomplete ClientHello record: bytes received
	HelloWant       int               `json:"hello_want,omitempty"` // ... and bytes needed
}

// Summary returns the JSON-ready summary (allocates; call once per flow).
func (c *TLSConn) Summary() TLSSummary {
	s := TLSSummary{
		SNI:             c.SNI,
		ALPN:            c.ALPN,
		LegacyVersion:   TLSVersionName(c.LegacyVersion),
		ServerVersion:   TLSVersionName(c.ServerVersion),
		CertSubject:     c.CertSubject,
		CertIssuer:      c.CertIssuer,
		CertDNSNames:    c.CertDNSNames,
		HelloSeen:       c.HelloSeen,
		ServerHelloSeen: c.ServerHelloSeen,
		PseudoTLS:       c.PseudoTLS,
		ProxyTarget:     c.ProxyTarget,
		ProxyStatus:     c.ProxyStatus,
		Gap:             c.Gap(),
	}
	s.HelloHave, s.HelloWant = c.HelloProgress()
	for _, v := range c.Versions {
		s.Versions = append(s.Versions, TLSVersionName(v))
	}
	if c.ServerHelloSeen {
		s.CipherSuite = fmt.Sprintf("0x%04X", c.CipherSuite)
	}
	for _, a := range c.Alerts {
		from := "server"
		if a.FromClient {
			from = "client"
		}
		s.Alerts = append(s.Alerts, TLSAlertSummary{From: from, Level: int(a.Level), Description: int(a.Description), Encrypted: a.Encrypted})
	}
	return s
}
