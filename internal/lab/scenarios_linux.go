//go:build linux

package lab

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Scenario is one failure mode of the article: firewall rules, the traffic
// a client produces through them, and tshark checks proving the capture
// shows the failure.
type Scenario struct {
	Name   string     // "NN-name", also the capture's file name
	Title  string     // one line for humans
	Rules  [][]string // iptables argument lists for the fw namespace ("-6" first: ip6tables)
	Sysctl map[string]string
	// Traffic runs the clients. It fails when the lab misbehaves: a flow
	// that must pass was blocked or one that must be blocked passed.
	Traffic func(l *Lab) error
	Checks  []Check
}

// RunScenario applies the scenario's rules, starts the peers and the capture, runs
// the traffic and returns the path of the finished capture.
func (l *Lab) RunScenario(s Scenario) (string, error) {
	if err := l.Firewall(s.Rules...); err != nil {
		return "", err
	}
	// After the rules: conntrack sysctls exist once a rule loaded conntrack.
	if len(s.Sysctl) > 0 {
		if err := l.Sysctl(l.FW, s.Sysctl); err != nil {
			return "", err
		}
	}
	if err := l.StartPeers(); err != nil {
		return "", err
	}
	c, err := l.StartCapture(s.Name)
	if err != nil {
		return "", err
	}
	terr := s.Traffic(l)
	path, serr := c.Stop()
	if terr != nil {
		return path, fmt.Errorf("traffic: %w\n%s", terr, l.logs())
	}
	return path, serr
}

// concurrently runs fns at once and joins their errors.
func concurrently(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn() }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// must and mustFail turn a client's outcome into a lab error.
func must(what string, out string, err error) error {
	if err != nil {
		return fmt.Errorf("%s must work: %v\n%s", what, err, out)
	}
	return nil
}

func mustFail(what string, out string, err error) error {
	if err == nil {
		return fmt.Errorf("%s must be blocked, but worked:\n%s", what, out)
	}
	return nil
}

func stunOK(l *Lab, dst string, port int) error {
	out, err := l.STUNBinding(dst, port)
	if err == nil && !strings.Contains(out, "reflexive addr") {
		err = errors.New("no reflexive address")
	}
	return must(fmt.Sprintf("STUN binding to %s", hostPort(dst, port)), out, err)
}

func stunBlocked(l *Lab, dst string, port int) error {
	out, err := l.STUNBinding(dst, port)
	if err == nil && !strings.Contains(out, "reflexive addr") {
		err = errors.New("no reflexive address")
	}
	return mustFail(fmt.Sprintf("STUN binding to %s", hostPort(dst, port)), out, err)
}

func turnOK(l *Lab, dst string, port int, tcp bool) error {
	out, err := l.TURNAllocate(dst, port, tcp)
	if strings.Contains(out, "Received relay addr") {
		err = nil // allocated; the relayed data may come after the timeout
	} else if err == nil {
		err = errors.New("no relay address")
	}
	return must(fmt.Sprintf("TURN allocation at %s", hostPort(dst, port)), out, err)
}

func turnBlocked(l *Lab, dst string, port int) error {
	out, err := l.TURNAllocate(dst, port, false)
	if err == nil || strings.Contains(out, "Received relay addr") {
		err = nil
	}
	return mustFail(fmt.Sprintf("TURN allocation at %s", hostPort(dst, port)), out, err)
}

func helloOK(l *Lab, dst, sni string) error {
	out, err := l.TLSHello(dst, sni)
	if err == nil && !strings.Contains(out, "CONNECTION ESTABLISHED") {
		err = errors.New("no handshake")
	}
	return must(fmt.Sprintf("TLS to %s (%s)", hostPort(dst, 443), sni), out, err)
}

func helloBlocked(l *Lab, dst, sni string) error {
	out, err := l.TLSHello(dst, sni)
	if err == nil && !strings.Contains(out, "CONNECTION ESTABLISHED") {
		err = errors.New("no handshake")
	}
	return mustFail(fmt.Sprintf("TLS to %s (%s)", hostPort(dst, 443), sni), out, err)
}

