package capture

import (
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Packet is one captured record. Data is owned by the Source and is valid
// only until the next call to Next: copy what must outlive it.
type Packet struct {
	Data      []byte          // captured bytes (may be shorter than Length)
	Timestamp time.Time       // zero when the record carries none (pcapng SPB)
	Length    int             // original length on the wire
	LinkType  layers.LinkType // link type of the interface the packet came from
	Frame     int64           // 1-based frame number in the (merged) stream, as Wireshark counts
	File      int             // index into Info().Files
	Interface int             // pcapng interface id within its section (0 for pcap)
	Flags     uint32          // pcapng epb_flags (direction in bits 0-1), 0 when absent
	DropCount uint64          // pcapng epb_dropcount, 0 when absent
}

// Source delivers packets in timestamp order (merged when several files).
//
// Next returns io.EOF when every input is exhausted. Damage inside a file
// (cut short, bad record) ends that file only: the reason is recorded in
// Info().Files[i].Warnings with Truncated set, and Next goes on with the
// other inputs, so what was read before the damage is still analyzed.
type Source interface {
	Next() (*Packet, error)
	Info() *Info
	Close() error
}

// Info describes the inputs of a Source. It is updated while reading; read
// it after Next returned io.EOF for final figures.
type Info struct {
	Files []FileInfo
}

// FileInfo describes one input file.
type FileInfo struct {
	Name       string            // as given on the command line ("-" for stdin)
	Format     string            // "pcap", "pcapng"
	Compressed bool              // gzip detected by magic
	Size       int64             // bytes on disk (compressed size), -1 when unknown (stdin)
	Offset     int64             // bytes consumed so far (compressed stream position), for progress
	LinkTypes  []layers.LinkType // distinct link types of its interfaces, in first-seen order
	Packets    int64             // packet records read
	Truncated  bool              // file ended by damage or cut short
	Warnings   []string          // one line each, naming the file and offset
}
