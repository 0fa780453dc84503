package analyze

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/capture"
)

// Run reads src to the end (or until ctx is done), then finishes. With more
// than one worker (Options.Workers, default GOMAXPROCS) one goroutine reads
// and the packets are sharded by a symmetric flow hash across workers, each
// with its own decoder and flow table; the shards are merged before the
// detectors run, so the report does not depend on the worker count.
func Run(ctx context.Context, src capture.Source, opts Options) (*Report, error) {
	n := opts.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if n == 1 {
		return runSingle(ctx, src, opts)
	}
	return runSharded(ctx, src, opts, n)
}

func runSingle(ctx context.Context, src capture.Source, opts Options) (*Report, error) {
	a := New(opts)
	stopped, err := readAll(ctx, src, a.Add)
	if err != nil {
		a.addNote(0, "read", err.Error())
	}
	a.freezeAll() // as a worker does: Finish would freeze with no parsers to reuse
	return a.finishRun(src, stopped), nil
}

// readAll feeds every packet to add; it reports whether ctx stopped it.
func readAll(ctx context.Context, src capture.Source, add func(*capture.Packet)) (bool, error) {
	for i := 0; ; i++ {
		if i&1023 == 0 && ctx.Err() != nil {
			return true, nil
		}
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		add(p)
	}
}

func (a *Analyzer) finishRun(src capture.Source, stopped bool) *Report {
	rep := a.Finish(src.Info())
	if stopped {
		rep.Capture.Truncated = true
		rep.Capture.Warnings = append(rep.Capture.Warnings, fmt.Sprintf("interrupted: reported on the %d packets read", a.packets))
	}
	return rep
}

// batch carries packets from the reader to a worker: their bytes in buf,
// which the reader filled, and a compact record each (half a
// capture.Packet: the reader writes millions of them).
type batch struct {
	buf  []byte
	recs []batchRec
	hash []uint64 // flowHash of each packet, for warm
}

type batchRec struct {
	ts       int64 // unix ns, when hasTS
	frame    int64
	drops    uint64
	off, n   uint32 // the bytes: buf[off:off+n]
	length   uint32
	linkType layers.LinkType
	hasTS    bool
	// dnsOnly marks a copy of another shard's DNS packet: only its answers
	// are read, so every shard can name the flows it finishes.
	dnsOnly bool
}

// warm touches the first bytes of packets [from, to): the reader wrote them
// on another core, so each is a cache miss; touched together, they overlap.
// The sum keeps the loads from being optimised away.
func (b *batch) warm(from, to int) (sink byte) {
	for i := from; i < to; i++ {
		r := &b.recs[i]
		if r.n > 0 { // an empty packet last in a batch has no byte to touch
			sink += b.buf[r.off]
		}
		if r.n > 64 {
			sink += b.buf[r.off+64]
		}
	}
	return sink
}

// packet rebuilds record i for the analyzer.
func (b *batch) packet(i int, p *capture.Packet) {
	r := &b.recs[i]
	*p = capture.Packet{Data: b.buf[r.off : r.off+r.n : r.off+r.n], Length: int(r.length), LinkType: r.linkType,
		Frame: r.frame, DropCount: r.drops}
	if r.hasTS {
		p.Timestamp = time.Unix(0, r.ts)
	}
}

const (
	batchPackets = 2048
	batchBytes   = 1 << 20
	batchesPer   = 4 // per worker: bounds memory in flight
)

// A batch holds any packet the readers return: this fails to compile if
// capture.MaxPacket ever outgrows batchBytes.
const _ = uint(batchBytes - capture.MaxPacket)