func rtp(l *Lab, src int, dst string, dport int, echoed bool) error {
	const n = 6
	// Payload type by the modality of the client port: 104 SILK/16000
	// (audio), 122 X-H264UC (video), 127 x-data (sharing).
	pt := byte(104)
	switch {
	case src >= 50020 && src <= 50039:
		pt = 122
	case src >= 50040 && src <= 50059:
		pt = 127
	}
	r, err := l.SendRTP(src, dst, dport, n, pt)
	what := fmt.Sprintf("RTP from :%d to %s", src, hostPort(dst, dport))
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case echoed && r.Echoed == 0:
		return fmt.Errorf("%s must work: %d sent, none echoed", what, r.Sent)
	case !echoed && r.Echoed > 0:
		return fmt.Errorf("%s must be blocked: %d echoed", what, r.Echoed)
	}
	return nil
}

// Scenarios are the firewall lab's cases (issue 5), in order.
func Scenarios() []Scenario {
	return []Scenario{
		{
			Name:  "01-all-open",
			Title: "no rules: STUN, TURN, SIP over TLS, audio RTP and push all work",
			Traffic: func(l *Lab) error {
				// TURN first and alongside the rest: uclient idles a few
				// seconds after allocating, so it bounds the run time.
				return concurrently(
					func() error { return turnOK(l, Edge, 3478, false) },
					func() error {
						time.Sleep(200 * time.Millisecond) // STUN/TURN packets first, calls start so
						return errors.Join(
							stunOK(l, Edge, 3478),
							helloOK(l, Edge, "sipdir.online.lync.com"),
							rtp(l, 50000, Edge, 50010, true),
							must("TCP 5223 to the push service", "", l.DialTCP(Push, 5223, 3*time.Second)),
						)
					},
				)
			},
			Checks: []Check{
				{Why: "STUN binding success", Filter: "stun.type == 0x0101", Min: 1},
				{Why: "TURN allocate success", Filter: "stun.type == 0x0103", Min: 1},
				{Why: "TLS ServerHello from the edge", Filter: "ip.src == 52.112.0.10 && tls.handshake.type == 2", Min: 1},
				{Why: "audio RTP echoed", Filter: "udp.srcport == 50010 && udp.dstport == 50000", Min: 5},
				{Why: "push answered", Filter: "tcp.srcport == 5223 && tcp.len > 0", Min: 1},
				{Why: "no resets", Filter: "tcp.flags.reset == 1", None: true},
				// The client itself may answer an echo that arrives after its
				// socket closed with port-unreachable: only the firewall's
				// ICMP would mean a rule.
				{Why: "no ICMP errors from the firewall", Filter: "(icmp || icmpv6) && (ip.src == 192.168.50.1 || ipv6.src == fd00:50::1)", None: true},
			},
		},
		{
			Name:  "02-udp-stun-dropped",
			Title: "UDP 3478-3481 dropped: STUN/TURN unanswered, media falls back to TLS on TCP 443 from source port 50012",
			Rules: [][]string{{"-A", "FORWARD", "-p", "udp", "--dport", "3478:3481", "-j", "DROP"}},
			Traffic: func(l *Lab) error {
				media := func() error {
					n, err := l.DialTLS(Edge, TLSOptions{SrcPort: 50012, SNI: "worldaz.tr.teams.microsoft.com",
						Messages: []string{"media frame 1", "media frame 2", "media frame 3"}})
					if err == nil && n != 3 {
						err = fmt.Errorf("%d answers, want 3", n)
					}
					return must("media over TLS from :50012", "", err)
				}
				return concurrently(
					func() error { return stunBlocked(l, Edge, 3478) },
					func() error { return turnBlocked(l, Edge, 3479) },
					func() error { time.Sleep(time.Second); return media() },
				)
			},
			Checks: []Check{
				{Why: "STUN requests sent", Filter: "udp.dstport == 3478", Min: 1},
				{Why: "TURN requests sent", Filter: "udp.dstport == 3479", Min: 1},
				{Why: "no STUN/TURN answer", Filter: "udp.srcport >= 3478 && udp.srcport <= 3481", None: true},
				{Why: "TLS from the media port with a relay name", Filter: `tcp.srcport == 50012 && tls.handshake.extensions_server_name == "worldaz.tr.teams.microsoft.com"`, Min: 1},
				{Why: "media data client to relay", Filter: "tcp.srcport == 50012 && tls.app_data", Min: 3},
				{Why: "media data relay to client", Filter: "tcp.dstport == 50012 && tls.app_data", Min: 3},
			},
		},
		{
			Name:  "03-udp-stun-rejected",
			Title: "UDP 3478-3481 rejected with ICMP administratively prohibited from the firewall (192.168.50.1)",
			Rules: [][]string{{"-A", "FORWARD", "-p", "udp", "--dport", "3478:3481", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"}},
			Traffic: func(l *Lab) error {
				return concurrently(
					func() error { return stunBlocked(l, Edge, 3478) },
					func() error { return turnBlocked(l, Edge, 3480) },
				)
			},
			Checks: []Check{
				{Why: "ICMP admin prohibited from the firewall", Filter: "ip.src == 192.168.50.1 && icmp.type == 3 && icmp.code == 13", Min: 2},
				{Why: "ICMP quoting the STUN request", Filter: "icmp.type == 3 && udp.dstport == 3478", Min: 1},
				{Why: "ICMP quoting the TURN request", Filter: "icmp.type == 3 && udp.dstport == 3480", Min: 1},
				{Why: "no STUN/TURN answer", Filter: "!icmp && udp.srcport >= 3478 && udp.srcport <= 3481", None: true},
			},
		},
		{
			Name:  "04-edge-range-copied",
			Title: "only destination ports 50000-50059 open (client range copied): media to 51000/55000/59999 dropped",
			Rules: [][]string{
				{"-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
				{"-A", "FORWARD", "-p", "udp", "--dport", "50000:50059", "-j", "ACCEPT"},
				{"-A", "FORWARD", "-p", "tcp", "--dport", "50000:50059", "-j", "ACCEPT"},
				{"-A", "FORWARD", "-p", "udp", "--dport", "50060:59999", "-j", "DROP"},
				{"-A", "FORWARD", "-p", "tcp", "--dport", "50060:59999", "-j", "DROP"},
			},
			Traffic: func(l *Lab) error {
				return concurrently(
					func() error { return rtp(l, 50000, Edge, 50010, true) },  // audio
					func() error { return rtp(l, 50020, Edge, 50055, true) },  // video
					func() error { return rtp(l, 50001, Edge, 51000, false) }, // audio
					func() error { return rtp(l, 50021, Edge, 55000, false) }, // video
					func() error { return rtp(l, 50040, Edge, 59999, false) }, // sharing
				)
			},
			Checks: []Check{
				{Why: "media to 50010 echoed", Filter: "udp.srcport == 50010 && udp.dstport == 50000", Min: 5},
				{Why: "media to 50055 echoed", Filter: "udp.srcport == 50055 && udp.dstport == 50020", Min: 5},
				{Why: "media to 51000 sent", Filter: "udp.dstport == 51000", Min: 5},
				{Why: "media to 55000 sent", Filter: "udp.dstport == 55000", Min: 5},
				{Why: "media to 59999 sent", Filter: "udp.dstport == 59999", Min: 5},
				{Why: "nothing back from 51000-59999", Filter: "udp.srcport >= 50060 && udp.srcport <= 59999", None: true},
			},
		},
		{
			Name:  "05-tls-sni-reset",
			Title: `ClientHello containing "lync.com" answered by a firewall RST (string match); other names pass`,
			Rules: [][]string{{"-A", "FORWARD", "-p", "tcp", "--dport", "443", "-m", "string", "--algo", "bm",
				"--string", "lync.com", "-j", "REJECT", "--reject-with", "tcp-reset"}},
			Traffic: func(l *Lab) error {
				// Names that pass first: s_server serves one connection at a
				// time, and a connection whose ClientHello the firewall ate
				// keeps it waiting.
				return errors.Join(
					helloOK(l, Edge, "teams.microsoft.com"),
					helloOK(l, Edge, "worldaz.tr.teams.microsoft.com"),
					helloBlocked(l, Edge, "sipdir.online.lync.com"),
					helloBlocked(l, Edge2, "webdir.online.lync.com"),
				)
			},
			Checks: []Check{
				{Why: "lync.com ClientHellos", Filter: `tls.handshake.type == 1 && tls.handshake.extensions_server_name contains "lync.com"`, Min: 2},
				{Why: "RSTs right after them", Filter: "tcp.srcport == 443 && tcp.flags.reset == 1", Min: 2},
				{Why: "other names get a ServerHello", Filter: "tls.handshake.type == 2", Min: 2},
			},
		},
		{
			Name:  "06-push-dropped",
			Title: "TCP 5223 SYNs dropped: push connections retransmit SYNs unanswered; SIP on 443 works",
			Rules: [][]string{{"-A", "FORWARD", "-p", "tcp", "--dport", "5223", "-j", "DROP"}},
			Traffic: func(l *Lab) error {
				return concurrently(
					func() error { return mustFail("TCP 5223 to "+Push, "", l.DialTCP(Push, 5223, 3500*time.Millisecond)) },
					func() error { return mustFail("TCP 5223 to "+Edge, "", l.DialTCP(Edge, 5223, 3500*time.Millisecond)) },
					func() error { return helloOK(l, Edge, "sipdir.online.lync.com") },
				)
			},
			Checks: []Check{
				{Why: "SYNs to 5223", Filter: "tcp.dstport == 5223 && tcp.flags.syn == 1 && tcp.flags.ack == 0", Min: 4},
				{Why: "SYN retransmissions", Filter: "tcp.dstport == 5223 && tcp.analysis.retransmission", Min: 2},
				{Why: "nothing back from 5223", Filter: "tcp.srcport == 5223", None: true},
			},
		},
		{
			Name:  "07-tcp443-refused",
			Title: "TCP 443 to 52.112.0.11 rejected with RST by the firewall; 52.112.0.10 works",
			Rules: [][]string{{"-A", "FORWARD", "-p", "tcp", "-d", Edge2, "--dport", "443", "-j", "REJECT", "--reject-with", "tcp-reset"}},
			Traffic: func(l *Lab) error {
				return errors.Join(
					helloBlocked(l, Edge2, "sipdir.online.lync.com"),
					helloOK(l, Edge, "sipdir.online.lync.com"),
				)
			},
			Checks: []Check{
				{Why: "SYN to 52.112.0.11 answered by RST", Filter: "ip.src == 52.112.0.11 && tcp.flags.reset == 1 && tcp.flags.ack == 1", Min: 1},
				{Why: "no SYN-ACK from 52.112.0.11", Filter: "ip.src == 52.112.0.11 && tcp.flags.syn == 1", None: true},
				{Why: "52.112.0.10 handshakes", Filter: "ip.src == 52.112.0.10 && tls.handshake.type == 2", Min: 1},
			},
		},
		{
			Name:  "08-source-port-out-of-range",
			Title: "firewall allows media only from source ports 50000-50059; media from 41000 and 60001 to the same edge port is dropped",
			Rules: [][]string{
				{"-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
				{"-A", "FORWARD", "-p", "udp", "--sport", "50000:50059", "-m", "multiport", "--dports", "3478:3481,50000:59999", "-j", "ACCEPT"},
				{"-A", "FORWARD", "-p", "udp", "-m", "multiport", "--dports", "3478:3481,50000:59999", "-j", "DROP"},
			},
			Traffic: func(l *Lab) error {
				return concurrently(
					func() error { return rtp(l, 50002, Edge, 50010, true) },
					func() error { return rtp(l, 41000, Edge, 50010, false) },
					func() error { return rtp(l, 60001, Edge, 50010, false) },
				)
			},
			Checks: []Check{
				{Why: "in-range media echoed", Filter: "udp.srcport == 50010 && udp.dstport == 50002", Min: 5},
				{Why: "media from 41000 sent", Filter: "udp.srcport == 41000", Min: 5},
				{Why: "media from 60001 sent", Filter: "udp.srcport == 60001", Min: 5},
				{Why: "no answer to out-of-range ports", Filter: "udp.dstport == 41000 || udp.dstport == 60001", None: true},
			},
		},
		{
			Name:  "09-idle-cut",
			Title: "SIP TLS connection idle 5 s; firewall conntrack forgets it after 3 s and resets the next packet",
			Rules: [][]string{{"-A", "FORWARD", "-p", "tcp", "-m", "conntrack", "--ctstate", "INVALID", "-j", "REJECT", "--reject-with", "tcp-reset"}},
			Sysctl: map[string]string{
				"net.netfilter.nf_conntrack_tcp_timeout_established": "3",
				// Mid-stream packets of a forgotten connection are INVALID
				// instead of being picked up again.
				"net.netfilter.nf_conntrack_tcp_loose": "0",
			},
			Traffic: func(l *Lab) error {
				n, err := l.DialTLS(Edge, TLSOptions{SNI: "sipdir.online.lync.com", Idle: 5 * time.Second,
					Messages: []string{"REGISTER sip:user@contoso.com SIP/2.0", "SUBSCRIBE sip:user@contoso.com SIP/2.0"}})
				switch {
				case n != 1:
					return fmt.Errorf("idle TLS: %d answers before the cut, want 1 (err %v)", n, err)
				case !errors.Is(err, syscall.ECONNRESET):
					return fmt.Errorf("idle TLS: got %v after the idle time, want a reset", err)
				}
				return nil
			},
			Checks: []Check{
				{Why: "data before the idle time", Filter: "tls.app_data && tcp.dstport == 443", Min: 2},
				{Why: "RST after the idle time", Filter: "ip.src == 52.112.0.10 && tcp.flags.reset == 1", Min: 1},
				{Why: "idle gap before the last data", Filter: "tcp.dstport == 443 && tcp.time_delta > 4", Min: 1},
			},
		},
		{
			Name:  "10-ipv6-rejected",
			Title: "IPv6: UDP 3478-3481 rejected with ICMPv6 administratively prohibited; TCP 443 to 2603:1027::11 rejected with RST",
			Rules: [][]string{
				{"-6", "-A", "FORWARD", "-p", "udp", "--dport", "3478:3481", "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited"},
				{"-6", "-A", "FORWARD", "-p", "tcp", "-d", EdgeV6b, "--dport", "443", "-j", "REJECT", "--reject-with", "tcp-reset"},
			},
			Traffic: func(l *Lab) error {
				return errors.Join(
					stunBlocked(l, EdgeV6, 3478),
					helloBlocked(l, EdgeV6b, "sipdir.online.lync.com"),
					helloOK(l, EdgeV6, "sipdir.online.lync.com"),
				)
			},
			Checks: []Check{
				{Why: "ICMPv6 admin prohibited from the firewall", Filter: "ipv6.src == fd00:50::1 && icmpv6.type == 1 && icmpv6.code == 1", Min: 1},
				{Why: "ICMPv6 quoting the STUN request", Filter: "icmpv6.type == 1 && udp.dstport == 3478", Min: 1},
				{Why: "SYN to 2603:1027::11 answered by RST", Filter: "ipv6.src == 2603:1027::11 && tcp.flags.reset == 1", Min: 1},
				{Why: "2603:1027::10 handshakes", Filter: "ipv6.src == 2603:1027::10 && tls.handshake.type == 2", Min: 1},
			},
		},
	}
}
