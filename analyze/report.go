package analyze

import "time"

// Report is the result of an analysis: the JSON document's top level.
// Field names are stable: add, never rename.
type Report struct {
	Capture  CaptureSummary `json:"capture"`
	Verdicts []Verdict      `json:"verdicts"`
	Classes  []ClassSummary `json:"classes"` // per-class totals over every flow
	Flows    []FlowReport   `json:"flows"`
	Findings []Finding      `json:"findings"`
	Calls    []Call         `json:"calls"`
	// CallsOmitted counts the calls grouped but not in Calls: without a flow
	// list (Options.NoFlowList) only the first ones, which the table shows,
	// are described.
	CallsOmitted int `json:"calls_omitted,omitempty"`
	// Remediation is the deduplicated list of rules to add, in the article's words.
	Remediation []string `json:"remediation"`

	rows *flowRows // the flow list, made row by row (Options.StreamFlows)
}

// flowRows makes the flow list's rows on demand.
type flowRows struct {
	a  *Analyzer
	js []*judged
}

// FlowCount is the number of rows in the flow list.
func (r *Report) FlowCount() int {
	if r.rows != nil {
		return len(r.rows.js)
	}
	return len(r.Flows)
}

// EachFlow calls fn with each row of the flow list, in order: those in
// Flows, or made one at a time (Options.StreamFlows). The row is valid
// during the call only. It stops at fn's first error.
func (r *Report) EachFlow(fn func(*FlowReport) error) error {
	for i := range r.Flows {
		if err := fn(&r.Flows[i]); err != nil {
			return err
		}
	}
	if r.rows == nil {
		return nil
	}
	for _, j := range r.rows.js {
		fr := r.rows.a.flowReport(j)
		if err := fn(&fr); err != nil {
			return err
		}
	}
	return nil
}

// CaptureSummary describes what was read.
type CaptureSummary struct {
	Files        []string       `json:"files"`
	Packets      int64          `json:"packets"`
	Bytes        int64          `json:"bytes"` // sum of wire lengths
	Start        *time.Time     `json:"start"` // nil when no packet had a timestamp
	End          *time.Time     `json:"end"`
	DurationSec  float64        `json:"duration_s"`
	LinkTypes    []string       `json:"link_types"`
	DecodeErrors int64          `json:"decode_errors"` // malformed packets (see Problems for reasons)
	Problems     map[string]int `json:"problems"`      // count per reason: "malformed: ipv4: ...", "truncated by snaplen", "non-ip", ...
	Fragments    int64          `json:"fragments"`     // non-first IP fragments (counted, not decoded)
	Truncated    bool           `json:"truncated"`     // an input ended by damage
	Warnings     []string       `json:"warnings"`
	FlowsEvicted int64          `json:"flows_evicted"`
	FlowsFolded  int64          `json:"flows_folded"` // finished flows folded into look-alikes past --max-flows (see FlowReport.Folded)
	KernelDrops  int64          `json:"kernel_drops"` // packets lost by the capturing host (pcapng epb_dropcount)
}

// Severity of a finding.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding is one diagnosed root cause with the evidence for it.
type Finding struct {
	Code        string   `json:"code"`
	Severity    Severity `json:"severity"`
	Title       string   `json:"title"`
	Detail      string   `json:"detail"`
	Remediation string   `json:"remediation"`
	Flows       []int    `json:"flows"`                // flow ids
	Frames      []int64  `json:"frames"`               // 1-based frame numbers to look at in Wireshark
	MoreFlows   int64    `json:"more_flows,omitempty"` // look-alike flows folded into the listed ones (past --max-flows)
	FirstSeen   Time     `json:"first_seen"`
}

