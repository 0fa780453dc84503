package analyze

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Service areas of the Office 365 endpoint list, lower case as reported.
const (
	AreaSkype      = "skype"
	AreaExchange   = "exchange"
	AreaSharePoint = "sharepoint"
	AreaCommon     = "common"
)

// endpointsSnapshot is Microsoft's endpoint list for the worldwide instance,
// reduced to the entries the article needs (see ../shared/REFERENCE.md).
//
//go:embed endpoints.json
var endpointsSnapshot []byte

// EndpointEntry is one object of Microsoft's endpoint web service JSON.
type EndpointEntry struct {
	ID          int      `json:"id"`
	ServiceArea string   `json:"serviceArea"`
	URLs        []string `json:"urls"`
	IPs         []string `json:"ips"`
	TCPPorts    string   `json:"tcpPorts"`
	UDPPorts    string   `json:"udpPorts"`
	Category    string   `json:"category"`
	Required    bool     `json:"required"`
	Notes       string   `json:"notes"`
}

// Endpoints answers "is this address / name Office 365, and which service
// area?". Address lookups walk a binary prefix trie: O(prefix length), not a
// scan of the list per packet.
type Endpoints struct {
	v4, v6 trie
	names  []namePattern
	source string
}

type namePattern struct {
	suffix string // "lync.com" for "*.lync.com"; exact name otherwise
	wild   bool
	area   string
}

// DefaultEndpoints returns the embedded snapshot (parsed once; read-only).
func DefaultEndpoints() *Endpoints { return defaultEndpoints() }

var defaultEndpoints = sync.OnceValue(func() *Endpoints {
	e, err := parseEndpoints(endpointsSnapshot, "embedded snapshot")
	if err != nil {
		panic("embedded endpoint snapshot: " + err.Error()) // a build defect, not input
	}
	return e
})

// LoadEndpoints reads a file in Microsoft's endpoint JSON format.
func LoadEndpoints(name string) (*Endpoints, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("--endpoints: %w", err)
	}
	e, err := parseEndpoints(b, name)
	if err != nil {
		return nil, fmt.Errorf("--endpoints %s: %w", name, err)
	}
	return e, nil
}

func parseEndpoints(b []byte, source string) (*Endpoints, error) {
	var entries []EndpointEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("not Microsoft's endpoint JSON (an array of {id, serviceArea, urls, ips, ...}): %v", err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no endpoint entries")
	}
	e := &Endpoints{source: source}
	// Areas in priority order: an address in both Skype and Common ranges is Skype.
	order := map[string]int{AreaSkype: 0, AreaExchange: 1, AreaSharePoint: 2, AreaCommon: 3}
	sort.SliceStable(entries, func(i, j int) bool {
		return rank(order, entries[i].ServiceArea) < rank(order, entries[j].ServiceArea)
	})
	for _, en := range entries {
		area := strings.ToLower(en.ServiceArea)
		if area == "" {
			return nil, fmt.Errorf("entry id %d has no serviceArea", en.ID)
		}
		for _, s := range en.IPs {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("entry id %d: bad address range %q", en.ID, s)
			}
			p = p.Masked()
			if p.Addr().Is4() {
				e.v4.insert(p.Addr().AsSlice(), p.Bits(), area)
			} else {
				e.v6.insert(p.Addr().AsSlice(), p.Bits(), area)
			}
		}
		for _, u := range en.URLs {
			u = strings.ToLower(strings.TrimSpace(u))
			if strings.HasPrefix(u, "*.") {
				e.names = append(e.names, namePattern{suffix: u[2:], wild: true, area: area})
			} else if u != "" {
				e.names = append(e.names, namePattern{suffix: u, area: area})
			}
		}
	}
	return e, nil
}

func rank(order map[string]int, area string) int {
	if r, ok := order[strings.ToLower(area)]; ok {
		return r
	}
	return len(order)
}

// Source says where the data came from (file name or "embedded snapshot").
func (e *Endpoints) Source() string { return e.source }

// AreaOf returns the service area of an address, "" when outside the list.
// ip is 4 bytes of IPv4 or 16 of IPv6.
func (e *Endpoints) AreaOf(ip []byte) string {
	if len(ip) == 4 {
		return e.v4.lookup(ip)
	}
	return e.v6.lookup(ip)
}

// AreaOfAddr is AreaOf for a netip.Addr.
func (e *Endpoints) AreaOfAddr(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return e.v4.lookup(b[:])
	}
	b := a.As16()
	return e.v6.lookup(b[:])
}

// AreaOfName returns the service area of a host name ("" when no URL
// pattern matches).
func (e *Endpoints) AreaOfName(name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, p := range e.names {
		if p.wild {
			if strings.HasSuffix(name, "."+p.suffix) {
				return p.area
			}
		} else if name == p.suffix {
			return p.area
		}
	}
	return ""
}

// trie is a binary prefix trie in a slice: node 0 is the root; a node's
// area is set when a prefix ends there. The first prefix inserted for an
// exact prefix wins (entries are inserted in area priority order).
type trie struct {
	nodes []trieNode
}

type trieNode struct {
	child [2]int32
	area  string
}

func (t *trie) insert(ip []byte, bits int, area string) {
	if len(t.nodes) == 0 {
		t.nodes = append(t.nodes, trieNode{})
	}
	n := int32(0)
	for i := 0; i < bits; i++ {
		b := (ip[i/8] >> (7 - uint(i%8))) & 1
		if t.nodes[n].child[b] == 0 {
			t.nodes = append(t.nodes, trieNode{})
			t.nodes[n].child[b] = int32(len(t.nodes) - 1)
		}
		n = t.nodes[n].child[b]
	}
	if t.nodes[n].area == "" {
		t.nodes[n].area = area
	}
}

// lookup returns the area of the longest matching prefix.
func (t *trie) lookup(ip []byte) string {
	if len(t.nodes) == 0 {
		return ""
	}
	area := t.nodes[0].area
	n := int32(0)
	for i := 0; i < len(ip)*8; i++ {
		b := (ip[i/8] >> (7 - uint(i%8))) & 1
		n = t.nodes[n].child[b]
		if n == 0 {
			break
		}
		if a := t.nodes[n].area; a != "" {
			area = a
		}
	}
	return area
}

// areas interns service-area names so a flow stores one byte, not a string:
// index 0 is "" (outside Office 365). Copy-on-write: readers never lock.
var (
	areas   atomic.Pointer[[]string]
	areasMu sync.Mutex
)

func init() { areas.Store(&[]string{""}) }

// areaID returns name's index, adding it on first use (at most 255 names;
// beyond that the area reads as "").
func areaID(name string) uint8 {
	if name == "" {
		return 0
	}
	for i, n := range *areas.Load() {
		if n == name {
			return uint8(i)
		}
	}
	areasMu.Lock()
	defer areasMu.Unlock()
	cur := *areas.Load()
	for i, n := range cur {
		if n == name {
			return uint8(i)
		}
	}
	if len(cur) > 255 {
		return 0
	}
	next := append(slices.Clone(cur), name)
	areas.Store(&next)
	return uint8(len(next) - 1)
}

func areaName(id uint8) string {
	if l := *areas.Load(); int(id) < len(l) {
		return l[id]
	}
	return ""
}
