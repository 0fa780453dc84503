package capture

import (
	"io"
	"sync/atomic"
)

// source is the Source returned by Open: one fileReader per input, merged
// by a small binary heap keyed on each file's next packet, as mergecap does.
//
// Each file holds exactly one pending packet (its heap entry). The file whose
// packet Next returned is only read again at the following call to Next, so
// the returned Data (a slice of that file's buffer) stays valid until then,
// while the other files' pending packets live in their own buffers.
type source struct {
	files  []*fileReader
	info   Info
	heap   []*fileReader
	last   *fileReader // file of the packet returned by the previous Next
	frame  int64
	closed bool
	done   atomic.Int64 // sum of the files' Offset, for Progress from another goroutine
	total  int64        // sum of the files' Size, -1 when one is unknown
}

// Next returns the next packet in timestamp order; io.EOF when every input
// is exhausted. Damage ends one file (see Info) and is not returned here.
// Next does not allocate in the steady state.
func (s *source) Next() (*Packet, error) {
	if s.closed {
		return nil, errClosed
	}
	if s.last != nil {
		if s.last.advance() {
			s.push(s.last)
		}
		s.last = nil
	}
	if len(s.heap) == 0 {
		return nil, io.EOF
	}
	fr := s.pop()
	s.last = fr
	s.frame++
	fr.pkt.Frame = s.frame
	return &fr.pkt, nil
}

// Info describes the inputs; it is updated as packets are read.
func (s *source) Info() *Info { return &s.info }

// Close closes every input file.
func (s *source) Close() error {
	s.closed = true
	var first error
	for _, fr := range s.files {
		if err := fr.close(); err != nil && first == nil {
			first = err
		}
	}
	s.heap = nil
	return first
}

// less orders pending packets by timestamp; packets without a timestamp
// (pcapng SPB) carry the last timestamp of their file, so they keep their
// place in it. Ties go to the earlier file, as mergecap does.
func less(a, b *fileReader) bool {
	if a.keySec != b.keySec {
		return a.keySec < b.keySec
	}
	if a.keyNsec != b.keyNsec {
		return a.keyNsec < b.keyNsec
	}
	return a.idx < b.idx
}

func (s *source) push(fr *fileReader) {
	s.heap = append(s.heap, fr)
	h := s.heap
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (s *source) pop() *fileReader {
	h := s.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = nil
	h = h[:n]
	s.heap = h
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return top
}
