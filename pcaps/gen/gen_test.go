package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestRegenerationIsByteIdentical regenerates every capture and README.md
// into a temporary directory and compares them with the committed files in
// pcaps/. A file not committed yet is skipped.
func TestRegenerationIsByteIdentical(t *testing.T) {
	dir := t.TempDir()
	if err := writeAll(dir, ""); err != nil {
		t.Fatal(err)
	}
	names := []string{"README.md"}
	for _, build := range scenarios {
		names = append(names, build().name)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("..", name))
			if errors.Is(err, fs.ErrNotExist) {
				t.Skipf("pcaps/%s not committed yet", name)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("regenerated %s differs from pcaps/%s (%d vs %d bytes): run `go run ./pcaps/gen -out pcaps` and commit", name, name, len(got), len(want))
			}
		})
	}
}

// TestCapturesDecode checks that gopacket decodes every frame of every
// capture without an error layer (link types, VLAN tags, IPv6, ICMP quotes).
func TestCapturesDecode(t *testing.T) {
	dir := t.TempDir()
	if err := writeAll(dir, ""); err != nil {
		t.Fatal(err)
	}
	for _, build := range scenarios {
		c := build()
		t.Run(c.name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, c.name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			type reader interface {
				ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
			}
			var r reader
			linkOf := func(ci gopacket.CaptureInfo) layers.LinkType { return c.ifaces[ci.InterfaceIndex].kind.linkType() }
			if c.ng {
				// WantMixedLinkType: by default pcapgo silently drops packets of
				// interfaces whose link type differs from the first one.
				r, err = pcapgo.NewNgReader(f, pcapgo.NgReaderOptions{WantMixedLinkType: true})
			} else {
				r, err = pcapgo.NewReader(f)
			}
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				data, ci, err := r.ReadPacketData()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
				p := gopacket.NewPacket(data, linkOf(ci), gopacket.Default)
				if el := p.ErrorLayer(); el != nil {
					t.Fatalf("frame %d: %v", n, el.Error())
				}
				if p.NetworkLayer() == nil || p.TransportLayer() == nil && p.Layer(layers.LayerTypeICMPv4) == nil && p.Layer(layers.LayerTypeICMPv6) == nil {
					t.Fatalf("frame %d: no network/transport layer: %v", n, p)
				}
			}
			if n != len(c.frames) {
				t.Errorf("read %d frames, want %d", n, len(c.frames))
			}
		})
	}
}

// TestBenchDeterministic writes a small corpus twice with the same seed.
func TestBenchDeterministic(t *testing.T) {
	dir := t.TempDir()
	sum := func(name string, seed uint64) [32]byte {
		p := filepath.Join(dir, name)
		st, err := writeBench(p, 2e6, seed)
		if err != nil {
			t.Fatal(err)
		}
		if st.bytes < 2e6 || st.packets == 0 || st.flows == 0 {
			t.Fatalf("stats %+v", st)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != st.bytes {
			t.Fatalf("file has %d bytes, stats say %d", len(b), st.bytes)
		}
		return sha256.Sum256(b)
	}
	a, b, c := sum("a.pcap", 1), sum("b.pcap", 1), sum("c.pcap", 2)
	if a != b {
		t.Error("same seed, different corpus")
	}
	if a == c {
		t.Error("different seeds, same corpus")
	}
}
