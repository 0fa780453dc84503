package proto

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

type tlsFlow struct {
	client netip.AddrPort
	conn   *TLSConn
}

// tlsFlows runs every TCP flow of a capture through a TLSConn; the client is
// the SYN sender, else the side talking to port 443, else the first sender.
func tlsFlows(t testing.TB, pkts []pkt) map[[2]netip.AddrPort]*tlsFlow {
	flows := map[[2]netip.AddrPort]*tlsFlow{}
	for _, p := range pkts {
		if !p.tcp {
			continue
		}
		k := [2]netip.AddrPort{p.src, p.dst}
		if p.dst.Compare(p.src) < 0 {
			k = [2]netip.AddrPort{p.dst, p.src}
		}
		f := flows[k]
		if f == nil {
			f = &tlsFlow{client: p.src, conn: new(TLSConn)}
			if p.src.Port() == 443 || p.syn && len(p.payload) == 0 && false {
				f.client = p.dst
			}
			flows[k] = f
		}
		f.conn.Observe(p.src == f.client, p.seq, p.syn, p.payload)
	}
	return flows
}

var ndpiLine = regexp.MustCompile(`^\s+\d+\s+TCP ([^ ]+) <?-?>? ?([^ ]+) \[proto: [^\]]*TLS[^\]]*\].*?\[Hostname/SNI: ([^\]]+)\]`)

