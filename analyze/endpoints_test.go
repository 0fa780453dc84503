package analyze

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbeddedEndpoints(t *testing.T) {
	e := DefaultEndpoints()
	for _, tc := range []struct{ addr, area string }{
		{"52.114.250.141", AreaSkype}, // 52.112.0.0/14
		{"13.107.64.21", AreaSkype},   // 13.107.64.0/18
		{"52.122.1.1", AreaSkype},     // later edition: 52.122.0.0/15
		{"2603:1063::15", AreaSkype},  // later edition: 2603:1063::/38
		{"2603:1027::10", AreaSkype},  // id 12
		{"52.96.91.34", AreaExchange}, // 52.96.0.0/14
		{"13.107.136.9", AreaSharePoint},
		{"20.190.151.7", AreaCommon}, // identity
		{"17.57.144.84", ""},         // Apple push: not Office 365
		{"192.168.1.10", ""},
	} {
		if got := e.AreaOfAddr(netip.MustParseAddr(tc.addr)); got != tc.area {
			t.Errorf("AreaOfAddr(%s) = %q, want %q", tc.addr, got, tc.area)
		}
	}
	for _, tc := range []struct{ name, area string }{
		{"sipdir.online.lync.com", AreaSkype},
		{"teams.microsoft.com", AreaSkype},
		{"contoso.sharepoint.com", AreaSharePoint},
		{"login.microsoftonline.com", AreaCommon},
		{"example.com", ""},
		{"lync.com.evil.example", ""},
	} {
		if got := e.AreaOfName(tc.name); got != tc.area {
			t.Errorf("AreaOfName(%s) = %q, want %q", tc.name, got, tc.area)
		}
	}
}

func TestLoadEndpoints(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ws.json")
	os.WriteFile(good, []byte(`[{"id": 11, "serviceArea": "Skype", "urls": ["*.lync.com"], "ips": ["198.51.100.0/24", "2001:db8:aa::/48"], "udpPorts": "3478-3481", "category": "Optimize", "required": true}]`), 0o644)
	e, err := LoadEndpoints(good)
	if err != nil {
		t.Fatal(err)
	}
	if e.AreaOfAddr(netip.MustParseAddr("198.51.100.7")) != AreaSkype || e.AreaOfAddr(netip.MustParseAddr("2001:db8:aa::1")) != AreaSkype {
		t.Error("ranges from the file not used")
	}
	if e.AreaOfAddr(netip.MustParseAddr("52.112.0.1")) != "" {
		t.Error("the file replaces the snapshot, it does not add to it")
	}
	for _, tc := range []struct{ name, body, want string }{
		{"bad.json", `{"not": "an array"}`, "not Microsoft's endpoint JSON"},
		{"badip.json", `[{"id": 1, "serviceArea": "Skype", "ips": ["52.112.0.0/99"]}]`, `bad address range "52.112.0.0/99"`},
		{"empty.json", `[]`, "no endpoint entries"},
		{"noarea.json", `[{"id": 7, "ips": ["10.0.0.0/8"]}]`, "entry id 7 has no serviceArea"},
	} {
		p := filepath.Join(dir, tc.name)
		os.WriteFile(p, []byte(tc.body), 0o644)
		_, err := LoadEndpoints(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: error %v, want one naming the file and %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadEndpoints(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
}
