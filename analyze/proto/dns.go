package proto

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DNSName is a decoded, lower-cased, dotted domain name held in a fixed
// array (RFC 1035 §2.3.4: at most 255 bytes), so decoding never allocates.
type DNSName struct {
	n uint8
	b [255]byte
}

// Bytes returns the name without a trailing dot; it aliases n.
func (n *DNSName) Bytes() []byte { return n.b[:n.n] }

// String returns the name (allocates).
func (n *DNSName) String() string { return string(n.b[:n.n]) }

// Equal reports whether two names are the same.
func (n *DNSName) Equal(o *DNSName) bool { return string(n.b[:n.n]) == string(o.b[:o.n]) }

// DNSHeader is the fixed DNS header (RFC 1035 §4.1.1) and first question.
type DNSHeader struct {
	ID        uint16
	Response  bool
	Opcode    uint8
	Truncated bool
	Rcode     uint8
	QDCount   int
	ANCount   int
	QName     DNSName
	QType     uint16
}

// DNSRecord is one answer-section resource record handed to ParseDNS's
// callback; it is only valid during the call.
type DNSRecord struct {
	Name   DNSName
	Type   uint16
	TTL    uint32
	Addr   netip.Addr // A/AAAA
	Target DNSName    // CNAME
}

// DNS record types used here.
const (
	DNSTypeA     = 1
	DNSTypeCNAME = 5
	DNSTypeAAAA  = 28
)

// ParseDNS parses a DNS message (UDP payload, or TCP without its 2-byte
// length prefix): header, first question, and, when answer is not nil, each
// answer record, decoded into the caller's scratch rr (a record holds two
// 255-byte names; passing it in keeps it off the heap). Name compression is
// followed with loop protection (at most 127 pointer hops). It does not
// allocate; ok is false on malformed input, after which answer may have seen
// a prefix of the records.
func ParseDNS(b []byte, rr *DNSRecord, answer func(*DNSRecord)) (h DNSHeader, ok bool) {
	if len(b) < 12 {
		return h, false
	}
	h.ID = be16(b)
	flags := be16(b[2:])
	h.Response = flags&0x8000 != 0
	h.Opcode = uint8(flags>>11) & 0xF
	h.Truncated = flags&0x0200 != 0
	h.Rcode = uint8(flags & 0xF)
	h.QDCount, h.ANCount = int(be16(b[4:])), int(be16(b[6:]))
	if h.QDCount > 16 || h.Opcode != 0 && h.Opcode != 4 && h.Opcode != 5 {
		return h, false // not a plausible query/notify/update: random UDP
	}
	off := 12
	for i := 0; i < h.QDCount; i++ {
		var name *DNSName
		var skip DNSName
		if i == 0 {
			name = &h.QName
		} else {
			name = &skip
		}
		var ok bool
		if off, ok = readName(b, off, name); !ok || off+4 > len(b) {
			return h, false
		}
		if i == 0 {
			h.QType = be16(b[off:])
		}
		off += 4
	}
	if answer == nil || rr == nil {
		return h, true
	}
	for i := 0; i < h.ANCount; i++ {
		var ok bool
		if off, ok = readName(b, off, &rr.Name); !ok || off+10 > len(b) {
			return h, false
		}
		rr.Type = be16(b[off:])
		rr.TTL = be32(b[off+4:])
		n := int(be16(b[off+8:]))
		off += 10
		if off+n > len(b) {
			return h, false
		}
		rd := b[off : off+n]
		rr.Addr, rr.Target.n = netip.Addr{}, 0
		switch {
		case rr.Type == DNSTypeA && n == 4:
			rr.Addr = netip.AddrFrom4([4]byte(rd))
		case rr.Type == DNSTypeAAAA && n == 16:
			rr.Addr = netip.AddrFrom16([16]byte(rd))
		case rr.Type == DNSTypeCNAME:
			if _, ok := readName(b, off, &rr.Target); !ok {
				return h, false
			}
		}
		off += n
		answer(rr)
	}
	return h, true
}

