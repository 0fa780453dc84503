package analyze

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sfbtrace/sfbtrace/capture"
)

// judged is a flow with what Finish concluded about it; detectors read it.
//
// A gateway's report judges a hundred thousand flows at once: 56 bytes
// each. The SNI is read from the flow's facts (sni), not copied here.
type judged struct {
	*Flow
	Class    string
	DNSName  string
	ID       int32
	Call     int32 // 0 = none
	evidence evidenceBits
	conn     connectivity // media flows: set when calls are grouped
	// mediaName: the server name is a media relay's (classForName), kept
	// because three detectors ask it of every TCP flow.
	mediaName bool
}

// sni is the TLS server name the client sent, "" when none.
func (j *judged) sni() string { return j.pl.sni() }

// Finish expires every flow, classifies, runs the detectors and returns the
// report. info (may be nil) describes the inputs.
func (a *Analyzer) Finish(info *capture.Info) *Report {
	a.refold()
	rep := &Report{Flows: []FlowReport{}, Findings: []Finding{}, Calls: []Call{}, Verdicts: []Verdict{}, Remediation: []string{}}
	a.summarize(info, &rep.Capture)
	js := a.judgeAll(a.sortedFlows())
	dc := &detectContext{a: a, flows: js, rep: rep}
	// Grouping calls needs nothing the first detectors decide, and they
	// need nothing from the calls: the two run side by side. After them,
	// the detectors that claim flows run in order, beside the ones that
	// neither claim nor read claims. Findings keep the detectors' order.
	found := make([][]Finding, len(detectors))
	run := func(from, to int) {
		for i := from; i < to; i++ {
			found[i] = a.runDetector(i, detectors[i], dc)
		}
	}
	early := len(detectorsWithoutCalls)
	claiming := early + len(detectorsClaiming)
	parallel(dc.groupCalls, func() { run(0, early) })
	dc.findO365Calls()
	parallel(func() { run(early, claiming) }, func() {
		run(claiming, len(detectors))
		rep.Classes = classTotals(js)
	})
	for _, fs := range found {
		rep.Findings = append(rep.Findings, fs...)
	}
	sortFindings(rep.Findings)
	switch {
	case a.opts.NoFlowList:
	case a.opts.StreamFlows:
		rep.rows = &flowRows{a: a, js: js}
	default:
		rep.Flows = make([]FlowReport, 0, len(js))
		for _, j := range js {
			rep.Flows = append(rep.Flows, a.flowReport(j))
		}
	}
	rep.Verdicts = verdicts(a.ep, js, rep.Findings)
	rep.Remediation = remediation(rep.Findings)
	return rep
}

// judgeAll judges the flows (in id order) in two halves at once: judging
// a flow reads only that flow and the finished DNS table.
func (a *Analyzer) judgeAll(order []*Flow) []*judged {
	js := make([]*judged, len(order))
	backing := make([]judged, len(order)) // one allocation, not one per flow
	half := len(order) / 2
	judgeRange := func(from, to int) {
		for i := from; i < to; i++ {
			js[i] = &backing[i]
			a.judge(js[i], order[i], i+1)
		}
	}
	parallel(func() { judgeRange(0, half) }, func() { judgeRange(half, len(order)) })
	return js
}

// parallel runs f and g at once and returns when both are done; a panic
// in either is raised again here, where the run's guard recovers it.
func parallel(f, g func()) {
	var wg sync.WaitGroup
	var pv any
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { pv = recover() }()
		f()
	}()
	g()
	wg.Wait()
	if pv != nil {
		panic(pv)
	}
}

// runDetector runs one detector; a bug in it costs its findings, with a
// warning, never the report.
func (a *Analyzer) runDetector(i int, d detector, dc *detectContext) (fs []Finding) {
	defer func() {
		if v := recover(); v != nil {
			dc.mu.Lock() // detectors run two at a time
			dc.rep.Capture.Warnings = append(dc.rep.Capture.Warnings,
				fmt.Sprintf("internal error in detector %d: %v (its findings are missing; please report)", i, v))
			dc.mu.Unlock()
			fs = nil
		}
	}()
	return d(dc)
}

