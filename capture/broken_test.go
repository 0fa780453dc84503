package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// rec is a packet copied out of a Source, for comparisons.
type rec struct {
	Data      []byte
	Timestamp time.Time
	Length    int
	LinkType  layers.LinkType
	Frame     int64
	File      int
	Interface int
	Flags     uint32
	DropCount uint64
}

// readAll opens names and reads every packet, copying each.
func readAll(tb testing.TB, names ...string) ([]rec, *Info, error) {
	tb.Helper()
	src, err := Open(names...)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	var out []rec
	for {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("Next: got error %v, want only io.EOF (damage goes to Info)", err)
		}
		out = append(out, rec{bytes.Clone(p.Data), p.Timestamp, p.Length, p.LinkType, p.Frame, p.File, p.Interface, p.Flags, p.DropCount})
		if len(out) > 1e6 {
			tb.Fatal("more than a million packets: reader loops")
		}
	}
	return out, src.Info(), nil
}

func containsAll(t *testing.T, what string, got []string, want []string) {
	t.Helper()
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("%s: got %q, want a fragment %q", what, got, w)
		}
	}
}

// TestBroken reads every hand-made case of ROBUSTNESS.md §6.
func TestBroken(t *testing.T) {
	cases := pcaptest.Broken(t)
	byName := map[string]pcaptest.BrokenCase{}
	for _, c := range cases {
		byName[c.Name] = c
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%02d-%s", c.Case, c.Name), func(t *testing.T) {
			got, info, err := readAll(t, c.Path)
			if c.Unusable {
				if err == nil {
					t.Fatalf("Open: got %d packets and no error, want an error with %q", len(got), c.Want)
				}
				if !errors.Is(err, ErrUnusable) {
					t.Errorf("errors.Is(%v, ErrUnusable) = false, want true", err)
				}
				msg := err.Error()
				if strings.ContainsAny(msg, "\n\r") || strings.Contains(msg, "EOF") || strings.Contains(msg, "magic") && !strings.Contains(msg, "byte-order") {
					t.Errorf("message %q: want one line, no bare EOF or \"magic\"", msg)
				}
				containsAll(t, "error", []string{msg}, c.Want)
				if !strings.Contains(msg, c.Path) && !strings.Contains(msg, filepath.Base(c.Path)) {
					t.Errorf("message %q does not name the file", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: got error %v, want none", err)
			}
			fi := info.Files[0]
			if c.Packets >= 0 && len(got) != c.Packets {
				t.Errorf("packets: got %d, want %d", len(got), c.Packets)
			}
			if c.Packets < 0 && len(got) == 0 {
				t.Errorf("packets: got 0, want at least 1")
			}
			if fi.Packets != int64(len(got)) {
				t.Errorf("FileInfo.Packets: got %d, want %d", fi.Packets, len(got))
			}
			if fi.Truncated != c.Truncated {
				t.Errorf("Truncated: got %v, want %v (warnings %q)", fi.Truncated, c.Truncated, fi.Warnings)
			}
			if len(c.Want) == 0 && len(fi.Warnings) != 0 {
				t.Errorf("warnings: got %q, want none", fi.Warnings)
			}
			containsAll(t, "warnings", fi.Warnings, c.Want)
			for _, w := range fi.Warnings {
				if !strings.HasPrefix(w, c.Path+": ") || strings.Contains(w, "EOF") || strings.ContainsAny(w, "\n\r") {
					t.Errorf("warning %q: want one line starting with the file name, no bare EOF", w)
				}
			}
			if c.Truncated && !strings.Contains(strings.Join(fi.Warnings, "\n"), "kept") {
				t.Errorf("warnings %q do not say how many packets were kept", fi.Warnings)
			}
			for i, p := range got {
				if p.Frame != int64(i+1) {
					t.Errorf("packet %d: Frame got %d, want %d", i, p.Frame, i+1)
				}
			}
			if c.SameAs != "" {
				want, _, err := readAll(t, byName[c.SameAs].Path)
				if err != nil {
					t.Fatal(err)
				}
				for i := range min(len(got), len(want)) {
					g, w := got[i], want[i]
					if !bytes.Equal(g.Data, w.Data) || g.Length != w.Length || !g.Timestamp.Equal(w.Timestamp) || g.LinkType != w.LinkType {
						t.Errorf("packet %d: got len %d/%d at %v lt %v, want len %d/%d at %v lt %v (as %s)",
							i+1, len(g.Data), g.Length, g.Timestamp, g.LinkType, len(w.Data), w.Length, w.Timestamp, w.LinkType, c.SameAs)
					}
				}
			}
			checkExtra(t, c.Name, got, &fi)
		})
	}
}

