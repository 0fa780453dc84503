package capture

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// ErrUnusable is wrapped by every error of Open that means an input cannot be
// read at all (missing, unreadable, not a capture, damaged file header): the
// caller exits with code 2. Test with errors.Is(err, capture.ErrUnusable).
var ErrUnusable = errors.New("unusable capture input")

// errClosed is returned by Next after Close.
var errClosed = errors.New("capture: Next called after Close")

// Limits. MaxPacket is libpcap's and Wireshark's largest packet; a record
// claiming more is treated as damage, even when the bytes are present (ROBUSTNESS #11).
const (
	// MaxPacket is the largest captured length accepted for one record.
	MaxPacket = 262144
	// bufSize is the read buffer per file. A record or parsed pcapng block
	// that fits is handed out in place (zero copy); a larger one is copied
	// into a per-file spill buffer. 64 KiB keeps a merge of many rotated
	// files small (1000 files: 64 MiB) at no cost in speed.
	bufSize = 64 << 10
	// maxBlock bounds the pcapng blocks we parse (SHB, IDB, packet blocks);
	// other blocks are skipped as a stream and may be longer.
	maxBlock = 1 << 20
	// maxIfaces bounds the interfaces of one pcapng section (memory).
	maxIfaces = 1 << 16
)

// unusableError is an error of Open that names the file; its text is the
// one-line message shown to the user.
type unusableError struct {
	msg string
	err error // underlying cause, if any (fs.ErrPermission…)
}

func (e *unusableError) Error() string        { return e.msg }
func (e *unusableError) Is(target error) bool { return target == ErrUnusable }
func (e *unusableError) Unwrap() error        { return e.err }

func unusable(format string, args ...any) error {
	return &unusableError{msg: fmt.Sprintf(format, args...)}
}

// Open opens one or more capture files ("-" is standard input) and returns a
// Source that delivers their packets merged in timestamp order, as mergecap
// does. The format is chosen by the magic bytes, never by the name; gzip is
// detected by its magic (1f 8b) and read through.
//
// Open reads each file up to its first packet, so every problem that makes a
// file unusable (empty, not a capture, damaged file or section header, packet
// before any interface, unsupported version) is reported here, wrapping
// ErrUnusable. Damage found later ends that file only and is recorded in
// Info().Files[i] (Truncated, Warnings).
func Open(names ...string) (Source, error) {
	if len(names) == 0 {
		return nil, unusable("no capture file given")
	}
	s := &source{info: Info{Files: make([]FileInfo, len(names))}}
	stdin := false
	for i, name := range names {
		if name == "-" {
			if stdin {
				s.Close()
				return nil, unusable("standard input (-) given more than once")
			}
			stdin = true
		}
		fr, err := openFile(name, i, &s.info.Files[i])
		if err != nil {
			s.Close()
			return nil, err
		}
		fr.done = &s.done
		s.files = append(s.files, fr)
	}
	_, s.total = progressOf(&s.info)
	for _, fr := range s.files {
		if err := fr.prime(); err != nil {
			s.Close()
			return nil, err
		}
		if fr.has {
			s.push(fr)
		}
	}
	return s, nil
}

// Progress reports how far s has read, for a progress bar: done is the sum of
// Info().Files[i].Offset (compressed bytes for gzip input) and total the sum
// of their Size. total is -1 when a size is unknown (stdin, a FIFO). For a
// Source from Open or OpenReader, Progress may be called from another
// goroutine while Next runs (it reads atomic counters); for other Sources it
// reads Info.
func Progress(s Source) (done, total int64) {
	if src, ok := s.(*source); ok {
		return src.done.Load(), src.total
	}
	return progressOf(s.Info())
}

func progressOf(info *Info) (done, total int64) {
	for _, f := range info.Files {
		done += f.Offset
		if f.Size < 0 || total < 0 {
			total = -1
		} else {
			total += f.Size
		}
	}
	return done, total
}

// countReader counts the bytes read from the file itself (compressed bytes
// for gzip input), for progress.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// openFile opens name and sniffs its format.
func openFile(name string, idx int, info *FileInfo) (*fileReader, error) {
	info.Name = name
	info.Size = -1
	fr := &fileReader{idx: idx, name: name, info: info}
	fr.pkt.File = idx
	var f *os.File
	if name == "-" {
		fr.name = "stdin"
		f = os.Stdin
	} else {
		var err error
		f, err = os.Open(name)
		if err != nil {
			return nil, openError(name, err)
		}
		fr.closer = f
	}
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			fr.close()
			return nil, unusable("%s is a directory, not a capture file", name)
		}
		if st.Mode().IsRegular() {
			info.Size = st.Size()
		}
	}
	if err := fr.start(f); err != nil {
		fr.close()
		return nil, err
	}
	return fr, nil
}

