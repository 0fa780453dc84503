package capture

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// TestPcapngDetails covers what neither the suite nor ROBUSTNESS.md builds:
// base-2 if_tsresol, if_tsoffset, the obsolete Packet Block, damage in a
// later section, gzip edge cases.
func TestPcapngDetails(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	f := pcaptest.UDPFrame
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	// Obsolete Packet Block (type 2): interface u16, drops u16, then as EPB.
	pb := func(o binary.ByteOrder, ifid, drops uint16, ts uint64, data []byte, opts ...[]byte) []byte {
		epb := pcaptest.EPB(o, 0, ts, uint32(len(data)), data, opts...)
		body := epb[8 : len(epb)-4]
		o.PutUint16(body[0:], ifid)
		o.PutUint16(body[2:], drops)
		return pcaptest.Block(o, 2, body)
	}
	tests := []struct {
		name    string
		data    []byte
		check   func(t *testing.T, got []rec, fi FileInfo)
		wantErr string
	}{
		{
			name: "tsresol-base2-and-tsoffset",
			data: cat(pcaptest.SHB(be, 1, 0),
				pcaptest.IDB(be, 1, 0, pcaptest.Opt(be, 9, []byte{0x80 | 20}), pcaptest.Opt(be, 14, be.AppendUint64(nil, 1000)), pcaptest.EndOpt()),
				pcaptest.EPB(be, 0, 5<<20|1<<19, 60, f(60, 1))), // 5.5 s in 2^-20 units
			check: func(t *testing.T, got []rec, fi FileInfo) {
				if want := time.Unix(1005, 5e8); !got[0].Timestamp.Equal(want) {
					t.Errorf("timestamp: got %v, want %v", got[0].Timestamp, want)
				}
			},
		},
		{
			name: "tsresol-1e-19",
			data: cat(pcaptest.SHB(le, 1, 0), pcaptest.IDB(le, 1, 0, pcaptest.Opt(le, 9, []byte{19}), pcaptest.EndOpt()),
				pcaptest.EPB(le, 0, 1e19-1, 60, f(60, 1))),
			check: func(t *testing.T, got []rec, fi FileInfo) {
				if want := time.Unix(0, 999999999); !got[0].Timestamp.Equal(want) {
					t.Errorf("timestamp: got %v, want %v", got[0].Timestamp, want)
				}
			},
		},
		{
			name: "tsresol-10^-20",
			data: cat(pcaptest.SHB(le, 1, 0), pcaptest.IDB(le, 1, 0, pcaptest.Opt(le, 9, []byte{20}), pcaptest.EndOpt()),
				pcaptest.EPB(le, 0, 1, 60, f(60, 1))),
			wantErr: "unsupported timestamp resolution 10^-20",
		},
		{
			name: "obsolete-packet-block",
			data: cat(pcaptest.SHB(le, 1, 0), pcaptest.IDB(le, 1, 0), pcaptest.IDB(le, 101, 0),
				pb(le, 1, 3, 1700000000e6, f(60, 1)[14:], pcaptest.Opt(le, 2, []byte{2, 0, 0, 0}), pcaptest.EndOpt())),
			check: func(t *testing.T, got []rec, fi FileInfo) {
				p := got[0]
				if p.Interface != 1 || p.LinkType != 101 || p.DropCount != 3 || p.Flags != 2 || len(p.Data) != 46 || !p.Timestamp.Equal(time.Unix(1700000000, 0)) {
					t.Errorf("got %s, want interface 1, RAW, drops 3, flags 2, 46 bytes at 1700000000", strip(p))
				}
			},
		},
		{
			name: "bad-version-in-second-section",
			data: cat(pcaptest.Pcapng(f(60, 1)), pcaptest.SHB(le, 2, 0), pcaptest.IDB(le, 1, 0), pcaptest.EPB(le, 0, 1, 60, f(60, 2))),
			check: func(t *testing.T, got []rec, fi FileInfo) {
				if len(got) != 1 || !fi.Truncated || !strings.Contains(strings.Join(fi.Warnings, ""), "unsupported pcapng version 2.0") {
					t.Errorf("got %d packets truncated %v %q, want 1, a partial read and the version", len(got), fi.Truncated, fi.Warnings)
				}
			},
		},
		{
			name: "cut-in-second-shb",
			data: cat(pcaptest.Pcapng(f(60, 1)), pcaptest.SHB(be, 1, 0)[:20]),
			check: func(t *testing.T, got []rec, fi FileInfo) {
				if len(got) != 1 || !fi.Truncated || !strings.Contains(strings.Join(fi.Warnings, ""), "cut short inside section header at offset 140") {
					t.Errorf("got %d packets truncated %v %q, want 1 and cut short at offset 140", len(got), fi.Truncated, fi.Warnings)
				}
			},
		},
		{
			name: "huge-skipped-block-cut",
			data: cat(pcaptest.Pcapng(f(60, 1)), pcaptest.BlockLens(le, 0x80000001, 0x7ffffff0, 0x7ffffff0, make([]byte, 100))),
			check: func(t *testing.T, got []rec, fi FileInfo) {
				if len(got) != 1 || !fi.Truncated || !strings.Contains(strings.Join(fi.Warnings, ""), "cut short inside block at offset 140") {
					t.Errorf("got %d packets truncated %v %q, want 1 and cut short", len(got), fi.Truncated, fi.Warnings)
				}
			},
		},
		{
			name: "idb-linktypes-without-packets",
			data: cat(pcaptest.SHB(le, 1, 0), pcaptest.IDB(le, 1, 0), pcaptest.IDB(le, 0, 0), pcaptest.IDB(le, 1, 0)),
			check: func(t *testing.T, got []rec, fi FileInfo) {
				if len(got) != 0 || len(fi.LinkTypes) != 2 || fi.LinkTypes[0] != layers.LinkTypeEthernet || fi.LinkTypes[1] != layers.LinkTypeNull {
					t.Errorf("got %d packets link types %v, want 0 and [Ethernet Null]", len(got), fi.LinkTypes)
				}
			},
		},
		{name: "gzip-header-damaged", data: []byte{0x1f, 0x8b, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, wantErr: "compressed stream damaged"},
		{name: "gzip-header-cut", data: []byte{0x1f, 0x8b, 8}, wantErr: "compressed stream ends early"},
		{name: "gzip-empty", data: gz(nil), wantErr: "is empty (0 bytes once uncompressed)"},
		{name: "gzip-garbage-inside", data: gz([]byte("hello world")), wantErr: "is not a pcap or pcapng capture (starts with 68 65 6c 6c)"},
		{name: "pcap-magic-only", data: []byte{0xd4, 0xc3}, wantErr: "pcap file header truncated (2 of 24 bytes)"},
		{name: "pcap-version-1", data: pcaptest.PcapHeader(le, pcaptest.MagicMicro, 1, 0, 0, 1), wantErr: "unsupported pcap version 1.0"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, info, err := readAll(t, writeFile(t, dir, tt.name, tt.data))
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one with %q wrapping ErrUnusable", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got, info.Files[0])
		})
	}
}

