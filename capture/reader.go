package capture

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
)

type format int

const (
	formatPcap format = iota + 1
	formatPcapng
)

// fileReader is the record layer of one input file. It reads through a large
// bufio.Reader and hands out Packet.Data as a slice of that buffer (Peek then
// Discard), so the steady state neither copies nor allocates; the slice stays
// valid until this file is read again.
type fileReader struct {
	idx    int
	name   string // for messages ("stdin" for "-")
	info   *FileInfo
	closer io.Closer
	cnt    *countReader
	gz     *gzip.Reader
	br     *bufio.Reader
	format format

	pos  int64 // offset of the next unread byte in the (uncompressed) stream
	pkt  Packet
	has  bool // pkt holds a packet not yet returned by Next
	done bool

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
	if fr.done {
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
		if fr.gz == nil {
			fr.info.Offset = fr.pos
		} else {
			fr.info.Offset = fr.cnt.n
		}
		if !fr.pkt.Timestamp.IsZero() {
			fr.keySec = fr.pkt.Timestamp.Unix()
			fr.keyNsec = int64(fr.pkt.Timestamp.Nanosecond())
		}
		return
	}
	fr.has = false
	fr.done = true
	if fr.lenOver > 1 {
		fr.warn("%d records in all have a captured length > wire length", fr.lenOver)
	}
	if err != io.EOF {
		fr.info.Truncated = true
		fr.info.Warnings = append(fr.info.Warnings, err.Error()+"; "+kept(fr.info.Packets))
	}
	if fr.gz == nil {
		fr.info.Offset = fr.pos
	} else {
		fr.info.Offset = fr.cnt.n
	}
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
	fr.done = true
	return err
}

// setLinkType records a link type in info.LinkTypes once.
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