// readName decodes the name at off into n and returns the offset after it
// (after the first pointer, if compressed).
func readName(b []byte, off int, n *DNSName) (int, bool) {
	n.n = 0
	end := -1
	for hops := 0; ; {
		if off >= len(b) {
			return 0, false
		}
		l := int(b[off])
		switch {
		case l == 0:
			if end < 0 {
				end = off + 1
			}
			return end, true
		case l&0xC0 == 0xC0:
			hops++
			if off+1 >= len(b) || hops > 127 {
				return 0, false
			}
			if end < 0 {
				end = off + 2
			}
			off = int(be16(b[off:]) & 0x3FFF)
		case l&0xC0 != 0:
			return 0, false // 0x40/0x80 label types are obsolete
		default:
			if off+1+l > len(b) {
				return 0, false
			}
			need := l
			if n.n > 0 {
				need++
			}
			if int(n.n)+need > len(n.b) {
				return 0, false
			}
			if n.n > 0 {
				n.b[n.n] = '.'
				n.n++
			}
			for _, c := range b[off+1 : off+1+l] {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				n.b[n.n] = c
				n.n++
			}
			off += 1 + l
		}
	}
}

// DNS table bounds.
const (
	dnsMaxAddrs    = 1 << 16
	dnsMaxPending  = 4096
	dnsMaxFailures = 1024
	dnsMaxCNAMEs   = 16
)

// DNSFailure is a name whose lookups failed (rcode) or went unanswered
// (Rcode "NOANSWER").
type DNSFailure struct {
	Name       string    `json:"name"`
	Rcode      string    `json:"rcode"`
	Count      int       `json:"count"`
	FirstFrame int       `json:"first_frame,omitempty"`
	FirstSeen  time.Time `json:"first_seen"`
}

type dnsPending struct {
	name  string
	frame int
	ts    time.Time
}

// DNSTable learns which name each address was looked up as, and which
// lookups failed, from the DNS traffic of a whole capture. Memory is bounded
// (65536 addresses, 4096 pending queries, 1024 failures); it allocates only
// when a new name, address or failure appears. Not safe for concurrent use.
type DNSTable struct {
	Queries, Responses, Malformed int
	Evicted                       int // entries refused because a bound was hit

	addrs    map[netip.Addr]string
	pending  map[string]dnsPending // key: id(2) qtype(2) qname
	failures map[string]*DNSFailure
	fails    []*DNSFailure // in order seen

	// Scratch for one response, reused: no allocation per packet.
	rr      DNSRecord
	key     []byte
	cnames  [dnsMaxCNAMEs][2]DNSName // owner -> target
	ncnames int
	hdr     DNSHeader
	addrBuf [32]struct {
		owner DNSName
		addr  netip.Addr
	}
	naddrs int
}

// NewDNSTable returns an empty table.
func NewDNSTable() *DNSTable {
	return &DNSTable{
		addrs:    map[netip.Addr]string{},
		pending:  map[string]dnsPending{},
		failures: map[string]*DNSFailure{},
		key:      make([]byte, 0, 260),
	}
}

// Observe feeds one DNS payload (tcp: with its RFC 1035 §4.2.2 length
// prefix). frame and ts locate it for the report.
func (t *DNSTable) Observe(payload []byte, tcp bool, frame int, ts time.Time) {
	if tcp {
		if len(payload) < 2 || int(be16(payload))+2 > len(payload) {
			t.Malformed++
			return
		}
		payload = payload[2 : 2+int(be16(payload))]
	}
	t.ncnames, t.naddrs = 0, 0
	var ok bool
	t.hdr, ok = ParseDNS(payload, &t.rr, t.record)
	h := &t.hdr
	if !ok || h.QDCount == 0 {
		t.Malformed++
		return
	}
	t.key = append(t.key[:0], byte(h.ID>>8), byte(h.ID), byte(h.QType>>8), byte(h.QType))
	t.key = append(t.key, h.QName.Bytes()...)
	if !h.Response {
		t.Queries++
		if _, dup := t.pending[string(t.key)]; !dup {
			if len(t.pending) >= dnsMaxPending {
				t.Evicted++
				return
			}
			t.pending[string(t.key)] = dnsPending{name: h.QName.String(), frame: frame, ts: ts}
		}
		return
	}
	t.Responses++
	delete(t.pending, string(t.key))
	switch h.Rcode {
	case 0:
	case 2, 3, 5: // SERVFAIL, NXDOMAIN, REFUSED: lookups a firewall or resolver broke
		t.fail(&h.QName, dnsRcodeName(h.Rcode), frame, ts)
	}
	for i := range t.addrBuf[:t.naddrs] {
		a := &t.addrBuf[i]
		name := t.origin(&a.owner)
		if v, ok := t.addrs[a.addr]; ok && v == string(name.Bytes()) {
			continue
		}
		if _, ok := t.addrs[a.addr]; !ok && len(t.addrs) >= dnsMaxAddrs {
			t.Evicted++
			continue
		}
		t.addrs[a.addr] = name.String()
	}
}

