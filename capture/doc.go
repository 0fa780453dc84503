// Package capture provides packet sources: capture files (pcap and pcapng,
// optionally gzip-compressed, merged in timestamp order) read by a record
// layer of our own that accepts what libpcap and Wireshark accept.
//
// Open chooses the format by magic bytes, never by name, and looks through
// gzip. It reads each file up to its first packet, so an input that cannot
// be used at all (empty, not a capture, damaged file or section header,
// unsupported version, packet before any interface) fails there with an
// error wrapping ErrUnusable (exit code 2). Damage met later (cut short, a
// record or block that cannot be right) ends that file only: the packets
// before it are delivered, FileInfo.Truncated is set and the reason, with
// the offset and the packets kept, is one line of FileInfo.Warnings. There is
// no resynchronisation: nothing after the damage is invented.
//
// Reading follows the trusted tools:
//   - classic pcap: µs and ns magics in both byte orders, the Kuznetsov
//     variant, versions 2.0–2.4 (caplen and len swapped back when caplen >
//     len before 2.4, as libpcap does), snaplen 0 = unlimited, caplen >
//     snaplen and caplen > len accepted with a warning;
//   - pcapng: several sections with their own byte order and interfaces,
//     per-interface link type, snaplen, if_tsresol (decimal up to 10^-19,
//     binary up to 2^-63) and if_tsoffset; EPB, SPB (no timestamp: zero
//     Timestamp, interface 0, captured length min(len, snaplen) as
//     Wireshark computes it) and the obsolete Packet Block; epb_flags and
//     epb_dropcount in the section's byte order; every other block skipped;
//     both block lengths checked.
//
// Limits: a record claiming more than MaxPacket (262144) captured bytes is
// damage, as in libpcap and Wireshark, even when the bytes are present.
// Nothing is allocated from a length before the bytes exist; memory per file
// is a 64 KiB read buffer (two with gzip) plus a spill buffer only as large
// as the largest record over 64 KiB.
//
// Merging: several files are merged like mergecap, by a heap on each file's
// next packet; ties go to the earlier file, and a packet without timestamp
// keeps the last timestamp of its file so it stays in place. Frame numbers
// are 1-based in the merged stream, so a single file gets Wireshark's.
// FileInfo.Packets counts the records read, including the one packet per
// file read ahead for the merge.
//
// Buffer ownership: Packet.Data belongs to the Source and is reused by the
// next call to Next (it points into the file's read buffer: no copy). Next
// does not allocate in the steady state. Packet.Length is the wire length
// as recorded, so it can be below len(Data) when a writer recorded
// caplen > len (a warning says so).
//
// Concurrency: a Source is not safe for concurrent use; Progress may be
// called between calls to Next.
package capture
