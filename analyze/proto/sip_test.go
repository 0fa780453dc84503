package proto

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestSIPMatchesTshark compares every SIP message of sip.pcap with
// testdata/sip.pcap.tshark.tsv, made by:
//
//	tshark -r sip.pcap -Y sip -T fields -e frame.number -e sip.Method \
//	  -e sip.Status-Code -e sip.Call-ID -e sip.from.host -e sip.to.host -e sip.CSeq.method
func TestSIPMatchesTshark(t *testing.T) {
	raw, err := os.ReadFile("testdata/sip.pcap.tshark.tsv")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Split(l, "\t")
		n, _ := strconv.Atoi(f[0])
		want[n] = f
	}
	seen := 0
	for _, p := range readShared(t, "pcaps/ndpi/sip.pcap") {
		m, ok := ParseSIP(p.payload)
		w, isSIP := want[p.frame]
		if ok != isSIP {
			t.Errorf("frame %d: ParseSIP ok=%v, tshark SIP=%v", p.frame, ok, isSIP)
			continue
		}
		if !ok {
			continue
		}
		seen++
		got := []string{w[0], string(m.Method), "", string(m.CallID), string(m.FromHost), string(m.ToHost), string(m.CSeqMethod)}
		if m.StatusCode != 0 {
			got[2] = strconv.Itoa(m.StatusCode)
		}
		if strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("frame %d:\n got %q\nwant %q", p.frame, got, w)
		}
	}
	if seen != len(want) {
		t.Errorf("parsed %d SIP messages, tshark %d", seen, len(want))
	}
}

func TestParseSIPForms(t *testing.T) {
	msg := "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n" +
		"f: \"Alice\" <sips:alice@[2001:db8::1]:5061>;tag=1\r\n" +
		"t: sip:bob@Biloxi.example.com:5060\r\n" +
		"i: a84b4c76e66710@pc33.atlanta.example.com\r\n" +
		"CSeq: 314159 INVITE\r\n" +
		"l: 4\r\n\r\nv=0\r\nNEXT"
	m, ok := ParseSIP([]byte(msg))
	if !ok || string(m.Method) != "INVITE" || string(m.FromHost) != "2001:db8::1" || string(m.ToHost) != "Biloxi.example.com" ||
		string(m.CallID) != "a84b4c76e66710@pc33.atlanta.example.com" || m.Size != len(msg)-len("\nNEXT") {
		t.Errorf("got %+v %v", m, ok)
	}
	for _, bad := range []string{"", "HELLO", "GET / HTTP/1.1\r\n\r\n", "SIP/2.0 20 OK\r\n", "invite sip:x SIP/2.0\r\n", "SIP/2.0 2000\r\n"} {
		if m, ok := ParseSIP([]byte(bad)); ok {
			t.Errorf("%q: accepted %+v", bad, m)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ParseSIP([]byte(msg)) }); n != 0 {
		t.Errorf("ParseSIP allocates %v times, want 0", n)
	}
}

func BenchmarkParseSIP(b *testing.B) {
	msg := []byte("SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nFrom: <sip:u@sip.example.com>;tag=1\r\n" +
		"To: <sip:u@sip.example.com>\r\nCall-ID: 578222729-4665d775@578222732-4665d772\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		ParseSIP(msg)
	}
}

func FuzzParseSIP(f *testing.F) {
	f.Add([]byte("REGISTER sip:sip.cybercity.dk SIP/2.0\r\nFrom: <sip:x@sip.cybercity.dk>\r\n\r\n")) // plain request
	f.Add([]byte("SIP/2.0 100 Trying\nt: <sip:[::1]>\n\n"))                                          // LF only, IPv6 host
	f.Add([]byte("SIP/2.0 200 OK\r\nl: 99999999999\r\n\r\n"))                                        // huge Content-Length
	f.Add([]byte("ACK sip:a SIP/2.0\r\nFrom: sip:@\r\nTo: sips:"))                                   // cut header, empty host
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := ParseSIP(b)
		if ok && (m.Size < 0 || m.Size > len(b)) {
			t.Fatalf("size %d of %d", m.Size, len(b))
		}
	})
}
