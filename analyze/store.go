package analyze

// flowChunk is the unit of flow storage: growing the table never copies
// flows (a slice of structs would, at every doubling), and *Flow stays valid.
const flowChunk = 4096

// flowStore holds flows in fixed-size chunks, addressed by int32 index.
type flowStore struct {
	chunks []*[flowChunk]Flow
	n      int
}

func (s *flowStore) len() int { return s.n }

// get returns flow i; i must be < len().
func (s *flowStore) get(i int32) *Flow { return &s.chunks[i/flowChunk][i%flowChunk] }

// add appends a zero flow and returns its index.
func (s *flowStore) add() int32 {
	if s.n == len(s.chunks)*flowChunk {
		s.chunks = append(s.chunks, new([flowChunk]Flow))
	}
	i := int32(s.n)
	s.n++
	return i
}
