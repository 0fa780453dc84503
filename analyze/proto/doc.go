// Package proto holds the payload parsers and small per-flow trackers that
// sfbtrace's flow table calls for every packet of a Skype for Business /
// Teams diagnosis:
//
//   - Classify: RFC 7983 first-byte demultiplexing (STUN, TURN ChannelData,
//     DTLS, RTP, RTCP, TLS) plus Microsoft's multiplexed TURN (0xFF10), which
//     the RFC ranges cannot see.
//   - ParseSTUN, STUNStream, STUNStats: STUN/TURN (RFC 5389/8489/8656),
//     classic RFC 3489 and MS-TURN as Teams relays really send it (no header
//     cookie on Data Indications, unpadded attributes, lengths such as 133 or
//     167), over UDP and over TCP (plain, RFC 4571 and MS-TURN framing).
//   - TLSConn: bounded per-connection reassembly of the first 16 KiB of each
//     direction, ClientHello (SNI, ALPN, versions), ServerHello, alerts, the
//     TLS 1.2 server certificate, and SfB pseudo-TLS.
//   - ParseRTP, IsRTCP, RTPStats: RTP/RTCP (RFC 3550/5761) per SSRC: loss,
//     reordering, jitter (RFC 3550 A.1, A.3, A.8) and worst 15 s window.
//   - ParseDNS, DNSTable: which name each address was looked up as, and
//     which lookups failed or went unanswered.
//   - ParseSIP: start line, Call-ID, From/To hosts and CSeq of SIP.
//
// # Buffer ownership
//
// Parsers never copy: slices in their results (STUNMessage.Username,
// STUNMessage.Data, SIPMessage.CallID, ...) alias the input and are valid
// only as long as the caller's buffer (for capture.Packet, until the next
// packet is read). Trackers copy what they keep: strings such as the SNI or
// an ICE ufrag are allocated once, when first seen; STUNStream and TLSConn
// keep bounded copies of partial messages.
//
// # Allocation and bounds
//
// The per-packet paths (Classify, ParseSTUN, ParseRTP, ParseDNS, ParseSIP,
// ParseClientHello, STUNStats.Observe, RTPStats.Observe, DNSTable.Observe for
// known names, TLSConn.Observe once the handshake is parsed) do not
// allocate; tests prove it with testing.AllocsPerRun. Every tracker is
// bounded (transactions, SSRCs, names, reassembly bytes) and counts what it
// had to drop. No input can make them panic; each parser has a fuzz target.
//
// # Concurrency
//
// Parsers are pure functions and safe for concurrent use. Trackers
// (STUNStats, STUNStream, TLSConn, RTPStats, DNSTable) are not: each belongs
// to one flow (DNSTable to one analysis) and is driven by one goroutine, as
// the flow table shards flows by hash.
package proto