func runSharded(ctx context.Context, src capture.Source, opts Options, n int) (*Report, error) {
	opts = opts.WithDefaults()
	shards := make([]*Analyzer, n)
	work := make([]chan *batch, n)
	free := make([]chan *batch, n)
	cur := make([]*batch, n)
	var wg sync.WaitGroup
	// Folding starts on the capture's flow count, and new flows go
	// untracked when the whole table is full, not a shard's share: the
	// counters are shared.
	created, held := new(atomic.Int64), new(atomic.Int64)
	for i := range shards {
		shards[i] = New(opts)
		shards[i].created, shards[i].held = created, held
		shards[i].foldAt, shards[i].maxHeld = int64(foldFrom(opts.MaxFlows)), int64(opts.MaxFlows)
		work[i] = make(chan *batch, batchesPer)
		free[i] = make(chan *batch, batchesPer)
		for j := 0; j < batchesPer; j++ {
			free[i] <- &batch{buf: make([]byte, 0, batchBytes), recs: make([]batchRec, 0, batchPackets), hash: make([]uint64, 0, batchPackets)}
		}
		cur[i] = <-free[i]
		wg.Add(1)
		go func(a *Analyzer, in <-chan *batch, out chan<- *batch) {
			defer wg.Done()
			var p capture.Packet
			for b := range in {
				for k := 0; k < len(b.recs); k += warmGroup {
					end := min(k+warmGroup, len(b.recs))
					a.warm(b.hash[k:end])
					a.sink += uint64(b.warm(k, end))
					for i := k; i < end; i++ {
						b.packet(i, &p)
						if b.recs[i].dnsOnly {
							a.observeDNS(&p)
						} else {
							a.Add(&p)
						}
					}
				}
				b.buf, b.recs, b.hash = b.buf[:0], b.recs[:0], b.hash[:0]
				out <- b
			}
			a.freezeAll() // in parallel, before the serial Finish
		}(shards[i], work[i], free[i])
	}
	put := func(w int, p *capture.Packet, h uint64, dnsOnly bool) {
		b := cur[w]
		if len(b.recs) == cap(b.recs) || len(b.buf)+len(p.Data) > cap(b.buf) {
			work[w] <- b
			b = <-free[w]
			cur[w] = b
		}
		r := batchRec{frame: p.Frame, drops: p.DropCount, off: uint32(len(b.buf)), n: uint32(len(p.Data)),
			length: uint32(p.Length), linkType: p.LinkType, dnsOnly: dnsOnly}
		if !p.Timestamp.IsZero() {
			r.ts, r.hasTS = p.Timestamp.UnixNano(), true
		}
		b.buf = append(b.buf, p.Data...)
		b.recs = append(b.recs, r)
		b.hash = append(b.hash, h)
	}
	stopped, err := readAll(ctx, src, func(p *capture.Packet) {
		h, dns := flowHash(p.LinkType, p.Data)
		w := shardOf(h, n)
		put(w, p, h, false)
		if dns {
			for i := range n {
				if i != w {
					put(i, p, h, true)
				}
			}
		}
	})
	for i := range work {
		if len(cur[i].recs) > 0 {
			work[i] <- cur[i]
		}
		close(work[i])
	}
	wg.Wait()
	// The batches (4 MiB a worker) are not needed to finish: let the
	// collector have them before the report is built.
	for i := range free {
		cur[i] = nil
		for len(free[i]) > 0 {
			<-free[i]
		}
	}
	a := mergeShards(shards)
	if err != nil {
		a.addNote(0, "read", err.Error())
	}
	return a.finishRun(src, stopped), nil
}

// warmGroup is how many packets warm prepares at once: enough misses to
// overlap, few enough that the touching loops fit the CPU's reorder window.
const warmGroup = 8

// warm touches the index slots, then the flow records, that the next
// packets (by their reader hashes) will look up. A gateway's flows far
// outnumber what the caches hold, so each lookup would otherwise wait for
// two memory loads in turn; touched together in tight loops, a group's
// loads overlap. It changes nothing: a wrong guess only costs the touch.
func (a *Analyzer) warm(hashes []uint64) {
	x := a.index
	var sink uint64
	for _, h := range hashes {
		sink += x.slots[(h|hashUsed)&x.mask].h
	}
	for _, h := range hashes {
		if s, ok := x.slotOf(h); ok {
			f := a.flows.get(s.idx)
			sink += uint64(f.Key.PA) + uint64(f.Dir[0].Packets) + uint64(f.Dir[1].Packets)
			if r := f.pl.rtpS; r != nil {
				sink += uint64(r.Warm()) // media: the stream table, a third load
			}
		}
	}
	a.sink += sink
}

// freezeAll finalises every flow's payload facts, the settled flows'
// parsers taken from and given back to the analyzer's pool (Finish would
// otherwise do it serially, through accessors that have no pool).
func (a *Analyzer) freezeAll() {
	a.flows.each(func(f *Flow) { f.pl.freezeInto(&a.parsers) })
}

// mergeShards folds the shards' state into the first one; their flow
// stores are referenced, not copied. Flows are
// disjoint across shards (the hash is per flow); counters add up; notes keep
// the earliest frame per reason, so output is the same for any worker count.
func mergeShards(shards []*Analyzer) *Analyzer {
	a := shards[0]
	for _, s := range shards[1:] {
		a.packets += s.packets
		a.bytes += s.bytes
		if s.start != 0 && (a.start == 0 || s.start < a.start) {
			a.start = s.start
		}
		if s.end > a.end {
			a.end = s.end
		}
		for i, lt := range s.linkTypes {
			a.noteLinkTypeAt(lt, s.linkFirst[i])
		}
		for lt, c := range s.unknownLink {
			a.unknownLink[lt] += c
		}
		for k, v := range s.problems {
			a.problems[k] += v
		}
		a.decodeErrors += s.decodeErrors
		a.snapTruncated += s.snapTruncated
		a.fragments += s.fragments
		a.internalErrs += s.internalErrs
		a.evicted += s.evicted
		a.flowsFolded += s.flowsFolded
		a.drops += s.drops
		if s.dropFrame != 0 && (a.dropFrame == 0 || s.dropFrame < a.dropFrame) {
			a.dropFrame = s.dropFrame
		}
		for _, nt := range s.notes {
			a.addNote(nt.frame, nt.key, nt.text)
		}
		a.merged = append(a.merged, &s.flows) // flows stay where they are: no copy
		a.icmpOrphans = append(a.icmpOrphans, s.icmpOrphans...)
		// s.dns is the same table as shard 0's (see dnsPacket): not merged.
	}
	sort.SliceStable(a.icmpOrphans, func(i, j int) bool { return a.icmpOrphans[i].hit.frame < a.icmpOrphans[j].hit.frame })
	// Nothing below is needed to finish; dropped before the report is
	// built, it is memory the collector need not keep or scan: the indexes,
	// spare parsers, fold maps, the decoders (their layers point into the
	// last batch read, a megabyte each) and the other shards' copies of
	// the DNS names (shard 0's table is the same).
	for i, s := range shards {
		s.index, s.parsers, s.folds = nil, parsers{}, nil
		s.dec, s.res = nil, decodeResult{}
		if i > 0 {
			s.dns = dnsState{}
		}
	}
	return a
}

