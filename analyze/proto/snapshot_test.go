package proto

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"unsafe"
)

// fill sets every field of v (a struct, reached through pointers the
// caller made) to random non-zero values, unexported ones included: a
// field added to a parser but not to its snapshot then fails the
// round trip below.
func fill(t *testing.T, r *rand.Rand, v reflect.Value) {
	if !v.CanSet() {
		v = reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	}
	switch v.Type() {
	case reflect.TypeFor[netip.AddrPort]():
		ip := netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), 1})
		switch r.IntN(3) {
		case 1:
			ip = netip.AddrFrom16([16]byte{0x26, 0x03, 15: byte(1 + r.IntN(200))})
		case 2:
			ip = netip.AddrFrom16(ip.As16()) // IPv4-mapped: must stay so
		}
		v.Set(reflect.ValueOf(netip.AddrPortFrom(ip, uint16(1+r.IntN(65000)))))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1 + r.Int64N(100))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1 + r.Uint64N(100))
	case reflect.Float64:
		v.SetFloat(r.Float64() * 1000)
	case reflect.String:
		v.SetString("ufrag" + string(rune('a'+r.IntN(26))))
	case reflect.Array:
		for i := range v.Len() {
			fill(t, r, v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, r, v.Field(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			v.Set(reflect.ValueOf([]string{"u1", "u2"}))
		}
		// Other slices are set by the caller (the RTP stream table).
	case reflect.Pointer:
		// TCP framing: not a UDP media flow, left nil.
	default:
		t.Fatalf("fill: unhandled %s", v.Type())
	}
}

// TestMediaSnapshotEveryField: every field of the STUN and RTP parsers
// survives a snapshot, with the RTP stream table inline (1-2 streams) and
// on the heap (3+).
func TestMediaSnapshotEveryField(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, streams := range []int{0, 1, 2, 3, rtpMaxStreams} {
		var st STUNStats
		fill(t, r, reflect.ValueOf(&st).Elem())
		var rt RTPStats
		fill(t, r, reflect.ValueOf(&rt).Elem())
		rt.inline = [2]rtpStream{}
		rt.n, rt.streams = streams, nil
		if streams > 0 {
			rt.streams = rt.inline[:0:2]
			for range streams {
				var s rtpStream
				fill(t, r, reflect.ValueOf(&s).Elem())
				rt.streams = append(rt.streams, s)
			}
		}
		if streams > 0 {
			rt.streams[0].transit = math.Inf(-1) // any bits, not only round values
		}
		snap, ok := AppendMediaSnapshot(nil, &st, &rt)
		if !ok {
			t.Fatal("snapshot refused")
		}
		var st2 STUNStats
		var rt2 RTPStats
		if err := LoadMediaSnapshot(string(snap), &st2, &rt2); err != nil {
			t.Fatal(err)
		}
		if streams > 2 {
			// stream() leaves stale copies in inline once the table moves
			// to the heap: they are never read.
			rt.inline, rt2.inline = [2]rtpStream{}, [2]rtpStream{}
		}
		if !reflect.DeepEqual(st, st2) {
			t.Errorf("STUN, %d streams:\n got  %+v\n want %+v", streams, st2, st)
		}
		if !reflect.DeepEqual(rt, rt2) {
			t.Errorf("RTP, %d streams:\n got  %+v\n want %+v", streams, rt2, rt)
		}
		t.Logf("%d streams: %d bytes (live parsers: %d)", streams, len(snap), unsafe.Sizeof(st)+unsafe.Sizeof(rt)+uintptr(max(0, streams-2))*unsafe.Sizeof(rtpStream{}))
	}
}

// TestMediaSnapshotBad: a cut or padded snapshot is an error, not a
// panic; LoadMediaSnapshot does not allocate but for ICE usernames.
func TestMediaSnapshotBad(t *testing.T) {
	var st STUNStats
	var rt RTPStats
	st.Observe(true, unhex(t, hexTeamsBindReq), false)
	st.Observe(false, unhex(t, hexTeamsAllocOK), false)
	if st.NumMapped == 0 || !st.Relayed.IsValid() {
		t.Fatalf("the allocate answer carries no addresses: %v", st.String())
	}
	rt.Observe(true, []byte{0x80, 104, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4}, 1e9)
	snap, _ := AppendMediaSnapshot(nil, &st, &rt)
	for n := range len(snap) {
		if err := LoadMediaSnapshot(string(snap[:n]), new(STUNStats), new(RTPStats)); err == nil {
			t.Errorf("cut at %d of %d: no error", n, len(snap))
		}
	}
	if err := LoadMediaSnapshot(string(snap)+"x", new(STUNStats), new(RTPStats)); err == nil {
		t.Error("trailing byte: no error")
	}
	if err := LoadMediaSnapshot(string(snap), nil, nil); err == nil {
		t.Error("no parsers to load into: no error")
	}
	st.Usernames = nil // copied out of the snapshot: the only allocations
	snap, _ = AppendMediaSnapshot(nil, &st, &rt)
	s := string(snap)
	var st2 STUNStats
	var rt2 RTPStats
	if n := testing.AllocsPerRun(100, func() {
		st2, rt2 = STUNStats{}, RTPStats{}
		if err := LoadMediaSnapshot(s, &st2, &rt2); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("LoadMediaSnapshot allocates %v times", n)
	}
}
