// Package capture provides packet sources: capture files (pcap and pcapng,
// optionally gzip-compressed, merged in timestamp order) read by a record
// layer of our own that accepts what libpcap and Wireshark accept.
//
// Buffer ownership: Packet.Data belongs to the Source and is reused by the
// next call to Next. Concurrency: a Source is not safe for concurrent use.
package capture