// flowHash is the symmetric hash of a packet's 5-tuple (of the quoted
// datagram for ICMP errors), read straight from the bytes so the reader
// goroutine need not decode. Both directions of a flow hash alike, and for
// TCP and UDP it equals the flow index's hashKey, so a worker can warm the
// slot and flow a packet needs before it decodes it. dns marks a TCP or UDP
// packet to or from port 53, which every shard reads (observeDNS).
func flowHash(lt layers.LinkType, b []byte) (h uint64, dns bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return 0, false
		}
		et := binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		for i := 0; i < 8 && (et == 0x8100 || et == 0x88a8 || et == 0x9100); i++ {
			if len(b) < 4 {
				return 0, false
			}
			et = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		}
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return 0, false
		}
		b = b[16:]
	case layers.LinkTypeLinuxSLL2:
		if len(b) < 20 {
			return 0, false
		}
		b = b[20:]
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(b) < 4 {
			return 0, false
		}
		b = b[4:]
	case layers.LinkTypePPP:
		if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
			b = b[2:]
		}
		if len(b) < 2 {
			return 0, false
		}
		b = b[2:]
	}
	return ipHash(b, 0)
}

func ipHash(b []byte, depth int) (uint64, bool) {
	if len(b) < 20 || depth > 3 {
		return 0, false
	}
	var src, dst []byte
	var proto uint8
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return 0, false
		}
		src, dst, proto = b[12:16], b[16:20], b[9]
		if binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
			return tupleHash(src, dst, proto, 0, 0), false // non-first fragment: no ports
		}
		l4 = b[ihl:]
	case 6:
		if len(b) < 40 {
			return 0, false
		}
		src, dst, proto = b[8:24], b[24:40], b[6]
		l4 = b[40:]
		for i := 0; i < 8 && (proto == 0 || proto == 43 || proto == 60 || proto == 44); i++ {
			if len(l4) < 8 {
				return 0, false
			}
			if proto == 44 {
				if binary.BigEndian.Uint16(l4[2:])&0xfff8 != 0 {
					return tupleHash(src, dst, proto, 0, 0), false
				}
				proto, l4 = l4[0], l4[8:]
				continue
			}
			n := (int(l4[1]) + 1) * 8
			if len(l4) < n {
				return 0, false
			}
			proto, l4 = l4[0], l4[n:]
		}
	default:
		return 0, false
	}
	switch proto {
	case protoTCP, protoUDP:
		if len(l4) < 4 {
			return tupleHash(src, dst, proto, 0, 0), false
		}
		sp, dp := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		return tupleHash(src, dst, proto, sp, dp), sp == 53 || dp == 53
	case protoICMP, protoICMPv6:
		// ICMP errors go to the shard of the flow they quote, read with
		// the decoder's own quotedFlow so both agree on which flow it is.
		if len(l4) >= 8 {
			if qs, qd, qp, sp, dp, v6, ok := quotedFlow(l4[8:]); ok && (qp == protoTCP || qp == protoUDP) {
				// Not marked DNS: the other shards read answers, not errors.
				return tupleHash(ipBytes(&qs, v6), ipBytes(&qd, v6), qp, sp, dp), false
			}
		}
	case 4, 41: // IP in IP, IPv6 in IPv4: the decoder keys on the inner header
		return ipHash(l4, depth+1)
	}
	return tupleHash(src, dst, proto, 0, 0), false
}

// tupleHash is the symmetric hash of one 5-tuple; it equals hashKey of the
// flow's key.
func tupleHash(src, dst []byte, proto uint8, sp, dp uint16) uint64 {
	return (addrHash(src, sp) + addrHash(dst, dp) + uint64(proto)*0x9e3779b97f4a7c15) | hashUsed
}

func addrHash(ip []byte, port uint16) uint64 {
	if len(ip) == 4 {
		return endpointHash(uint64(binary.LittleEndian.Uint32(ip)), 0, port)
	}
	return endpointHash(binary.LittleEndian.Uint64(ip), binary.LittleEndian.Uint64(ip[8:]), port)
}

// shardOf picks a packet's worker. DNS flows spread like the others:
// every shard reads every DNS answer anyway (see observeDNS). The high bits
// are used because the index takes its slot from the low ones.
func shardOf(h uint64, n int) int {
	return int((h >> 32) % uint64(n))
}
