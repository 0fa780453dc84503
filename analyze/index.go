package analyze

import (
	"encoding/binary"
	"math/bits"
)

// flowIndex maps live flow keys to flow-store indexes. It replaces a Go map
// on the hottest path: open addressing with linear probing over parallel
// slices of full hashes and flow indexes, so a probe compares the 38-byte
// key only when the 64-bit hash matches; deletion shifts entries back
// instead of leaving tombstones. Not safe for concurrent use.
type flowIndex struct {
	hash []uint64 // 0 = empty; stored hashes have the top bit set
	idx  []int32
	n    int
	mask uint64
}

const hashUsed = 1 << 63

func newFlowIndex() *flowIndex {
	const size = 1 << 12
	return &flowIndex{hash: make([]uint64, size), idx: make([]int32, size), mask: size - 1}
}

// hashKey mixes the key's words (a wyhash-style multiply-fold); the top bit
// marks a used slot.
func hashKey(k *FlowKey) uint64 {
	const m1, m2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db
	a := binary.LittleEndian.Uint64(k.A[:8]) ^ binary.LittleEndian.Uint64(k.B[8:])*m2
	b := binary.LittleEndian.Uint64(k.A[8:]) ^ binary.LittleEndian.Uint64(k.B[:8])*m1
	c := uint64(k.PA)<<32 | uint64(k.PB)<<16 | uint64(k.Proto)<<1
	if k.V6 {
		c |= 1
	}
	hi, lo := bits.Mul64(a^m1, b^m2^c)
	hi, lo = bits.Mul64(hi^lo, m2^c)
	return (hi ^ lo) | hashUsed
}

// get returns the flow index stored for key (flows holds the keys).
func (x *flowIndex) get(key *FlowKey, flows *flowStore) (int32, bool) {
	h := hashKey(key)
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		switch x.hash[i] {
		case 0:
			return 0, false
		case h:
			if flows.get(x.idx[i]).Key == *key {
				return x.idx[i], true
			}
		}
	}
}

// put adds key -> v; key must not be present.
func (x *flowIndex) put(key *FlowKey, v int32) {
	if (x.n+1)*4 > len(x.hash)*3 {
		x.resize(len(x.hash) * 2)
	}
	x.insert(hashKey(key), v)
	x.n++
}

func (x *flowIndex) insert(h uint64, v int32) {
	i := h & x.mask
	for x.hash[i] != 0 {
		i = (i + 1) & x.mask
	}
	x.hash[i], x.idx[i] = h, v
}

func (x *flowIndex) resize(size int) {
	oh, oi := x.hash, x.idx
	x.hash, x.idx, x.mask = make([]uint64, size), make([]int32, size), uint64(size-1)
	for i, h := range oh {
		if h != 0 {
			x.insert(h, oi[i])
		}
	}
}

// del removes key if present, shifting later entries of its probe run back
// so every remaining entry stays reachable from its home slot.
func (x *flowIndex) del(key *FlowKey, flows *flowStore) {
	h := hashKey(key)
	i := h & x.mask
	for {
		switch x.hash[i] {
		case 0:
			return
		case h:
			if flows.get(x.idx[i]).Key == *key {
				x.removeAt(i)
				return
			}
		}
		i = (i + 1) & x.mask
	}
}

func (x *flowIndex) removeAt(i uint64) {
	x.n--
	for j := (i + 1) & x.mask; x.hash[j] != 0; j = (j + 1) & x.mask {
		home := x.hash[j] & x.mask
		// Move j back to i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j)) {
			x.hash[i], x.idx[i] = x.hash[j], x.idx[j]
			i = j
		}
	}
	x.hash[i], x.idx[i] = 0, 0
}

// each calls f for every stored flow index (order: slot order).
func (x *flowIndex) each(f func(int32)) {
	for i, h := range x.hash {
		if h != 0 {
			f(x.idx[i])
		}
	}
}

func (x *flowIndex) len() int { return x.n }
