package analyze

// Folding bounds memory on captures with more flows than --max-flows can
// hold. Until the capture has had a quarter of the bound in flows (all
// shards counted), every flow is kept (and the report is exactly what it
// would be without a bound). Past that, a flow that finishes (its timeout
// passed as the capture streamed by) and looks like one already kept —
// same class, names, server port (the edge's 50060-59999 as one; see
// foldPort), service area, client media port range,
// state and payload outcome — is folded into that representative: its
// packets and bytes go to the class totals, its count to the
// representative's row and to the findings that list the representative
// ("N more"), and its slot is reused. Flows with details a finding quotes
// one by one (ICMP errors, resets after data, TLS alerts, STUN errors, poor
// RTP quality, HTTP or SIP facts) are never folded.

// foldFrom is the number of flows in the capture past which finished flows
// fold. A quarter of the bound: the other three quarters are room for live
// flows, which cannot fold (a busy gateway keeps 150 000 live at once).
// Finish then folds the rest the same way (refold), so the report does not
// depend on the worker count.
func foldFrom(maxFlows int) int { return maxFlows / 4 }

// foldTotals are the flows folded into a representative.
type foldTotals struct {
	flows   int64
	packets [2]int64
	bytes   [2]int64
}

// foldKey says which flows are alike enough to fold into one another.
type foldKey struct {
	class, sni, dnsName, modality, state string
	evidence                             evidenceBits
	serverPort                           uint16
	proto, area, clientMedia             uint8
	v6, synRetrans, rtpBothWays          bool
	stunUnanswered, stunAllocated        bool
	stunChallenged                       bool
}

// foldTotals returns the flows folded into f, nil when none.
func (f *Flow) foldTotals() *foldTotals {
	if f.rare == nil || f.rare.folded.flows == 0 {
		return nil
	}
	return &f.rare.folded
}

// foldedFlows returns the number of flows folded into f (0 for most flows).
func (f *Flow) foldedFlows() int64 {
	if t := f.foldTotals(); t != nil {
		return t.flows
	}
	return 0
}

// foldedSent returns the client packets of the flows folded into f.
func (f *Flow) foldedSent() int64 {
	if t := f.foldTotals(); t != nil {
		return t.packets[c2s]
	}
	return 0
}

// finished is called when a flow's timeout has passed: its parsers are
// released and, past the fold threshold, it may be folded away.
func (a *Analyzer) finished(idx int32) {
	a.flows.get(idx).pl.freezeInto(&a.parsers)
	if a.created.Load() < a.foldAt {
		return
	}
	if a.folds == nil {
		// Folding starts: the flows that finished before would otherwise
		// wait for refold, holding a third of a busy gateway's table.
		a.folds = map[foldKey]heldFlow{}
		for i := range int32(a.flows.n) {
			if f := a.flows.get(i); i != idx && f.Proto != 0 {
				if live, ok := a.index.get(&f.Key, &a.flows); !ok || live != i {
					a.foldFlow(a.folds, heldFlow{&a.flows, i})
				}
			}
		}
	}
	a.foldFlow(a.folds, heldFlow{&a.flows, idx})
}

// heldFlow names a flow by its store and slot: refold works across the
// shards' stores.
type heldFlow struct {
	st  *flowStore
	idx int32
}

func (h heldFlow) flow() *Flow { return h.st.get(h.idx) }

// foldFlow folds finished flow h into its look-alike in reps, or keeps it
// as the look-alike of the ones to come. The earliest look-alike stays,
// whatever finished first: refold then finds the same one for any worker
// count.
func (a *Analyzer) foldFlow(reps map[foldKey]heldFlow, h heldFlow) {
	key, ok := a.foldKeyOf(h.flow())
	if !ok {
		return
	}
	r, found := reps[key]
	if !found {
		reps[key] = h
		return
	}
	if h.flow().firstFrame() < r.flow().firstFrame() {
		reps[key], r, h = h, h, r
	}
	foldInto(r.flow(), h.flow())
	h.st.release(h.idx)
	a.held.Add(-1)
	a.flowsFolded++
}

