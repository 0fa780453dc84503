package proto

import (
	"net/netip"
	"testing"
	"time"
)

func TestDNSTableTeams(t *testing.T) {
	tab := NewDNSTable()
	for _, p := range readShared(t, "pcaps/ndpi/teams.pcap") {
		if p.src.Port() == 53 || p.dst.Port() == 53 {
			tab.Observe(p.payload, p.tcp, p.frame, p.ts)
		}
	}
	// Expected from: tshark -r teams.pcap -Y dns -T fields -e dns.qry.name -e dns.a
	for addr, name := range map[string]string{
		"52.114.250.123":                "euaz.tr.teams.microsoft.com",         // via two CNAMEs
		"13.107.18.11":                  "outlook.office.com",                  // substrate.office.com earlier: the latest lookup wins
		"52.114.77.136":                 "api.flightproxy.teams.microsoft.com", // the non-STUN 3478 service
		"52.114.77.33":                  "skypedataprdcolneu04.cloudapp.net",   // plain A
		"2a01:111:f100:7000::6fdd:54a1": "trouter2-asse-a.trouter.teams.microsoft.com",
	} {
		if got := tab.NameFor(netip.MustParseAddr(addr)); got != name {
			t.Errorf("NameFor(%s) = %q, want %q", addr, got, name)
		}
	}
	fs := tab.Failures()
	if len(fs) == 0 || fs[0] != (DNSFailure{Name: "b._dns-sd._udp.ntop.org", Rcode: "NXDOMAIN", Count: 1, FirstFrame: 249, FirstSeen: fs[0].FirstSeen}) {
		t.Errorf("got failures %+v", fs)
	}
	for _, f := range fs[1:] {
		if f.Rcode == "NOANSWER" && (f.Name == "euaz.tr.teams.microsoft.com" || f.Name == "b._dns-sd._udp.ntop.org") {
			t.Errorf("answered query listed as unanswered: %+v", f)
		}
	}
	t.Logf("queries %d responses %d malformed %d failures %+v", tab.Queries, tab.Responses, tab.Malformed, fs)
}

func TestParseDNSNames(t *testing.T) {
	h, ok := ParseDNS(unhex(t, hexDNSNXDomain), nil, nil)
	if !ok || h.Rcode != 3 || !h.Response || h.QName.String() != "b._dns-sd._udp.ntop.org" || h.QType != 12 {
		t.Errorf("got %+v %v", h, ok)
	}
	var got []string
	var rr DNSRecord
	h, ok = ParseDNS(unhex(t, hexDNSAnswerAAAA), &rr, func(rr *DNSRecord) {
		got = append(got, rr.Name.String()+" "+rr.Target.String()+" "+rr.Addr.String())
	})
	want := []string{
		"trouter2-asse-a.trouter.teams.microsoft.com trouter2-asse-a.cloudapp.net invalid IP",
		"trouter2-asse-a.cloudapp.net  2a01:111:f100:7000::6fdd:54a1",
	}
	if !ok || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %q, want %q", got, want)
	}
	bad := map[string][]byte{
		"pointer loop":     append(unhex(t, "000001000001000000000000"), 0xC0, 12, 0, 1, 0, 1),
		"pointer past end": append(unhex(t, "000001000001000000000000"), 0xC0, 200, 0, 1, 0, 1),
		"label past end":   append(unhex(t, "000001000001000000000000"), 10, 'a'),
		"short header":     {0, 1, 2},
	}
	long := unhex(t, "000001000001000000000000")
	for range 5 {
		long = append(long, 63)
		long = append(long, make([]byte, 63)...)
	}
	bad["name over 255"] = append(long, 0, 0, 1, 0, 1)
	for name, b := range bad {
		if h, ok := ParseDNS(b, nil, nil); ok {
			t.Errorf("%s: accepted %+v", name, h)
		}
	}
}

func TestDNSNoAlloc(t *testing.T) {
	tab := NewDNSTable()
	q, a, nx := unhex(t, hexDNSQueryAAAA), unhex(t, hexDNSAnswerAAAA), unhex(t, hexDNSNXDomain)
	ts := time.Unix(0, 0)
	tab.Observe(q, false, 1, ts)
	tab.Observe(a, false, 2, ts)
	tab.Observe(nx, false, 3, ts)
	addr := netip.MustParseAddr("2a01:111:f100:7000::6fdd:54a1")
	var rr DNSRecord
	if n := testing.AllocsPerRun(100, func() {
		tab.Observe(a, false, 2, ts) // known answer
		tab.Observe(nx, false, 3, ts)
		tab.NameFor(addr)
		ParseDNS(a, &rr, func(*DNSRecord) {})
	}); n != 0 {
		t.Errorf("DNS steady path allocates %v times, want 0", n)
	}
}

func BenchmarkDNSTableObserve(b *testing.B) {
	tab := NewDNSTable()
	a := unhex(b, hexDNSAnswerAAAA)
	ts := time.Unix(0, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(a)))
	for b.Loop() {
		tab.Observe(a, false, 1, ts)
	}
}

func FuzzParseDNS(f *testing.F) {
	f.Add(unhex(f, hexDNSNXDomain))                                                     // SOA in authority, pointers into the question
	f.Add(unhex(f, hexDNSAnswerAAAA))                                                   // CNAME chain, AAAA owned by the target
	f.Add(unhex(f, hexDNSQueryAAAA))                                                    // plain query
	f.Add(append(unhex(f, "000081000001000100000000"), 0xC0, 12, 0, 1, 0, 1, 0xC0, 12)) // self-pointer
	f.Fuzz(func(t *testing.T, b []byte) {
		var scratch DNSRecord
		// Property: no panic, no hang (pointer loops), names bounded by the
		// fixed 255-byte array; labels are binary, so any byte may appear.
		ParseDNS(b, &scratch, func(rr *DNSRecord) {})
		tab := NewDNSTable()
		tab.Observe(b, false, 1, time.Time{})
		tab.Observe(b, true, 2, time.Time{})
		tab.Failures()
	})
}
