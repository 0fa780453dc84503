package analyze

// flowChunk is the unit of flow storage: growing the table never copies
// flows (a slice of structs would, at every doubling), and *Flow stays valid.
const flowChunk = 4096

// flowStore holds flows in fixed-size chunks, addressed by int32 index.
// Slots of flows folded away (see fold.go) are reused; a free slot has
// Proto 0, which no real flow has.
type flowStore struct {
	chunks []*[flowChunk]Flow
	n      int     // slots used so far
	free   []int32 // released slots, reused first
}

// len is the number of flows held.
func (s *flowStore) len() int { return s.n - len(s.free) }

// get returns flow i; i must be an index add returned.
func (s *flowStore) get(i int32) *Flow { return &s.chunks[i/flowChunk][i%flowChunk] }

// add returns the index of a zero flow: a released slot, else a new one.
func (s *flowStore) add() int32 {
	if k := len(s.free); k > 0 {
		i := s.free[k-1]
		s.free = s.free[:k-1]
		return i
	}
	if s.n == len(s.chunks)*flowChunk {
		s.chunks = append(s.chunks, new([flowChunk]Flow))
	}
	i := int32(s.n)
	s.n++
	return i
}

// release zeroes flow i and makes its slot reusable.
func (s *flowStore) release(i int32) {
	*s.get(i) = Flow{}
	s.free = append(s.free, i)
}

// each calls f for every held flow, in slot order.
func (s *flowStore) each(f func(*Flow)) {
	for i := 0; i < s.n; i++ {
		if fl := s.get(int32(i)); fl.Proto != 0 {
			f(fl)
		}
	}
}
