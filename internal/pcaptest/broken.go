package pcaptest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BrokenCase is one hand-made capture of ROBUSTNESS.md §6 with what reading
// it must give.
type BrokenCase struct {
	Case      int      // number in ROBUSTNESS.md §6
	Name      string   // pNN/nNN label (unique)
	Path      string   // file written in the test's temp dir
	Packets   int      // packets read; -1: at least one, not checked exactly
	Truncated bool     // file ends by damage or cut short (exit 0, partial)
	Unusable  bool     // opening must fail (exit 2)
	Want      []string // fragments of the error or of one warning; none: no warning at all
	SameAs    string   // Name of a case whose packets must be identical (data, lengths, times)
}

// Broken writes every hand-made case of ROBUSTNESS.md §6 that concerns
// reading (#1–#35, #37–#40) into a temp dir and returns them.
func Broken(tb testing.TB) []BrokenCase {
	tb.Helper()
	dir := tb.TempDir()
	le, be := binary.LittleEndian, binary.BigEndian
	var cases []BrokenCase
	add := func(c BrokenCase, file string, data []byte) {
		c.Path = filepath.Join(dir, file)
		if err := os.WriteFile(c.Path, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		cases = append(cases, c)
	}
	f := UDPFrame
	three := [][]byte{f(60, 1), f(61, 2), f(62, 3)}
	good := Pcap(three...)
	ts := func(i int) (uint32, uint32) { return 1700000000, uint32(i + 1) } // as Pcap writes
	// pcapVariant writes the three frames with another magic/order/version.
	pcapVariant := func(o binary.ByteOrder, magic uint32, minor uint16, swap bool) []byte {
		b := PcapHeader(o, magic, 2, minor, 65535, 1)
		for i, fr := range three {
			sec, us := ts(i)
			if magic == MagicNano {
				us *= 1000
			}
			capl, wire := uint32(len(fr)), uint32(len(fr))
			if swap && i > 0 {
				wire += 40 // a wire length larger than captured, stored swapped
				capl, wire = wire, capl
			}
			rec := PcapRecord(o, sec, us, capl, wire, fr)
			if magic == MagicKuznetsov {
				rec = append(rec[:16:16], append(make([]byte, 8), fr...)...)
			}
			b = append(b, rec...)
		}
		return b
	}
	gz := func(b []byte) []byte {
		var w bytes.Buffer
		z := gzip.NewWriter(&w)
		z.Write(b)
		z.Close()
		return w.Bytes()
	}
	pcapWith := func(snaplen, linkType uint32, recs ...[]byte) []byte {
		b := PcapHeader(le, MagicMicro, 2, 4, snaplen, linkType)
		for _, r := range recs {
			b = append(b, r...)
		}
		return b
	}
	rec := func(i int, capl, wire uint32, data []byte) []byte {
		return PcapRecord(le, 1700000000, uint32(i), capl, wire, data)
	}

	add(BrokenCase{Case: 0, Name: "good", Packets: 3}, "good.pcap", good)

	// #1–#5: files that are not captures, or empty ones.
	add(BrokenCase{Case: 1, Name: "p01", Unusable: true, Want: []string{"is empty (0 bytes): not a capture file"}}, "p01.pcap", nil)
	add(BrokenCase{Case: 2, Name: "p02", Unusable: true, Want: []string{"is not a pcap or pcapng capture (starts with 54 68 69 73)"}},
		"p02.pcap", []byte("This is a text file, not a capture.\n"))
	add(BrokenCase{Case: 2, Name: "p02pdf", Unusable: true, Want: []string{"is not a pcap or pcapng capture (starts with 25 50 44 46)"}},
		"p02pdf.pcap", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"))
	add(BrokenCase{Case: 2, Name: "p30", Unusable: true, Want: []string{"is not a pcap or pcapng capture (starts with"}}, "p30.pcap", Noise(24, 30))
	add(BrokenCase{Case: 3, Name: "p03", Unusable: true, Want: []string{"pcap file header truncated (12 of 24 bytes)"}}, "p03.pcap", good[:12])
	add(BrokenCase{Case: 4, Name: "p04", Packets: 0}, "p04.pcap", good[:24])
	add(BrokenCase{Case: 5, Name: "n-shb-only", Packets: 0}, "shb-only.pcapng", SHB(le, 1, 0))
	add(BrokenCase{Case: 5, Name: "n-shb-cb", Packets: 0}, "shb-cb.pcapng",
		cat(SHB(le, 1, 0), Block(le, 0x00000bad, []byte{0, 0, 0x7e, 0x8b, 'h', 'i'}), Block(le, 0x40000bad, []byte{0, 0, 0x7e, 0x8b, 'h', 'o'})))

	// #6–#12: pcap cut short or damaged.
	two := Pcap(f(62, 1), f(63, 2)) // 24 + 78 + 79 = 181 bytes
	add(BrokenCase{Case: 6, Name: "p05", Packets: 2, Truncated: true, Want: []string{"capture cut short: record 3 header has 8 of 16 bytes (offset 181)"}},
		"p05.pcap", cat(two, rec(3, 91, 91, f(91, 3))[:8]))
	add(BrokenCase{Case: 7, Name: "p06", Packets: 2, Truncated: true, Want: []string{"cut short in packet 3 (45 of 91 bytes)"}},
		"p06.pcap", cat(two, rec(3, 91, 91, f(91, 3))[:16+45]))
	add(BrokenCase{Case: 10, Name: "p08", Packets: 1, Truncated: true, Want: []string{"record 2 claims 2147483647 captured bytes (limit 262144): file damaged"}},
		"p08.pcap", cat(Pcap(f(62, 1)), rec(2, 0x7fffffff, 60, f(60, 2))))
	add(BrokenCase{Case: 10, Name: "p09", Packets: 1, Truncated: true, Want: []string{"record 2 claims 4294967295 captured bytes (limit 262144): file damaged"}},
		"p09.pcap", cat(Pcap(f(62, 1)), rec(2, 0xffffffff, 60, f(60, 2))))
	big := Noise(300000, 10)
	add(BrokenCase{Case: 11, Name: "p10", Packets: 1, Truncated: true, Want: []string{"record 2 claims 300000 captured bytes (limit 262144): file damaged"}},
		"p10.pcap", cat(Pcap(f(62, 1)), rec(2, 300000, 300000, big)))
	p25 := Pcap(three...)
	p25 = cat(p25, rec(4, 0x7fffffff, 60, f(60, 4)))
	p25 = cat(p25, Pcap(three...)[24:])
	add(BrokenCase{Case: 12, Name: "p25", Packets: 3, Truncated: true, Want: []string{"record 4 claims 2147483647 captured bytes"}}, "p25.pcap", p25)

	// #13–#17: odd but valid records.
	add(BrokenCase{Case: 13, Name: "p07", Packets: 3, Want: []string{"captured length 100 > snapshot length 64"}}, "p07.pcap",
		pcapWith(64, 1, rec(1, 100, 100, f(100, 1)), rec(2, 100, 100, f(100, 2)), rec(3, 100, 100, f(100, 3))))
	add(BrokenCase{Case: 14, Name: "p24", Packets: 3}, "p24.pcap",
		pcapWith(0, 1, rec(1, 60, 60, f(60, 1)), rec(2, 1500, 1500, f(1500, 2)), rec(3, 60, 60, f(60, 3))))
	add(BrokenCase{Case: 15, Name: "p11", Packets: 3, Want: []string{"record 2: captured length 54 > wire length 20"}}, "p11.pcap",
		pcapWith(65535, 1, rec(1, 60, 60, f(60, 1)), rec(2, 54, 20, f(54, 2)), rec(3, 60, 60, f(60, 3))))
	add(BrokenCase{Case: 16, Name: "p12", Packets: 3}, "p12.pcap",
		pcapWith(65535, 1, rec(1, 60, 60, f(60, 1)), rec(2, 0, 0, nil), rec(3, 60, 60, f(60, 3))))
	add(BrokenCase{Case: 17, Name: "p29", Packets: 3, Truncated: true, Want: []string{"7 trailing bytes after last record"}},
		"p29.pcap", cat(good, []byte("garbage")))

	// #18–#22: other pcap flavours give the same packets.
	add(BrokenCase{Case: 18, Name: "p13", Packets: 3, SameAs: "good"}, "p13.pcap", pcapVariant(le, MagicNano, 4, false))
	add(BrokenCase{Case: 18, Name: "p14", Packets: 3, SameAs: "good"}, "p14.pcap", pcapVariant(be, MagicMicro, 4, false))
	add(BrokenCase{Case: 18, Name: "p15", Packets: 3, SameAs: "good"}, "p15.pcap", pcapVariant(be, MagicNano, 4, false))
	add(BrokenCase{Case: 19, Name: "p16", Packets: 3, SameAs: "good"}, "p16.pcap.gz", gz(good))
	add(BrokenCase{Case: 19, Name: "n14", Packets: 3, SameAs: "n-good"}, "n14.pcapng.gz", gz(Pcapng(three...)))
	add(BrokenCase{Case: 0, Name: "n-good", Packets: 3}, "n-good.pcapng", Pcapng(three...))
	var many [][]byte
	for i := range 200 {
		many = append(many, cat(f(42, byte(i)), Noise(100, uint32(i))))
	}
	z := gz(Pcap(many...))
	add(BrokenCase{Case: 20, Name: "p17", Packets: -1, Truncated: true, Want: []string{"compressed stream ends early"}}, "p17.pcap.gz", z[:len(z)*6/10])
	add(BrokenCase{Case: 21, Name: "p18", Packets: 3}, "p18.pcap", pcapVariant(le, MagicMicro, 2, true))
	add(BrokenCase{Case: 21, Name: "p18v20", Packets: 3, SameAs: "good"}, "p18v20.pcap", pcapVariant(le, MagicMicro, 0, false))
	add(BrokenCase{Case: 22, Name: "p19", Packets: 3, SameAs: "good"}, "p19.pcap", pcapVariant(le, MagicKuznetsov, 4, false))

	// #23–#24: link types are the decoder's business; reading counts them.
	add(BrokenCase{Case: 23, Name: "p20", Packets: 3}, "p20.pcap", pcapWith(65535, 65000, rec(1, 60, 60, f(60, 1)), rec(2, 60, 60, f(60, 2)), rec(3, 60, 60, f(60, 3))))
	add(BrokenCase{Case: 24, Name: "p21", Packets: 2}, "p21.pcap", pcapWith(65535, 101, rec(1, 46, 46, f(60, 1)[14:]), rec(2, 46, 46, f(60, 2)[14:])))
	sll := func(fr []byte) []byte { return cat([]byte{0, 0, 0, 1, 0, 6, 0, 1, 2, 3, 4, 5, 0, 0, 8, 0}, fr[14:]) }
	add(BrokenCase{Case: 24, Name: "p22", Packets: 2}, "p22.pcap", pcapWith(65535, 113, rec(1, 62, 62, sll(f(60, 1))), rec(2, 62, 62, sll(f(60, 2)))))

	// #25–#27: valid pcapng structure.
	null := func(fr []byte) []byte { return cat([]byte{2, 0, 0, 0}, fr[14:]) }
	add(BrokenCase{Case: 25, Name: "n16", Packets: 3}, "n16.pcapng", cat(SHB(le, 1, 0), IDB(le, 1, 0), IDB(le, 0, 0),
		EPB(le, 0, 1, 60, f(60, 1)), EPB(le, 1, 2, 50, null(f(60, 2))), EPB(le, 0, 3, 60, f(60, 3))))
	add(BrokenCase{Case: 26, Name: "n02", Packets: 4}, "n02.pcapng", cat(
		SHB(le, 1, 0), IDB(le, 1, 0), EPB(le, 0, 1, 60, f(60, 1)), EPB(le, 0, 2, 60, f(60, 2)),
		SHB(be, 1, 0), IDB(be, 0, 0), IDB(be, 1, 0), EPB(be, 1, 3, 60, f(60, 3)), EPB(be, 0, 4, 50, null(f(60, 4)))))
	nrb := Block(le, 4, cat([]byte{1, 0, 12, 0, 10, 0, 0, 1}, []byte("host\x00\x00\x00\x00"), EndOpt()))
	add(BrokenCase{Case: 27, Name: "n01", Packets: 2}, "n01.pcapng", cat(SHB(le, 1, 0), IDB(le, 1, 0), nrb,
		EPB(le, 0, 1, 60, f(60, 1)), Block(le, 5, make([]byte, 12)), Block(le, 10, make([]byte, 16)),
		Block(le, 0x12345678, []byte("unknown")), Block(le, 0x80000001, []byte("local use")),
		Block(le, 0x00000bad, []byte{0, 0, 0x7e, 0x8b, 'c', 'b'}), Block(le, 0x40000bad, []byte{0, 0, 0x7e, 0x8b}),
		EPB(le, 0, 2, 60, f(60, 2))))

	// #8, #9, #28–#34: damaged pcapng.
	head := cat(SHB(le, 1, 0), IDB(le, 1, 0)) // 28 + 20 bytes
	one := cat(head, EPB(le, 0, 1, 60, f(60, 1)))
	twoNg := cat(one, EPB(le, 0, 2, 60, f(60, 2)))
	epb3 := EPB(le, 0, 3, 60, f(60, 3))
	add(BrokenCase{Case: 8, Name: "n03", Packets: 2, Truncated: true, Want: []string{fmt.Sprintf("cut short inside block at offset %d", len(twoNg))}},
		"n03.pcapng", cat(twoNg, epb3[:50]))
	add(BrokenCase{Case: 9, Name: "n17", Unusable: true, Want: []string{"pcapng section header truncated"}}, "n17.pcapng", SHB(le, 1, 0)[:10])
	add(BrokenCase{Case: 28, Name: "n06", Packets: 1, Truncated: true, Want: []string{fmt.Sprintf("block at offset %d: packet refers to interface 5, section has 1", len(one))}},
		"n06.pcapng", cat(one, EPB(le, 5, 2, 60, f(60, 2))))
	add(BrokenCase{Case: 29, Name: "n07", Unusable: true, Want: []string{"packet block before any interface description"}},
		"n07.pcapng", cat(SHB(le, 1, 0), EPB(le, 0, 1, 60, f(60, 1))))
	for _, d := range []struct {
		name string
		n    uint32
	}{{"n19", 0}, {"n04", 4}, {"n05", 30}} {
		add(BrokenCase{Case: 30, Name: d.name, Packets: 1, Truncated: true, Want: []string{fmt.Sprintf("damaged block at offset %d (length %d)", len(one), d.n)}},
			d.name+".pcapng", cat(one, BlockLens(le, 6, d.n, d.n, make([]byte, 40)), epb3))
	}
	add(BrokenCase{Case: 31, Name: "n08", Packets: 1, Truncated: true, Want: []string{"block too short for 200 bytes of packet data"}},
		"n08.pcapng", cat(one, EPBLen(le, 0, 2, 200, 200, f(60, 2)), epb3))
	add(BrokenCase{Case: 31, Name: "n18", Packets: 1, Truncated: true, Want: []string{"block too short for 500 bytes of packet data"}},
		"n18.pcapng", cat(one, SPB(le, 500, f(60, 2)), epb3))
	add(BrokenCase{Case: 31, Name: "n15", Packets: 1, Truncated: true, Want: []string{"block too short for 2147483647 bytes of packet data"}},
		"n15.pcapng", cat(one, EPBLen(le, 0, 2, 0x7fffffff, 60, f(60, 2)), epb3))
	e104 := EPB(le, 0, 2, 72, f(72, 2)) // 32 + 72 = 104 bytes
	le.PutUint32(e104[len(e104)-4:], 204)
	add(BrokenCase{Case: 32, Name: "n13", Packets: 1, Truncated: true, Want: []string{fmt.Sprintf("damaged block at offset %d (lengths 104/204)", len(one))}},
		"n13.pcapng", cat(one, e104, epb3))
	add(BrokenCase{Case: 33, Name: "n11", Unusable: true, Want: []string{"unsupported pcapng version 2.0"}},
		"n11.pcapng", cat(SHB(le, 2, 0), IDB(le, 1, 0), EPB(le, 0, 1, 60, f(60, 1))))
	n12 := cat(SHB(le, 1, 0), IDB(le, 1, 0), EPB(le, 0, 1, 60, f(60, 1)))
	copy(n12[8:], []byte{1, 2, 3, 4})
	add(BrokenCase{Case: 33, Name: "n12", Unusable: true, Want: []string{"not a pcapng file"}}, "n12.pcapng", n12)
	badOpt := IDB(le, 1, 0, Opt(le, 2, []byte("eth0")))
	le.PutUint16(badOpt[18:], 200) // option 2 (if_name) claims 200 bytes in a 32-byte block
	add(BrokenCase{Case: 33, Name: "n10", Unusable: true, Want: []string{"damaged IDB option"}},
		"n10.pcapng", cat(SHB(le, 1, 0), badOpt, EPB(le, 0, 1, 60, f(60, 1))))
	add(BrokenCase{Case: 34, Name: "n09", Unusable: true, Want: []string{"unsupported timestamp resolution 2^-127"}},
		"n09.pcapng", cat(SHB(le, 1, 0), IDB(le, 1, 0, Opt(le, 9, []byte{0xff}), EndOpt()), EPB(le, 0, 1, 60, f(60, 1))))

	// #35, #37–#39.
	add(BrokenCase{Case: 35, Name: "p28", Packets: 3}, "p28.pcap",
		pcapWith(64, 1, rec(1, 64, 100, f(100, 1)[:64]), rec(2, 60, 60, f(60, 2)), rec(3, 64, 1514, f(1514, 3)[:64])))
	add(BrokenCase{Case: 37, Name: "n-spb", Packets: 3}, "n-spb.pcapng", cat(head, SPB(le, 60, f(60, 1)), EPB(le, 0, 2, 60, f(60, 2)), SPB(le, 60, f(60, 3))))
	add(BrokenCase{Case: 38, Name: "n20", Packets: 1}, "n20.pcapng", cat(SHB(be, 1, 0), IDB(be, 1, 0),
		EPB(be, 0, 1, 60, f(60, 1), Opt(be, 2, be.AppendUint32(nil, 1)), Opt(be, 4, be.AppendUint64(nil, 7)), EndOpt())))
	add(BrokenCase{Case: 39, Name: "n21", Packets: 3, SameAs: "n-good"}, "n21.pcap", Pcapng(three...))
	add(BrokenCase{Case: 39, Name: "p39", Packets: 3, SameAs: "good"}, "p39.pcapng", good)

	// #40: files that cannot be opened.
	cases = append(cases, BrokenCase{Case: 40, Name: "missing", Path: filepath.Join(dir, "missing.pcap"), Unusable: true,
		Want: []string{"cannot open", "no such file or directory"}})
	cases = append(cases, BrokenCase{Case: 40, Name: "directory", Path: dir, Unusable: true, Want: []string{"is a directory"}})
	return cases
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}