// TestTLSSNIMatchesNDPI: every TLS flow nDPI named has the same SNI here.
func TestTLSSNIMatchesNDPI(t *testing.T) {
	for _, name := range []string{"teams.pcap", "tls_2_reasms_b.pcapng", "tls_1.2_unidirectional_client.pcapng",
		"tls_multiple_synack_different_seq.pcapng", "tls_missing_ch_frag.pcap"} {
		t.Run(name, func(t *testing.T) {
			flows := tlsFlows(t, readShared(t, "pcaps/ndpi/"+name))
			f, err := os.Open(sharedPath(t, "pcaps/ndpi/"+name+".ndpi.out"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checked := 0
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				m := ndpiLine.FindStringSubmatch(sc.Text())
				if m == nil {
					continue
				}
				a, err1 := netip.ParseAddrPort(m[1])
				b, err2 := netip.ParseAddrPort(strings.TrimPrefix(m[2], "> "))
				if err1 != nil || err2 != nil {
					t.Logf("skipping nDPI's unparsable address in %q", m[0])
					continue
				}
				k := [2]netip.AddrPort{a, b}
				if b.Compare(a) < 0 {
					k = [2]netip.AddrPort{b, a}
				}
				fl := flows[k]
				if fl == nil {
					t.Errorf("%v: flow not found", k)
					continue
				}
				checked++
				if fl.conn.SNI != m[3] {
					t.Errorf("%v: got SNI %q, want %q (%+v)", k, fl.conn.SNI, m[3], fl.conn.Summary())
				}
			}
			t.Logf("%d flows checked", checked)
		})
	}
}

func TestTLSDetails(t *testing.T) {
	flows := tlsFlows(t, readShared(t, "pcaps/ndpi/tls_2_reasms_b.pcapng"))
	for _, f := range flows {
		s := f.conn.Summary()
		if !slices.Equal(s.ALPN, []string{"http/1.1"}) || len(s.Versions) == 0 || s.Versions[0] != "TLS1.3" {
			t.Errorf("tls_2_reasms_b: got %+v", s)
		}
	}
	// The ClientHello's second fragment is missing: no SNI, but the server
	// side still shows TLS 1.3 and the gap is reported.
	for _, f := range tlsFlows(t, readShared(t, "pcaps/ndpi/tls_missing_ch_frag.pcap")) {
		s := f.conn.Summary()
		if s.SNI != "" || s.HelloSeen || !s.ServerHelloSeen || s.ServerVersion != "TLS1.3" || !s.Gap ||
			s.HelloHave != 1024 || s.HelloWant != 5+0x5dc {
			t.Errorf("tls_missing_ch_frag: got %+v", s)
		}
	}
	flows = tlsFlows(t, readShared(t, "pcaps/ndpi/teams.pcap"))
	var aria, media bool
	for _, f := range flows {
		s := f.conn.Summary()
		switch s.SNI {
		case "mobile.pipe.aria.microsoft.com":
			aria = true
			if s.CertSubject != "*.events.data.microsoft.com" || s.CertIssuer != "CN=Microsoft IT TLS CA 4, O=Microsoft Corporation" || s.ServerVersion != "TLS1.2" {
				t.Errorf("aria: got %+v", s)
			}
		}
		if f.client.Port() == 50018 {
			media = true
			t.Logf("media over TLS: %+v", s)
			if s.ServerVersion != "TLS1.2" || !slices.Contains(s.CertDNSNames, "tr.teams.microsoft.com") && !strings.Contains(s.CertSubject, "teams") {
				t.Errorf("50018: got %+v", s)
			}
		}
	}
	if !aria || !media {
		t.Errorf("found aria %v, media %v; want both", aria, media)
	}
}

// TestTLSReassembly delivers a ClientHello in three pieces in every order,
// with retransmissions and overlaps, and a missing piece.
func TestTLSReassembly(t *testing.T) {
	ch := unhex(t, hexTeamsClientHello)
	const isn = 0xFFFFFF00 // sequence numbers wrap inside the hello
	for _, cuts := range [][2]int{{1, 2}, {5, 6}, {40, 100}, {100, 186}} {
		a, b := cuts[0], cuts[1]
		seg := []struct {
			off int
			p   []byte
		}{{0, ch[:a]}, {a, ch[a:b]}, {b, ch[b:]}, {a - 1, ch[a-1 : b]}} // last: overlap/retransmit
		for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}, {2, 0, 3, 1}, {3, 2, 0}, {0, 0, 2, 2, 1}} {
			var c TLSConn
			c.Observe(true, isn, true, nil)
			for _, i := range order {
				c.Observe(true, isn+1+uint32(seg[i].off), false, seg[i].p)
			}
			if c.SNI != "euaz.tr.teams.microsoft.com" || !c.HelloSeen || c.Gap() {
				t.Errorf("cuts %v order %v: got SNI %q hello %v gap %v", cuts, order, c.SNI, c.HelloSeen, c.Gap())
			}
		}
		var c TLSConn
		c.Observe(true, isn, true, nil)
		c.Observe(true, isn+1, false, seg[0].p)
		c.Observe(true, isn+1+uint32(b), false, seg[2].p)
		if c.HelloSeen || !c.Gap() {
			t.Errorf("cuts %v missing middle: hello %v gap %v", cuts, c.HelloSeen, c.Gap())
		}
	}
}

func TestTLSPseudoTLS(t *testing.T) {
	// SfB: ServerHello (TLS 1.0, no extensions) and ServerHelloDone in one
	// record, then MS-TURN framing.
	sh := append([]byte{2, 0, 0, 38, 3, 1}, make([]byte, 32)...)
	sh = append(sh, 0, 0x00, 0x2f, 0)
	hs := append(sh, 14, 0, 0, 0)
	rec := append([]byte{22, 3, 1, 0, byte(len(hs))}, hs...)
	rec = append(rec, 2, 0, 0, 20)
	var c TLSConn
	c.Observe(true, 100, false, unhex(t, hexTeamsClientHello))
	c.Observe(false, 5000, false, rec)
	if s := c.Summary(); !s.PseudoTLS || s.ServerVersion != "TLS1.0" || !s.HelloSeen {
		t.Errorf("got %+v", s)
	}
}

