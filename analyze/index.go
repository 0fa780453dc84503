package analyze

// flowIndex maps live flow keys to flow-store indexes. It replaces a Go map
// on the hottest path: open addressing with linear probing over slots that
// hold a full hash next to the flow index (one cache line per probe), so the
// 38-byte key is compared only when the 64-bit hash matches; deletion
// shifts entries back instead of leaving tombstones. Its hash is the
// reader's sharding hash, so the reader's per-packet hash also tells a
// worker which slot and flow the packet will need (see warm). Not safe for
// concurrent use.
type flowIndex struct {
	slots []slot
	n     int
	mask  uint64
}

type slot struct {
	h   uint64 // 0 = empty; stored hashes have the top bit set
	idx int32
}

const hashUsed = 1 << 63

func newFlowIndex() *flowIndex {
	const size = 1 << 12
	return &flowIndex{slots: make([]slot, size), mask: size - 1}
}

// hashKey is the key's tupleHash: the reader computes the same from the
// packet bytes (shard.go), one formula for both.
func hashKey(k *FlowKey) uint64 {
	return tupleHash(ipBytes(&k.A, k.V6), ipBytes(&k.B, k.V6), k.Proto, k.PA, k.PB)
}

// endpointHash hashes one address (as two little-endian words, an IPv4
// address zero-extended) and port; summing both endpoints' hashes makes
// the tuple hash the same in both directions.
func endpointHash(lo, hi uint64, port uint16) uint64 {
	x := lo*0xa0761d6478bd642f ^ hi*0xe7037ed1a0b428db ^ uint64(port)*0x8ebc6af09c88c6e3
	// murmur3's 64-bit finaliser
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// get returns the flow index stored for key (flows holds the keys).
func (x *flowIndex) get(key *FlowKey, flows *flowStore) (int32, bool) {
	h := hashKey(key)
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		switch s := x.slots[i]; s.h {
		case 0:
			return 0, false
		case h:
			if flows.get(s.idx).Key == *key {
				return s.idx, true
			}
		}
	}
}

// slotOf returns the slot holding hash h, if any: warm uses it without a
// key (a rare colliding flow only costs a wasted touch).
func (x *flowIndex) slotOf(h uint64) (slot, bool) {
	h |= hashUsed
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		switch s := x.slots[i]; s.h {
		case 0:
			return s, false
		case h:
			return s, true
		}
	}
}

// put adds key -> v; key must not be present.
func (x *flowIndex) put(key *FlowKey, v int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.resize(len(x.slots) * 2)
	}
	x.insert(hashKey(key), v)
	x.n++
}

func (x *flowIndex) insert(h uint64, v int32) {
	i := h & x.mask
	for x.slots[i].h != 0 {
		i = (i + 1) & x.mask
	}
	x.slots[i] = slot{h, v}
}

func (x *flowIndex) resize(size int) {
	old := x.slots
	x.slots, x.mask = make([]slot, size), uint64(size-1)
	for _, s := range old {
		if s.h != 0 {
			x.insert(s.h, s.idx)
		}
	}
}

// del removes key if present, shifting later entries of its probe run back
// so every remaining entry stays reachable from its home slot.
func (x *flowIndex) del(key *FlowKey, flows *flowStore) {
	h := hashKey(key)
	i := h & x.mask
	for {
		switch x.slots[i].h {
		case 0:
			return
		case h:
			if flows.get(x.slots[i].idx).Key == *key {
				x.removeAt(i)
				return
			}
		}
		i = (i + 1) & x.mask
	}
}

func (x *flowIndex) removeAt(i uint64) {
	x.n--
	for j := (i + 1) & x.mask; x.slots[j].h != 0; j = (j + 1) & x.mask {
		home := x.slots[j].h & x.mask
		// Move j back to i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j)) {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = slot{}
}

// each calls f for every stored flow index (order: slot order).
func (x *flowIndex) each(f func(int32)) {
	for _, s := range x.slots {
		if s.h != 0 {
			f(s.idx)
		}
	}
}

func (x *flowIndex) len() int { return x.n }
