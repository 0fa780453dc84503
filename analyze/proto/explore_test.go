package proto

import (
	"encoding/hex"
	"fmt"
	"os"
	"testing"
)

func TestExplore(t *testing.T) {
	f := os.Getenv("EXPLORE")
	if f == "" {
		t.Skip()
	}
	for _, p := range readShared(t, f) {
		n := len(p.payload)
		if n > 48 {
			n = 48
		}
		fmt.Printf("%d %v tcp=%v %v > %v len=%d %s\n", p.frame, p.ts.Format("15:04:05.000"), p.tcp, p.src, p.dst, len(p.payload), hex.EncodeToString(p.payload[:n]))
	}
}

func TestExploreSTUN(t *testing.T) {
	f := os.Getenv("EXPLORESTUN")
	if f == "" {
		t.Skip()
	}
	type key struct{ a, b string }
	flows := map[key]*STUNStats{}
	var order []key
	for _, p := range readShared(t, f) {
		k, fromClient := key{p.src.String(), p.dst.String()}, true
		if _, ok := flows[key{k.b, k.a}]; ok {
			k, fromClient = key{k.b, k.a}, false
		}
		st := flows[k]
		if st == nil {
			st = &STUNStats{}
			flows[k] = st
			order = append(order, k)
		}
		if len(p.payload) > 0 {
			st.Observe(fromClient, p.payload, p.tcp)
		}
	}
	for _, k := range order {
		if st := flows[k]; st.Messages > 0 {
			fmt.Printf("%s > %s: %+v\n", k.a, k.b, st.Summary())
		}
	}
}