func (a *Analyzer) summarize(info *capture.Info, cs *CaptureSummary) {
	cs.Files = []string{}
	cs.LinkTypes = []string{}
	cs.Warnings = []string{}
	cs.Problems = map[string]int{}
	cs.Packets = a.packets
	cs.Bytes = a.bytes
	if a.start != 0 {
		s, e := time.Unix(0, a.start).UTC(), time.Unix(0, a.end).UTC()
		cs.Start, cs.End = &s, &e
		cs.DurationSec = float64(a.end-a.start) / 1e9
	}
	if info != nil {
		for _, f := range info.Files {
			cs.Files = append(cs.Files, f.Name)
			if f.Truncated {
				cs.Truncated = true
			}
			cs.Warnings = append(cs.Warnings, f.Warnings...)
		}
	}
	lts0 := append([]layers.LinkType(nil), a.linkTypes...)
	first := map[layers.LinkType]int64{}
	for i, lt := range a.linkTypes {
		first[lt] = a.linkFirst[i]
	}
	sort.SliceStable(lts0, func(i, j int) bool { return first[lts0[i]] < first[lts0[j]] })
	for _, lt := range lts0 {
		cs.LinkTypes = append(cs.LinkTypes, linkTypeName(lt))
	}
	for k, v := range a.problems {
		cs.Problems[k] = v
	}
	cs.DecodeErrors = a.decodeErrors
	cs.KernelDrops = a.drops
	cs.Fragments = a.fragments
	if a.fragments > 0 {
		cs.Problems["ip fragment (not first)"] = int(a.fragments)
	}
	lts := make([]layers.LinkType, 0, len(a.unknownLink))
	for lt := range a.unknownLink {
		lts = append(lts, lt)
	}
	sort.Slice(lts, func(i, j int) bool { return lts[i] < lts[j] })
	for _, lt := range lts {
		n := a.unknownLink[lt]
		cs.Problems["unsupported link type"] += int(n)
		cs.Warnings = append(cs.Warnings, fmt.Sprintf("link type %d not supported: %d packets not decoded", lt, n))
	}
	sort.SliceStable(a.notes, func(i, j int) bool { return a.notes[i].frame < a.notes[j].frame })
	for _, n := range a.notes {
		cs.Warnings = append(cs.Warnings, n.text)
	}
	if a.flowsFolded > 0 {
		cs.FlowsFolded = a.flowsFolded
		cs.Warnings = append(cs.Warnings, fmt.Sprintf("more than %d flows (a quarter of --max-flows): %d flows were folded into look-alike flows (same class, names, server port (the edge's 50060-59999 as one), state and payload outcome): they count in the class totals and as \"more\" in the flow list and findings, without their own rows, and calls are grouped from the flows kept (raise --max-flows to list them all)", foldFrom(a.opts.MaxFlows), a.flowsFolded))
	}
	if a.evicted > 0 {
		cs.FlowsEvicted = a.evicted
		cs.Warnings = append(cs.Warnings, fmt.Sprintf("flow table full (%d flows): %d packets of further flows not tracked (raise --max-flows, or shorten the timeouts, to track them)", a.opts.MaxFlows, a.evicted))
	}
	if a.packets == 0 {
		cs.Warnings = append(cs.Warnings, "capture contains no packets")
	}
}

func linkTypeName(lt layers.LinkType) string {
	switch lt {
	case layers.LinkTypeEthernet:
		return "ethernet"
	case layers.LinkTypeNull:
		return "null"
	case layers.LinkTypeLoop:
		return "loop"
	case layers.LinkTypeLinuxSLL:
		return "linux-sll"
	case layers.LinkTypeLinuxSLL2:
		return "linux-sll2"
	case layers.LinkTypeRaw, 12, 14:
		return fmt.Sprintf("raw-ip(%d)", uint16(lt))
	case layers.LinkTypeIPv4:
		return "ipv4"
	case layers.LinkTypeIPv6:
		return "ipv6"
	case layers.LinkTypePPP:
		return "ppp"
	}
	return fmt.Sprintf("linktype-%d", uint16(lt))
}

// judge classifies one flow: name first (SNI, else DNS name, else the Office
// 365 range), then payload, then port.
func (a *Analyzer) judge(j *judged, f *Flow, id int) {
	*j = judged{Flow: f, ID: int32(id)}
	sni := f.pl.sni()
	j.DNSName = a.dns.nameFor(f.Server().Addr())
	portClass := classifyByPort(f)
	class := portClass
	ev := evPort
	name := sni
	if name == "" {
		name = j.DNSName
	}
	nameClass := ""
	if name != "" {
		nameClass = classForName(name)
	}
	j.mediaName = nameClass == "media"
	if sni != "" {
		ev |= evSNI
	} else if j.DNSName != "" {
		ev |= evDNS
	}
	if f.area != 0 {
		ev |= evO365Range
	}
	ev |= f.pl.evidence()
	media := mediaClassForPort(f.clientPort())
	switch {
	case nameClass == "media" || f.pl.mediaOverTCP():
		if media != "" {
			class = media
		} else if m := f.pl.guessModality(); m != "" {
			class, ev = m, ev|evHeuristic
		} else {
			class = ClassSTUN
		}
	case nameClass == ClassSIP || nameClass == ClassPSOM:
		if f.Proto == protoTCP {
			class = nameClass
		}
	case media != "":
		class = media
	case f.pl.hasRTP():
		if m := f.pl.guessModality(); m != "" {
			class = m
		} else {
			class = ClassAudio
		}
		ev |= evHeuristic
	case portClass == ClassSTUN && !f.pl.hasSTUN():
		// Not every UDP 3478 flow is STUN (Teams' flightproxy): port
		// alone is not enough when the payload says otherwise.
		if f.pl.sawPayload() {
			class = ClassOther
		}
	case f.pl.hasSTUN() && portClass == ClassOther:
		class = ClassSTUN
	case f.pl.isSIP() && portClass == ClassOther:
		class = ClassSIP
	}
	j.Class = class
	j.evidence = ev
}

