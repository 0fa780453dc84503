package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// stamped is a pcap of frames whose payload byte is the seq, at the given
// µs timestamps.
func stamped(order binary.ByteOrder, seqs []byte, us []uint32) []byte {
	b := pcaptest.PcapHeader(order, pcaptest.MagicMicro, 2, 4, 0, 1)
	for i, s := range seqs {
		f := pcaptest.UDPFrame(60, s)
		b = append(b, pcaptest.PcapRecord(order, 1700000000, us[i], 60, 60, f)...)
	}
	return b
}

// TestMerge checks mergecap's order, frame numbers, file indexes and that
// each returned Data is intact while the other files are read ahead.
func TestMerge(t *testing.T) {
	dir := t.TempDir()
	le := binary.LittleEndian
	a := writeFile(t, dir, "a.pcap", stamped(le, []byte{1, 3, 4, 7}, []uint32{10, 30, 40, 70}))
	b := writeFile(t, dir, "b.pcap.gz", gz(stamped(binary.BigEndian, []byte{2, 5, 6}, []uint32{20, 50, 60})))
	// c: SPB (no time), EPB at 45 µs, SPB, EPB at 45 µs (a tie with itself).
	o := le
	ng := append(pcaptest.SHB(o, 1, 0), pcaptest.IDB(o, 1, 0)...)
	ng = append(ng, pcaptest.SPB(o, 60, pcaptest.UDPFrame(60, 100))...)
	ng = append(ng, pcaptest.EPB(o, 0, 1700000000*1e6+45, 60, pcaptest.UDPFrame(60, 101))...)
	ng = append(ng, pcaptest.SPB(o, 60, pcaptest.UDPFrame(60, 102))...)
	ng = append(ng, pcaptest.EPB(o, 0, 1700000000*1e6+40, 60, pcaptest.UDPFrame(60, 103))...) // out of order in its file
	c := writeFile(t, dir, "c.pcapng", ng)

	src, err := Open(a, b, c)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// SPB 100 has no time and no earlier packet in c: it sorts first. 102
	// inherits 45 µs from 101; 103 (40 µs) follows within c's own order.
	want := []struct {
		seq  byte
		file int
	}{{100, 2}, {1, 0}, {2, 1}, {3, 0}, {4, 0}, {101, 2}, {102, 2}, {103, 2}, {5, 1}, {6, 1}, {7, 0}}
	for i, w := range want {
		p, err := src.Next()
		if err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
		if got := p.Data[len(p.Data)-1]; got != w.seq || p.File != w.file || p.Frame != int64(i+1) {
			t.Errorf("packet %d: got seq %d file %d frame %d, want seq %d file %d frame %d", i+1, got, p.File, p.Frame, w.seq, w.file, i+1)
		}
		if !bytes.Equal(p.Data, pcaptest.UDPFrame(60, w.seq)) {
			t.Errorf("packet %d: data damaged while merging", i+1)
		}
	}
	if _, err := src.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last packet: got %v, want io.EOF", err)
	}
	if _, err := src.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after io.EOF: got %v, want io.EOF again", err)
	}
	info := src.Info()
	for i, want := range []struct {
		packets int64
		format  string
		gz      bool
	}{{4, "pcap", false}, {3, "pcap", true}, {4, "pcapng", false}} {
		fi := info.Files[i]
		if fi.Packets != want.packets || fi.Format != want.format || fi.Compressed != want.gz || fi.Truncated {
			t.Errorf("file %d: got %d packets %s gz %v truncated %v, want %d %s gz %v", i, fi.Packets, fi.Format, fi.Compressed, fi.Truncated, want.packets, want.format, want.gz)
		}
	}
	done, total := Progress(src)
	if want := info.Files[0].Size + info.Files[1].Size + info.Files[2].Size; done != want || total != want {
		t.Errorf("Progress at the end: got %d/%d, want %d/%d", done, total, want, want)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := src.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("Next after Close: got %v, want an error", err)
	}
}

// TestMergeDamage: damage in one file ends that file only.
func TestMergeDamage(t *testing.T) {
	dir := t.TempDir()
	le := binary.LittleEndian
	good := stamped(le, []byte{1, 3, 5}, []uint32{10, 30, 50})
	bad := stamped(le, []byte{2, 4, 6}, []uint32{20, 40, 60})
	a := writeFile(t, dir, "a.pcap", good)
	b := writeFile(t, dir, "b.pcap", bad[:len(bad)-30]) // third packet cut short
	got, info, err := readAll(t, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || info.Files[0].Truncated || !info.Files[1].Truncated || info.Files[1].Packets != 2 {
		t.Errorf("got %d packets, truncated %v/%v, want 5 and false/true with 2 from b", len(got), info.Files[0].Truncated, info.Files[1].Truncated)
	}
}

func gz(b []byte) []byte {
	var w bytes.Buffer
	z := gzip.NewWriter(&w)
	z.Write(b)
	z.Close()
	return w.Bytes()
}

// TestProgress: Offset grows while reading, for a progress bar.
func TestProgress(t *testing.T) {
	dir := t.TempDir()
	var frames [][]byte
	for i := range 2000 {
		frames = append(frames, append(pcaptest.UDPFrame(42, byte(i)), pcaptest.Noise(958, uint32(i))...)) // incompressible
	}
	data := pcaptest.Pcap(frames...)
	for _, tt := range []struct {
		name string
		data []byte
	}{{"plain.pcap", data}, {"packed.pcap.gz", gz(data)}} {
		t.Run(tt.name, func(t *testing.T) {
			src, err := Open(writeFile(t, dir, tt.name, tt.data))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var last int64
			moved := 0
			for {
				_, err := src.Next()
				if err != nil {
					break
				}
				done, total := Progress(src)
				if done < last || done > total || total != int64(len(tt.data)) {
					t.Fatalf("Progress: got %d/%d after %d, want growing up to %d", done, total, last, len(tt.data))
				}
				if done > last {
					moved++
				}
				last = done
			}
			if done, total := Progress(src); done != total || moved < 2 {
				t.Errorf("Progress at the end: got %d/%d after %d moves, want done == total and several moves", done, total, moved)
			}
		})
	}
}

// TestProgressConcurrent: a progress bar may poll Progress from its own
// goroutine while Next runs (go test -race checks it).
func TestProgressConcurrent(t *testing.T) {
	path := writeFile(t, t.TempDir(), "a.pcap", pcaptest.Pcap(mixedFrames(5000)...))
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	stop := make(chan struct{})
	polled := make(chan int64)
	go func() {
		var last int64
		for {
			select {
			case <-stop:
				polled <- last
				return
			default:
				d, _ := Progress(src)
				if d < last {
					t.Errorf("Progress went back from %d to %d", last, d)
				}
				last = d
			}
		}
	}()
	for {
		if _, err := src.Next(); err != nil {
			break
		}
	}
	close(stop)
	<-polled
	if d, total := Progress(src); d != total {
		t.Errorf("Progress at the end: got %d/%d, want done == total", d, total)
	}
}