// record collects CNAME edges and addresses of one response.
func (t *DNSTable) record(rr *DNSRecord) {
	switch {
	case rr.Type == DNSTypeCNAME && t.ncnames < dnsMaxCNAMEs:
		t.cnames[t.ncnames] = [2]DNSName{rr.Name, rr.Target}
		t.ncnames++
	case rr.Addr.IsValid() && t.naddrs < len(t.addrBuf):
		t.addrBuf[t.naddrs].owner = rr.Name
		t.addrBuf[t.naddrs].addr = rr.Addr
		t.naddrs++
	}
}

// origin follows the CNAME chain back from owner to the name the client
// asked for; owner itself if no chain leads there.
func (t *DNSTable) origin(owner *DNSName) *DNSName {
	cur := owner
	for hops := 0; hops < dnsMaxCNAMEs && !cur.Equal(&t.hdr.QName); hops++ {
		found := false
		for i := range t.cnames[:t.ncnames] {
			if t.cnames[i][1].Equal(cur) {
				cur, found = &t.cnames[i][0], true
				break
			}
		}
		if !found {
			return owner
		}
	}
	return cur
}

func (t *DNSTable) fail(name *DNSName, rcode string, frame int, ts time.Time) {
	t.key = append(append(t.key[:0], rcode...), name.Bytes()...)
	if f, ok := t.failures[string(t.key)]; ok {
		f.Count++
		return
	}
	if len(t.failures) >= dnsMaxFailures {
		t.Evicted++
		return
	}
	f := &DNSFailure{Name: name.String(), Rcode: rcode, Count: 1, FirstFrame: frame, FirstSeen: ts}
	t.failures[string(t.key)] = f
	t.fails = append(t.fails, f)
}

func dnsRcodeName(r uint8) string {
	switch r {
	case 0:
		return "NOERROR"
	case 1:
		return "FORMERR"
	case 2:
		return "SERVFAIL"
	case 3:
		return "NXDOMAIN"
	case 4:
		return "NOTIMP"
	case 5:
		return "REFUSED"
	}
	return "RCODE" + strconv.Itoa(int(r))
}

// NameFor returns the name a client looked up to get addr ("" if unknown):
// the original query name, not the CNAME target.
func (t *DNSTable) NameFor(a netip.Addr) string { return t.addrs[a.Unmap()] }

// Failures returns the failed lookups (by name and rcode, in order first
// seen) followed by the queries never answered (Rcode "NOANSWER", one entry
// per name, ordered by first frame).
func (t *DNSTable) Failures() []DNSFailure {
	out := make([]DNSFailure, 0, len(t.fails))
	for _, f := range t.fails {
		out = append(out, *f)
	}
	byName := map[string]int{}
	var un []DNSFailure
	for _, p := range t.pending {
		if i, ok := byName[p.name]; ok {
			un[i].Count++
			if p.frame < un[i].FirstFrame || p.frame == un[i].FirstFrame && p.ts.Before(un[i].FirstSeen) {
				un[i].FirstFrame, un[i].FirstSeen = p.frame, p.ts
			}
			continue
		}
		byName[p.name] = len(un)
		un = append(un, DNSFailure{Name: p.name, Rcode: "NOANSWER", Count: 1, FirstFrame: p.frame, FirstSeen: p.ts})
	}
	slices.SortFunc(un, func(a, b DNSFailure) int {
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		if a.FirstFrame != b.FirstFrame {
			return a.FirstFrame - b.FirstFrame
		}
		return strings.Compare(a.Name, b.Name)
	})
	return append(out, un...)
}