// start sniffs the format of r and reads its file header.
func (fr *fileReader) start(r io.Reader) error {
	fr.cnt = &countReader{r: r}
	fr.br = bufio.NewReaderSize(fr.cnt, bufSize)
	return fr.sniff()
}

// OpenReader is Open for one stream that is not a named file (a network
// connection, a test's bytes.Reader): name is used in messages and in
// Info().Files[0].Name, whose Size is -1. It does not close r.
func OpenReader(name string, r io.Reader) (Source, error) {
	s := &source{info: Info{Files: make([]FileInfo, 1)}}
	fi := &s.info.Files[0]
	fi.Name, fi.Size = name, -1
	fr := &fileReader{name: name, info: fi, done: &s.done}
	s.total = -1
	if err := fr.start(r); err != nil {
		return nil, err
	}
	s.files = append(s.files, fr)
	if err := fr.prime(); err != nil {
		return nil, err
	}
	if fr.has {
		s.push(fr)
	}
	return s, nil
}

// openError turns an os.Open error into "cannot open FILE: permission denied".
func openError(name string, err error) error {
	why := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		why = pe.Err.Error()
	}
	return &unusableError{msg: fmt.Sprintf("cannot open %s: %s", name, why), err: err}
}

var (
	magicGzip   = []byte{0x1f, 0x8b}
	magicPcapng = []byte{0x0a, 0x0d, 0x0d, 0x0a}
)

// pcapMagics lists the classic pcap magics as they appear on disk.
var pcapMagics = [][]byte{
	{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, // µs LE, BE
	{0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}, // ns LE, BE
	{0x34, 0xcd, 0xb2, 0xa1}, {0xa1, 0xb2, 0xcd, 0x34}, // Kuznetsov LE, BE
}

// sniff chooses the format by magic, looking through gzip, and reads the
// file header.
func (fr *fileReader) sniff() error {
	b, err := fr.br.Peek(4)
	if len(b) == 0 {
		if err == io.EOF {
			return unusable("%s is empty (0 bytes): not a capture file", fr.name)
		}
		return &unusableError{msg: fmt.Sprintf("cannot read %s: %v", fr.name, err), err: err}
	}
	if hasPrefixOrIs(b, magicGzip) && len(b) >= 2 {
		gz, err := gzip.NewReader(fr.br)
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return unusable("%s: compressed stream ends early (inside the gzip header)", fr.name)
			}
			return unusable("%s: compressed stream damaged: %v", fr.name, err)
		}
		fr.gz = gz
		fr.info.Compressed = true
		fr.br = bufio.NewReaderSize(gz, bufSize)
		b, err = fr.br.Peek(4)
		if len(b) == 0 {
			if err == io.EOF {
				return unusable("%s is empty (0 bytes once uncompressed): not a capture file", fr.name)
			}
			return fr.unusableRead(err, "the file header")
		}
	}
	for _, m := range pcapMagics {
		if hasPrefixOrIs(b, m) {
			fr.info.Format = "pcap"
			fr.format = formatPcap
			return fr.readPcapHeader()
		}
	}
	if hasPrefixOrIs(b, magicPcapng) {
		fr.info.Format = "pcapng"
		fr.format = formatPcapng
		return nil // the SHB is read by the first call to next
	}
	if len(b) < 4 && err != nil && err != io.EOF {
		return fr.unusableRead(err, "the file header")
	}
	return unusable("%s is not a pcap or pcapng capture (starts with % x)", fr.name, b)
}

// hasPrefixOrIs reports whether b starts with m, or b is a (short) prefix of
// m: a file cut inside its magic is a truncated capture, not a foreign file.
func hasPrefixOrIs(b, m []byte) bool {
	n := min(len(b), len(m))
	return n > 0 && string(b[:n]) == string(m[:n])
}

// unusableRead words a read error met while reading a file header.
func (fr *fileReader) unusableRead(err error, what string) error {
	if err == io.ErrUnexpectedEOF && fr.gz != nil {
		return unusable("%s: compressed stream ends early (in %s)", fr.name, what)
	}
	return &unusableError{msg: fmt.Sprintf("%s: read error in %s: %v", fr.name, what, err), err: err}
}

// kept words how many packets were kept, for truncation warnings.
func kept(n int64) string {
	switch n {
	case 0:
		return "no packets kept"
	case 1:
		return "1 packet kept"
	}
	return fmt.Sprintf("%d packets kept", n)
}

// oneLine keeps a message on one line whatever an underlying error says.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