// checkExtra holds the case-specific expectations.
func checkExtra(t *testing.T, name string, got []rec, fi *FileInfo) {
	lts := func() []layers.LinkType {
		var out []layers.LinkType
		for _, p := range got {
			out = append(out, p.LinkType)
		}
		return out
	}
	eqLT := func(what string, got, want []layers.LinkType) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	E, N := layers.LinkTypeEthernet, layers.LinkTypeNull
	switch name {
	case "good":
		if got[0].Timestamp != time.Unix(1700000000, 1000) {
			t.Errorf("timestamp: got %v, want 1700000000.000001", got[0].Timestamp)
		}
		if fi.Format != "pcap" || fi.Compressed {
			t.Errorf("format: got %q compressed %v, want pcap uncompressed", fi.Format, fi.Compressed)
		}
	case "p04":
		eqLT("LinkTypes", fi.LinkTypes, []layers.LinkType{E})
	case "n-shb-only", "n-shb-cb":
		eqLT("LinkTypes", fi.LinkTypes, nil)
		if fi.Format != "pcapng" {
			t.Errorf("format: got %q, want pcapng", fi.Format)
		}
	case "p11":
		if len(got[1].Data) != 54 || got[1].Length != 20 {
			t.Errorf("packet 2: got %d/%d bytes, want 54/20", len(got[1].Data), got[1].Length)
		}
	case "p12":
		if len(got[1].Data) != 0 || got[1].Length != 0 {
			t.Errorf("packet 2: got %d/%d bytes, want 0/0", len(got[1].Data), got[1].Length)
		}
	case "p18":
		for i, p := range got {
			if wantLen := len(p.Data) + 40*min(i, 1); len(p.Data) != 60+i || p.Length != wantLen {
				t.Errorf("packet %d: got %d/%d bytes, want %d/%d (caplen/len swapped back)", i+1, len(p.Data), p.Length, 60+i, wantLen)
			}
		}
	case "p16", "n14":
		if !fi.Compressed {
			t.Errorf("Compressed: got false, want true")
		}
	case "p20":
		eqLT("LinkTypes", fi.LinkTypes, []layers.LinkType{65000})
	case "p21":
		eqLT("link types", lts(), []layers.LinkType{101, 101})
	case "p22":
		eqLT("link types", lts(), []layers.LinkType{layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL})
	case "n16":
		eqLT("link types", lts(), []layers.LinkType{E, N, E})
		eqLT("LinkTypes", fi.LinkTypes, []layers.LinkType{E, N})
	case "n02":
		eqLT("link types", lts(), []layers.LinkType{E, E, E, N})
		if got[2].Interface != 1 || got[3].Interface != 0 {
			t.Errorf("interfaces: got %d,%d, want 1,0 (renumbered per section)", got[2].Interface, got[3].Interface)
		}
	case "p28":
		if len(got[0].Data) != 64 || got[0].Length != 100 || len(got[2].Data) != 64 || got[2].Length != 1514 {
			t.Errorf("snaplen-cut packets: got %d/%d and %d/%d, want 64/100 and 64/1514",
				len(got[0].Data), got[0].Length, len(got[2].Data), got[2].Length)
		}
	case "n-spb":
		for i, p := range got {
			if p.Timestamp.IsZero() != (i != 1) {
				t.Errorf("packet %d: timestamp %v, want zero for an SPB only", i+1, p.Timestamp)
			}
		}
	case "n20":
		if got[0].Flags != 1 || got[0].DropCount != 7 {
			t.Errorf("BE EPB options: got flags %#x dropcount %d, want 0x1 (inbound) and 7", got[0].Flags, got[0].DropCount)
		}
	case "n-good":
		// EPB timestamps are in µs (default if_tsresol).
		if got[0].Timestamp != time.Unix(1700000000, 1000) {
			t.Errorf("timestamp: got %v, want 1700000000.000001", got[0].Timestamp)
		}
	}
}