// foldKeyOf judges f (with this shard's view of DNS: every shard reads
// every DNS answer) and returns its look-alike key, or false when f carries
// details that must stay individual.
func (a *Analyzer) foldKeyOf(f *Flow) (foldKey, bool) {
	if len(f.icmp()) > 0 || f.pl.http() != nil || f.pl.sipF != nil || f.tcp.dataAfterRST {
		return foldKey{}, false
	}
	st := flowState(f)
	if st == "RSTO" || st == "RSTR" || st == "OTH" {
		return foldKey{}, false // resets after data: idle-cut, tls-reset-after-hello
	}
	z := f.pl.freeze()
	if t := z.tls; t != nil && (len(t.Alerts) > 0 || t.PseudoTLS) {
		return foldKey{}, false
	}
	k := foldKey{state: st, serverPort: foldPort(f.serverPort(), f.area), proto: f.Proto, area: f.area, v6: f.Key.V6,
		synRetrans: f.tcp.synCount > 1, modality: f.pl.guessModality()}
	if s := z.stun; s != nil {
		// The 401 challenge before a successful Allocate is normal
		// (REFERENCE.md); any other error stays individual.
		challenged := len(s.allocErrors()) > 0
		for _, e := range s.allocErrors() {
			challenged = challenged && e == 401 && s.AllocSuccess > 0
		}
		if len(s.allocErrors()) > 0 && !challenged || int(s.Errors) > len(s.allocErrors()) || s.AllocUnansweredAfterChallenge {
			return foldKey{}, false
		}
		k.stunUnanswered, k.stunAllocated, k.stunChallenged = s.Unanswered > 0, s.AllocSuccess > 0, challenged
	}
	if r := z.rtp; r != nil {
		var dirs [2]bool
		for _, s := range r.Streams {
			if s.Lost > 0 || s.WorstLossPct > qualityMaxLossPct || s.WorstJitterMs > qualityMaxJitterMs ||
				float64(s.Reordered) > float64(s.Packets)*qualityMaxReorderPct/100 {
				return foldKey{}, false
			}
			dirs[s.Dir] = true
		}
		k.rtpBothWays = dirs[c2s] && dirs[s2c]
	}
	switch mediaClassForPort(f.clientPort()) {
	case ClassAudio:
		k.clientMedia = 1
	case ClassVideo:
		k.clientMedia = 2
	case ClassDesktopShare:
		k.clientMedia = 3
	}
	var j judged
	a.judge(&j, f, 0)
	k.class, k.sni, k.dnsName, k.evidence = j.Class, j.sni(), j.DNSName, j.evidence
	return k, true
}

// foldPort is the server port as folding compares it. The media edge's
// ports above the client range (50060-59999) count as one: the edge picks
// one per call, so kept apart each would keep a look-alike of its own, and
// their number would grow with the capture (18 000 held on the 10 GB
// corpus, half of the memory past the live flows). The edge-range finding
// needs only which side of 50059 a port is on; other ports stay exact.
func foldPort(p uint16, area uint8) uint16 {
	if area != 0 && p >= 50060 && p <= 59999 {
		return 50060
	}
	return p
}

// refold makes folding independent of the worker count and of when each
// flow finished. Which flows folded while streaming depends on both (each
// shard keeps the earliest look-alike that had finished in it); once the
// capture has had foldFrom flows, every foldable flow that had finished by
// the end of the capture (as the ones folded while streaming had) folds
// into the look-alike with the lowest first frame, and the totals are sums.
// Flows still live at the end stay individual: a detector may find them
// too recent to judge. Below that count nothing folded anywhere: the
// shards fold only past it (a shared counter).
func (a *Analyzer) refold() {
	if a.created.Load() < a.foldAt {
		return
	}
	reps := map[foldKey]heldFlow{}
	a.flowsFolded = 0
	for _, st := range a.stores() {
		for i := range int32(st.n) {
			f := st.get(i)
			if f.Proto == 0 {
				continue
			}
			a.flowsFolded += f.foldedFlows()
			if a.timedOut(f, a.end) {
				a.foldFlow(reps, heldFlow{st, i})
			}
		}
	}
}

// foldInto adds flow f and the flows folded into it to rep's totals.
func foldInto(rep, f *Flow) {
	t := &rep.rareOf().folded
	t.flows++
	for d := range f.Dir {
		t.packets[d] += f.Dir[d].Packets
		t.bytes[d] += f.Dir[d].Bytes
	}
	if o := f.foldTotals(); o != nil {
		t.flows += o.flows
		for d := range o.packets {
			t.packets[d] += o.packets[d]
			t.bytes[d] += o.bytes[d]
		}
	}
}
