package capture

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
)

type format int

const (
	formatPcap format = iota + 1
	formatPcapng
)

// fileReader is the record layer of one input file. It reads through a
// bufio.Reader and hands out Packet.Data as a slice of that buffer (peek then
// consume), or of its spill buffer for records larger than the buffer, so the
// steady state does not allocate; the slice stays valid until this file is
// read again.
type fileReader struct {
	idx    int
	name   string // for messages ("stdin" for "-")
	info   *FileInfo
	closer io.Closer
	cnt    *countReader
	gz     *gzip.Reader
	br     *bufio.Reader
	format format
	spill  []byte // holds a record larger than br's buffer (bounded by maxBlock)
	// spilled: the last peek was served from spill and already consumed.
	spilled bool

	pos  int64 // offset of the next unread byte in the (uncompressed) stream
	pkt  Packet
	has  bool // pkt holds a packet not yet returned by Next
	eof  bool // the file is finished (end, damage or closed)
	done *atomic.Int64

	// Merge key of pkt: its timestamp, or the last one seen in this file for
	// a packet without timestamp, so such packets keep their place.
	keySec  int64
	keyNsec int64

	// classic pcap
	be       bool // byte order of the file or current pcapng section
	nanos    bool
	hdrLen   int // record header length: 16, or 24 for Kuznetsov
	swapLens bool
	snaplen  uint32
	linkType layers.LinkType

	// pcapng
	ifaces []iface

	// warnings already given (to give each at most once)
	warnedSnap bool
	lenOver    int64 // records with captured length > wire length
}

// readError is damage or an unusable header met while reading. unusable
// ones are fatal when met before the first packet of a file.
type readError struct {
	msg      string
	unusable bool
}

func (e *readError) Error() string { return e.msg }

// fail reports damage that ends the file.
func (fr *fileReader) fail(format string, args ...any) error {
	return &readError{msg: fr.name + ": " + fmt.Sprintf(format, args...)}
}

// bad reports a problem that makes the file unusable when nothing was read.
func (fr *fileReader) bad(format string, args ...any) error {
	return &readError{msg: fr.name + ": " + fmt.Sprintf(format, args...), unusable: true}
}

// short words a read that got fewer bytes than needed: what describes the
// shortfall ("record 3 header has 8 of 16 bytes (offset 181)").
func (fr *fileReader) short(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	switch {
	case err == io.EOF:
		return fr.fail("%s", what)
	case err == io.ErrUnexpectedEOF && fr.gz != nil:
		return fr.fail("compressed stream ends early: %s", what)
	}
	return fr.fail("read error: %s: %s", oneLine(err.Error()), what)
}

// warn adds a note that does not end the file.
func (fr *fileReader) warn(format string, args ...any) {
	fr.info.Warnings = append(fr.info.Warnings, fr.name+": "+fmt.Sprintf(format, args...))
}

// read reads the next packet into fr.pkt: nil, io.EOF at a clean end, or a
// *readError.
func (fr *fileReader) read() error {
	if fr.format == formatPcap {
		return fr.nextPcap()
	}
	return fr.nextPcapng()
}

// prime reads the first packet; an unusable error before it is fatal.
func (fr *fileReader) prime() error {
	err := fr.read()
	if re, ok := err.(*readError); ok && re.unusable && fr.info.Packets == 0 {
		return &unusableError{msg: re.msg}
	}
	fr.settle(err)
	return nil
}

// advance reads the next packet; false when the file is done.
func (fr *fileReader) advance() bool {
	if fr.eof {
		fr.has = false
		return false
	}
	fr.settle(fr.read())
	return fr.has
}

// settle records the outcome of read in info.
func (fr *fileReader) settle(err error) {
	if err == nil {
		fr.has = true
		fr.info.Packets++
		if fr.info.Packets&255 == 0 {
			fr.setOffset() // an atomic add per packet shows in profiles; progress needs far less
		}
		if !fr.pkt.Timestamp.IsZero() {
			fr.keySec = fr.pkt.Timestamp.Unix()
			fr.keyNsec = int64(fr.pkt.Timestamp.Nanosecond())
		}
		return
	}
	fr.has = false
	fr.eof = true
	if fr.lenOver > 1 {
		fr.warn("%d records in all have a captured length > wire length", fr.lenOver)
	}
	if err != io.EOF {
		fr.info.Truncated = true
		fr.info.Warnings = append(fr.info.Warnings, err.Error()+"; "+kept(fr.info.Packets))
	}
	fr.setOffset()
	fr.close() // free the descriptor and buffers early when merging many files
}

func (fr *fileReader) close() error {
	var err error
	if fr.closer != nil {
		err = fr.closer.Close()
		fr.closer = nil
	}
	if fr.gz != nil {
		fr.gz.Close()
	}
	// Drop the buffers: a merge of many files keeps only the live ones.
	// Nothing reads them again (eof), and the last packet's Data is no
	// longer promised once Next was called again.
	fr.br, fr.spill = nil, nil
	fr.eof = true
	return err
}

// setOffset updates the progress figures: the uncompressed position for
// plain files, the compressed bytes read for gzip.
func (fr *fileReader) setOffset() {
	off := fr.pos
	if fr.gz != nil {
		off = fr.cnt.n
	}
	if d := off - fr.info.Offset; d != 0 && fr.done != nil {
		fr.done.Add(d)
	}
	fr.info.Offset = off
}

// addLinkType records a link type in info.LinkTypes once.
func (fr *fileReader) addLinkType(lt layers.LinkType) {
	for _, x := range fr.info.LinkTypes {
		if x == lt {
			return
		}
	}
	fr.info.LinkTypes = append(fr.info.LinkTypes, lt)
}

// checkLens gives the caplen > wire length note (ROBUSTNESS #15) once, and
// a count at the end of the file when there were more.
func (fr *fileReader) checkLens(rec int64, caplen, wirelen uint32) {
	if caplen <= wirelen {
		return
	}
	fr.lenOver++
	if fr.lenOver == 1 {
		fr.warn("record %d: captured length %d > wire length %d", rec, caplen, wirelen)
	}
}

// unixTime converts without failing on out-of-range values.
func unixTime(sec int64, nsec int64) time.Time { return time.Unix(sec, nsec) }

// peek returns the next n bytes without consuming them (see consume). On a
// short read it returns what there is and the reader's error. n larger than
// the buffer is copied into fr.spill (n is bounded by the callers).
func (fr *fileReader) peek(n int) ([]byte, error) {
	fr.spilled = false
	if n <= fr.br.Size() {
		return fr.br.Peek(n)
	}
	if cap(fr.spill) < n {
		fr.spill = make([]byte, n)
	}
	b := fr.spill[:n]
	m := 0
	var err error
	for m < n && err == nil { // not io.ReadFull: keep gzip's own ErrUnexpectedEOF apart from a plain end
		var k int
		k, err = fr.br.Read(b[m:])
		m += k
	}
	fr.spilled = true
	if m < n {
		if err == nil {
			err = io.EOF
		}
		return b[:m], err
	}
	return b, nil
}

// consume moves past n bytes returned by the last peek.
func (fr *fileReader) consume(n int) {
	if !fr.spilled {
		fr.br.Discard(n)
	}
	fr.spilled = false
	fr.pos += int64(n)
}
