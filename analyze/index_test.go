package analyze

import (
	"math/rand/v2"
	"testing"
)

// TestFlowIndex checks the open-addressing index against a Go map through
// random puts, gets and deletes (including deletes that shift probe runs).
func TestFlowIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var keys []FlowKey
	var store flowStore
	x := newFlowIndex()
	ref := map[FlowKey]int32{}
	for step := 0; step < 200000; step++ {
		switch op := rng.IntN(10); {
		case op < 6 || len(ref) == 0: // put a new key
			var k FlowKey
			k.A[0], k.B[3] = byte(rng.IntN(4)), byte(rng.IntN(4)) // many near-identical keys
			k.PA, k.PB, k.Proto = uint16(rng.IntN(300)), uint16(rng.IntN(3)), 17
			if _, ok := ref[k]; ok {
				continue
			}
			keys = append(keys, k)
			store.get(store.add()).Key = k
			x.put(&k, int32(len(keys)-1))
			ref[k] = int32(len(keys) - 1)
		case op < 8: // delete a present key
			i := rng.IntN(len(keys))
			k := keys[i]
			if _, ok := ref[k]; !ok {
				continue
			}
			x.del(&k, &store)
			delete(ref, k)
		default: // look up
			k := keys[rng.IntN(len(keys))]
			got, ok := x.get(&k, &store)
			want, wok := ref[k]
			if ok != wok || (ok && got != want) {
				t.Fatalf("step %d: get = %d %v, want %d %v", step, got, ok, want, wok)
			}
		}
	}
	if x.len() != len(ref) {
		t.Fatalf("len %d, want %d", x.len(), len(ref))
	}
	for k, v := range ref {
		if got, ok := x.get(&k, &store); !ok || got != v {
			t.Fatalf("final get of %v = %d %v, want %d", k, got, ok, v)
		}
	}
}