// TestDamagedRecordMemory asserts that a record claiming 2 GiB costs no
// more than the fixed read buffer (ROBUSTNESS #10).
func TestDamagedRecordMemory(t *testing.T) {
	for _, c := range pcaptest.Broken(t) {
		if c.Name != "p08" && c.Name != "p09" && c.Name != "p10" && c.Name != "n15" {
			continue
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		got, _, err := readAll(t, c.Path)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 3<<20 {
			t.Errorf("%s: allocated %d bytes reading %d packets, want under 3 MiB", c.Name, n, len(got))
		}
	}
}

// TestOpenErrors covers #40 beyond what Broken builds.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret.pcap")
	if err := os.WriteFile(p, pcaptest.Pcap(pcaptest.UDPFrame(60, 1)), 0o000); err != nil {
		t.Fatal(err)
	}
	t.Run("permission", func(t *testing.T) {
		if f, err := os.Open(p); err == nil {
			f.Close()
			t.Skip("skipping: running as root, a mode-000 file is still readable")
		}
		_, err := Open(p)
		want := "cannot open " + p + ": permission denied"
		if err == nil || err.Error() != want || !errors.Is(err, ErrUnusable) || !errors.Is(err, os.ErrPermission) {
			t.Errorf("got %v, want %q wrapping ErrUnusable and os.ErrPermission", err, want)
		}
	})
	t.Run("no-args", func(t *testing.T) {
		if _, err := Open(); !errors.Is(err, ErrUnusable) {
			t.Errorf("Open(): got %v, want ErrUnusable", err)
		}
	})
	t.Run("second-file-bad", func(t *testing.T) {
		good := filepath.Join(dir, "good.pcap")
		os.WriteFile(good, pcaptest.Pcap(pcaptest.UDPFrame(60, 1)), 0o644)
		_, err := Open(good, filepath.Join(dir, "nope.pcap"))
		if err == nil || !strings.Contains(err.Error(), "nope.pcap: no such file or directory") {
			t.Errorf("got %v, want cannot open nope.pcap", err)
		}
	})
}

// TestStdin reads "-" from a pipe, as `cat x | sfbtrace analyze -` does.
func TestStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old; r.Close() })
	data := pcaptest.Pcapng(pcaptest.UDPFrame(60, 1), pcaptest.UDPFrame(70, 2))
	go func() { w.Write(data); w.Close() }()
	got, info, err := readAll(t, "-")
	if err != nil {
		t.Fatal(err)
	}
	fi := info.Files[0]
	if len(got) != 2 || fi.Name != "-" || fi.Size != -1 || fi.Format != "pcapng" {
		t.Errorf("got %d packets, name %q size %d format %q; want 2, \"-\", -1, pcapng", len(got), fi.Name, fi.Size, fi.Format)
	}
	if d, total := progressOf(info); total != -1 || d != int64(len(data)) {
		t.Errorf("Progress: got %d/%d, want %d/-1", d, total, len(data))
	}
	if _, err := Open("-", "-"); !errors.Is(err, ErrUnusable) {
		t.Errorf("Open(-, -): got %v, want ErrUnusable", err)
	}
}