// TestTLSProxyConnect: through an HTTP proxy the handshake follows the
// CONNECT exchange; a refused tunnel keeps the proxy's status.
func TestTLSProxyConnect(t *testing.T) {
	ch := unhex(t, hexTeamsClientHello)
	req := []byte("CONNECT euaz.tr.teams.microsoft.com:443 HTTP/1.1\r\nHost: euaz.tr.teams.microsoft.com:443\r\n\r\n")
	var c TLSConn
	c.Observe(true, 1000, true, nil)
	c.Observe(true, 1001, false, req[:20])
	c.Observe(true, 1021, false, append(req[20:], ch[:30]...))
	c.Observe(false, 5000, false, []byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	if c.HelloSeen {
		t.Fatal("hello seen before it was complete")
	}
	if have, want := c.HelloProgress(); have != 30 || want != len(ch) {
		t.Errorf("HelloProgress = %d, %d; want 30, %d", have, want, len(ch))
	}
	c.Observe(true, 1001+uint32(len(req))+30, false, ch[30:])
	s := c.Summary()
	if s.SNI != "euaz.tr.teams.microsoft.com" || s.ProxyTarget != "euaz.tr.teams.microsoft.com:443" || s.ProxyStatus != 200 || c.NotTLS {
		t.Errorf("got %+v", s)
	}
	var refused TLSConn
	refused.Observe(true, 1, false, req)
	refused.Observe(false, 1, false, []byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\n\r\n"))
	if refused.ProxyStatus != 407 || refused.HelloSeen {
		t.Errorf("refused: got %+v", refused.Summary())
	}
	var plain TLSConn
	plain.Observe(true, 1, false, []byte("GET / HTTP/1.1\r\n\r\n"))
	if !plain.NotTLS {
		t.Error("plain HTTP not marked NotTLS")
	}
}

func TestTLSAlert(t *testing.T) {
	var c TLSConn
	c.Observe(true, 100, false, unhex(t, hexTeamsClientHello))
	c.Observe(false, 5000, false, []byte{21, 3, 3, 0, 2, 2, 40}) // fatal handshake_failure
	if len(c.Alerts) != 1 || c.Alerts[0] != (TLSAlert{Level: 2, Description: 40}) {
		t.Errorf("got %+v", c.Alerts)
	}
}

func TestTLSNoAlloc(t *testing.T) {
	ch := unhex(t, hexTeamsClientHello)
	var c TLSConn
	c.Observe(true, 100, false, ch)
	c.Observe(false, 5000, false, []byte{0x17, 3, 3, 0, 1, 0})
	data := []byte{0x17, 3, 3, 0, 4, 1, 2, 3, 4}
	if n := testing.AllocsPerRun(100, func() {
		c.Observe(true, 300, false, data)
		c.Observe(false, 6000, false, data)
	}); n != 0 {
		t.Errorf("TLSConn.Observe after the handshake allocates %v times, want 0", n)
	}
	var other TLSConn
	get := []byte("GET / HTTP/1.1\r\n") // packet bytes live in the reader's buffer
	if n := testing.AllocsPerRun(100, func() { other.Observe(true, 1, false, get) }); n != 0 {
		t.Errorf("TLSConn.Observe on plain HTTP allocates %v times, want 0", n)
	}
	// A ClientHello whole in one segment is parsed in place: only the SNI
	// string is copied out, no reassembly buffer.
	if n := testing.AllocsPerRun(100, func() {
		var fresh TLSConn
		fresh.Observe(true, 100, false, ch)
	}); n > 1 {
		t.Errorf("a one-segment ClientHello allocates %v times, want at most 1 (the SNI)", n)
	}
	if n := testing.AllocsPerRun(100, func() { ParseClientHello(ch[9:]) }); n != 0 {
		t.Errorf("ParseClientHello allocates %v times, want 0", n)
	}
}

func BenchmarkTLSClientHello(b *testing.B) {
	ch := unhex(b, hexTeamsClientHello)
	b.ReportAllocs()
	b.SetBytes(int64(len(ch)))
	for b.Loop() {
		var c TLSConn
		c.Observe(true, 1, false, ch)
	}
}

func FuzzTLSConn(f *testing.F) {
	ch := unhex(f, hexTeamsClientHello)
	f.Add(ch, 50, uint32(0))                                   // whole hello, split mid-extension
	f.Add(ch, 3, uint32(7))                                    // split inside the record header, second piece late
	f.Add([]byte{22, 3, 1, 0xFF, 0xFF, 1, 0, 0}, 6, uint32(0)) // record longer than the cap
	f.Add([]byte{21, 3, 3, 0, 2, 2, 40}, 0, uint32(0))
	f.Add(append([]byte("CONNECT a:443 HTTP/1.1\r\n\r\n"), ch...), 9, uint32(0)) // proxy tunnel, cut in the request line         // alert first
	f.Fuzz(func(t *testing.T, b []byte, cut int, skew uint32) {
		if cut < 0 || cut > len(b) {
			cut = len(b)
		}
		var c TLSConn
		c.Observe(true, 1000, false, b[:cut])
		c.Observe(true, 1000+uint32(cut)+skew%4, false, b[cut:])
		c.Observe(false, 0, true, nil)
		c.Observe(false, 1, false, b)
		var p TLSConn
		p.Observe(true, 1, false, []byte("CONNECT x:1 HTTP/1.1\r\n\r\n"))
		p.Observe(true, 26, false, b)
		p.Observe(false, 9, false, append([]byte("HTTP/1.0 "), b...))
		p.Summary()
		c.Summary()
		ParseClientHello(b)
	})
}

// TestTLSServerFlightCuts cuts a TLS 1.2 server flight (ServerHello,
// Certificate, ServerHelloDone, each its own record) at every byte, in
// order, reversed and with the first piece retransmitted: whole records
// parsed in place and the rest buffered must give the one-segment answer.
func TestTLSServerFlightCuts(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sipfed.online.lync.com"},
		DNSNames: []string{"sipfed.online.lync.com"}, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	record := func(typ byte, body []byte) []byte {
		return append([]byte{typ, 3, 3, byte(len(body) >> 8), byte(len(body))}, body...)
	}
	handshake := func(typ byte, body []byte) []byte {
		return append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	}
	u24 := func(n int) []byte { return []byte{byte(n >> 16), byte(n >> 8), byte(n)} }
	sh := append(append([]byte{3, 3}, make([]byte, 32)...), 0, 0xc0, 0x2f, 0)
	certs := append(u24(len(der)+3), append(u24(len(der)), der...)...)
	flight := record(22, handshake(2, sh))
	flight = append(flight, record(22, handshake(11, certs))...)
	flight = append(flight, record(22, handshake(14, nil))...)

	const isn = 7000
	var want TLSConn
	want.Observe(true, 100, false, unhex(t, hexTeamsClientHello))
	want.Observe(false, isn, false, flight)
	if want.CertSubject != "sipfed.online.lync.com" || want.ServerVersion != 0x0303 || !want.Done() || want.Gap() {
		t.Fatalf("one segment: %+v", want.Summary())
	}
	for cut := 1; cut < len(flight); cut++ {
		a, b := flight[:cut], flight[cut:]
		for _, order := range [][]int{{0, 1}, {1, 0}, {0, 0, 1}, {0, 1, 0}} {
			var c TLSConn
			c.Observe(true, 100, false, unhex(t, hexTeamsClientHello))
			c.Observe(false, isn-1, true, nil) // SYN-ACK: the stream's start
			for _, i := range order {
				if i == 0 {
					c.Observe(false, isn, false, a)
				} else {
					c.Observe(false, isn+uint32(cut), false, b)
				}
			}
			if c.CertSubject != want.CertSubject || c.ServerVersion != want.ServerVersion || !c.Done() || c.Gap() {
				t.Fatalf("cut %d order %v: %+v", cut, order, c.Summary())
			}
		}
	}
}