// classOrder is the order of the per-class table.
var classOrder = []string{ClassSIP, ClassPSOM, ClassHTTPS, ClassAudio, ClassVideo, ClassDesktopShare, ClassSTUN, ClassPush, ClassDNS, ClassHTTP, ClassOther}

func classTotals(js []*judged) []ClassSummary {
	m := map[string]*ClassSummary{}
	for _, j := range js {
		r := m[j.Class]
		if r == nil {
			r = &ClassSummary{Class: j.Class}
			m[j.Class] = r
		}
		n := 1 + j.foldedFlows() // folded look-alikes share the class and the answer
		r.Flows += n
		r.Packets.C2S += j.Dir[c2s].Packets
		r.Packets.S2C += j.Dir[s2c].Packets
		r.Bytes.C2S += j.Dir[c2s].Bytes
		r.Bytes.S2C += j.Dir[s2c].Bytes
		if fo := j.foldTotals(); fo != nil {
			r.Packets.C2S += fo.packets[c2s]
			r.Packets.S2C += fo.packets[s2c]
			r.Bytes.C2S += fo.bytes[c2s]
			r.Bytes.S2C += fo.bytes[s2c]
		}
		if j.Dir[s2c].Packets == 0 {
			r.Unanswered += n
		}
	}
	out := []ClassSummary{}
	for _, c := range classOrder {
		if r := m[c]; r != nil {
			out = append(out, *r)
		}
	}
	return out
}

func hostPort(ap netip.AddrPort) string { return ap.String() } // IPv6 in brackets

func transportName(p uint8) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	}
	return fmt.Sprintf("ip-%d", p)
}

func nsTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (a *Analyzer) flowReport(j *judged) FlowReport {
	f := j.Flow
	fr := FlowReport{
		ID:           int(j.ID),
		Transport:    transportName(f.Proto),
		Client:       hostPort(f.Client()),
		Server:       hostPort(f.Server()),
		Class:        j.Class,
		Evidence:     j.evidence.list(),
		O365:         f.o365(),
		Packets:      Dir{C2S: f.Dir[c2s].Packets, S2C: f.Dir[s2c].Packets},
		Bytes:        Dir{C2S: f.Dir[c2s].Bytes, S2C: f.Dir[s2c].Bytes},
		First:        Time{nsTime(f.First)},
		Last:         Time{nsTime(f.Last)},
		FirstFrame:   f.firstFrame(),
		State:        flowState(f),
		Folded:       f.foldedFlows(),
		SNI:          j.sni(),
		DNSName:      j.DNSName,
		Connectivity: j.conn.String(),
	}
	if f.Proto == protoTCP {
		fr.TCPFlags = tcpFlagsString(f)
	}
	if j.Call != 0 {
		c := int(j.Call)
		fr.Call = &c
	}
	f.pl.fillReport(&fr)
	return fr
}

// flowState mirrors Zeek's conn_state for TCP; UDP says answered or not.
func flowState(f *Flow) string {
	t := f.tcp
	if f.Proto != protoTCP {
		if f.Dir[s2c].Packets > 0 && f.Dir[c2s].Packets > 0 {
			return "answered"
		}
		if f.Dir[c2s].Packets > 0 {
			return "unanswered"
		}
		return "server-only"
	}
	switch {
	case !t.synSeen && !t.synAckSeen:
		return "OTH"
	case t.synSeen && !t.synAckSeen && t.rstFrame != 0 && t.rstSide == s2c:
		return "REJ"
	case t.synSeen && !t.synAckSeen && f.Dir[c2s].Flags&tcpFIN != 0:
		return "SH"
	case t.synSeen && !t.synAckSeen && f.Dir[s2c].Packets == 0:
		return "S0"
	case t.rstFrame != 0 && t.rstSide == c2s:
		return "RSTO"
	case t.rstFrame != 0:
		return "RSTR"
	case t.finFrame[c2s] != 0 && t.finFrame[s2c] != 0:
		return "SF"
	default:
		return "S1"
	}
}

func tcpFlagsString(f *Flow) string {
	var b strings.Builder
	t := f.tcp
	if t.synSeen {
		b.WriteString("SYN")
		if t.synCount > 1 {
			fmt.Fprintf(&b, "x%d", t.synCount)
		}
	}
	add := func(s string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	if t.synAckSeen {
		add("SYN-ACK")
	}
	if f.Dir[c2s].Flags&tcpFIN != 0 {
		add("FIN>")
	}
	if f.Dir[s2c].Flags&tcpFIN != 0 {
		add("<FIN")
	}
	if f.Dir[c2s].Flags&tcpRST != 0 {
		add("RST>")
	}
	if f.Dir[s2c].Flags&tcpRST != 0 {
		add("<RST")
	}
	return b.String()
}

// AnalyzeFiles opens the capture files (merged in timestamp order) and
// analyzes them.
func AnalyzeFiles(names []string, opts Options) (*Report, error) {
	src, err := capture.Open(names...)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return Run(context.Background(), src, opts)
}