// Finding codes: stable strings.
const (
	CodeTCPNoAnswer          = "tcp-no-answer"
	CodeTCPRefused           = "tcp-refused"
	CodeTCPReset             = "tcp-reset"
	CodeTLSResetAfterHello   = "tls-reset-after-hello"
	CodeICMPUnreachable      = "icmp-unreachable"
	CodeUDPNoAnswer          = "udp-no-answer"
	CodeOneWayMedia          = "one-way-media"
	CodeMediaOverTCP         = "media-over-tcp"
	CodeSourcePortOutOfRange = "source-port-out-of-range"
	CodeEdgePortRangeBlocked = "edge-port-range-blocked"
	CodeIdleCut              = "idle-cut"
	CodeDNSFailure           = "dns-failure"
	CodeNonO365Destination   = "non-o365-destination"
	CodeTURNAllocateFailed   = "turn-allocate-failed"
	CodeMediaQuality         = "media-quality"
	CodeNATMappingChanged    = "nat-mapping-changed"
	CodeTLSIntercepted       = "tls-intercepted"
	CodeViaProxy             = "via-proxy"
	CodeCaptureTruncated     = "capture-truncated"
	CodeCaptureGaps          = "capture-gaps"
)

// Verdict is the state of one feature the article lists.
type Verdict struct {
	Feature  string   `json:"feature"` // sign-in/SIP, presence, Outlook integration, file transfer, audio, video, desktop sharing, push
	Status   string   `json:"status"`  // ok, failing, not seen
	Findings []string `json:"findings,omitempty"`
}

// Call groups the media flows of one call.
type Call struct {
	ID      int          `json:"id"`
	Start   Time         `json:"start"`
	End     Time         `json:"end"`
	Flows   []int        `json:"flows"`
	Streams []CallStream `json:"streams"`
}

// CallStream is one media stream of a call with Microsoft's connectivity label.
type CallStream struct {
	Modality     string `json:"modality"`     // audio, video, desktop-share
	Connectivity string `json:"connectivity"` // DIRECT, RELAY, TCP, FAILED
	Flows        []int  `json:"flows"`
	Why          string `json:"why"`
}

// ClassSummary totals the flows of one class.
type ClassSummary struct {
	Class      string `json:"class"`
	Flows      int64  `json:"flows"`
	Packets    Dir    `json:"packets"`
	Bytes      Dir    `json:"bytes"`
	Unanswered int64  `json:"unanswered"` // flows with nothing from the server side
}

// Dir holds a per-direction count.
type Dir struct {
	C2S int64 `json:"c2s"`
	S2C int64 `json:"s2c"`
}

// FlowReport is one flow in the report.
type FlowReport struct {
	ID           int      `json:"id"`
	Transport    string   `json:"transport"` // tcp, udp
	Client       string   `json:"client"`    // ip:port, IPv6 in brackets
	Server       string   `json:"server"`
	Class        string   `json:"class"`
	Evidence     []string `json:"evidence"`
	O365         string   `json:"o365"` // service area of the server address, "" when outside
	Packets      Dir      `json:"packets"`
	Bytes        Dir      `json:"bytes"`
	First        Time     `json:"first"` // null when no packet had a timestamp (pcapng SPB)
	Last         Time     `json:"last"`
	FirstFrame   int64    `json:"first_frame"`
	State        string   `json:"state"`            // Zeek-like conn_state: S0, REJ, SF, RSTO, RSTR, OTH, ... ; UDP: answered/unanswered
	Folded       int64    `json:"folded,omitempty"` // look-alike flows folded into this one (past --max-flows): in the class totals, not in this row's counts
	TCPFlags     string   `json:"tcp_flags,omitempty"`
	SNI          string   `json:"sni"`
	DNSName      string   `json:"dns_name"`
	Connectivity string   `json:"connectivity"`
	Call         *int     `json:"call"`
	STUN         any      `json:"stun,omitempty"`
	RTP          any      `json:"rtp,omitempty"`
	TLS          any      `json:"tls,omitempty"`
	SIP          any      `json:"sip,omitempty"`
}

// Time is a timestamp that marshals as RFC 3339 with nanoseconds, or null
// when unknown: packets from pcapng Simple Packet Blocks carry no time, and
// a report must not show the year 1.
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return t.Time.MarshalJSON()
}