// TestLargeRecords: records larger than the read buffer go through the
// spill buffer, whole, cut short or merged, without allocating per packet.
func TestLargeRecords(t *testing.T) {
	dir := t.TempDir()
	big := func(n int, seq byte) []byte {
		return append(pcaptest.UDPFrame(42, seq), pcaptest.Noise(n-42, uint32(seq))...)
	}
	var frames [][]byte
	for i := range 40 {
		frames = append(frames, big([]int{200000, 60, 70000, MaxPacket}[i%4], byte(i)))
	}
	pcap := pcaptest.Pcap(frames...)
	ng := pcaptest.Pcapng(frames...)
	a := writeFile(t, dir, "big.pcap", pcap)
	b := writeFile(t, dir, "big.pcapng", ng)
	for _, name := range []string{a, b} {
		got, info, err := readAll(t, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(frames) || info.Files[0].Truncated {
			t.Fatalf("%s: got %d packets truncated %v, want %d", name, len(got), info.Files[0].Truncated, len(frames))
		}
		for i, p := range got {
			if string(p.Data) != string(frames[i]) {
				t.Fatalf("%s: packet %d: data differs (%d bytes, want %d)", name, i+1, len(p.Data), len(frames[i]))
			}
		}
	}
	// Merged: each Data is intact while the other file is read ahead.
	src, err := Open(a, b)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i := 0; ; i++ {
		p, err := src.Next()
		if err != nil {
			if i != 2*len(frames) {
				t.Errorf("merge: got %d packets, want %d", i, 2*len(frames))
			}
			break
		}
		if want := frames[i/2]; string(p.Data) != string(want) || p.File != i%2 {
			t.Fatalf("merge: packet %d: got %d bytes from file %d, want %d bytes from file %d", i+1, len(p.Data), p.File, len(want), i%2)
		}
		if i == 20 {
			if n := testing.AllocsPerRun(100, func() { src.Next() }); n != 0 {
				t.Errorf("Next allocates %v times per large packet, want 0", n)
			}
			break
		}
	}
	// Cut inside a spilled record.
	cut := writeFile(t, dir, "cut.pcap", pcap[:24+16+200000+16+60+16+5000])
	got, info, err := readAll(t, cut)
	if err != nil {
		t.Fatal(err)
	}
	w := info.Files[0].Warnings
	if len(got) != 2 || !strings.Contains(strings.Join(w, "\n"), "cut short in packet 3 (5000 of 70000 bytes)") {
		t.Errorf("got %d packets %q, want 2 and cut short in packet 3 (5000 of 70000 bytes)", len(got), w)
	}
	cutng := writeFile(t, dir, "cut.pcapng", ng[:len(pcaptest.Pcapng())+200032+92+5000])
	got, info, err = readAll(t, cutng)
	if err != nil {
		t.Fatal(err)
	}
	w = info.Files[0].Warnings
	if len(got) != 2 || !strings.Contains(strings.Join(w, "\n"), "cut short inside block at offset") {
		t.Errorf("got %d packets %q, want 2 and cut short inside block", len(got), w)
	}
}
