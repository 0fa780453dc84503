// Package lab is the firewall lab: it reproduces the failure modes of the
// knowledge-base article with real kernels, real firewalls and real peers,
// and captures what a customer's client would see.
//
// Each [Lab] builds three network namespaces joined by veth pairs:
//
//	client (192.168.50.2, fd00:50::2)
//	   |  veth0 <-> cli0
//	fw     (192.168.50.1, fd00:50::1 / 192.168.51.1, fd00:51::1; router, iptables)
//	   |  srv0 <-> veth0
//	o365   (192.168.51.2, fd00:51::2, plus 52.112.0.10, 52.112.0.11,
//	        52.113.0.20, 17.57.146.20, 2603:1027::10, 2603:1027::11)
//
// The Office 365 and Apple addresses exist only inside the o365 namespace,
// so range logic in the analyzer applies while nothing leaves the machine:
// the namespaces have no link to the host and fw has no default route.
//
// Peers in o365 are coturn (UDP/TCP 3478-3481, user lab/labpass, realm
// lync.com), openssl s_server on 443 with a *.lync.com certificate made at
// run time, socat UDP and TCP echo on 50010, 50055, 51000, 55000 and 59999,
// and a TCP listener on 5223. Clients run in the client namespace: the coturn
// utilities and openssl s_client as processes, RTP, TCP and TLS clients as Go
// code on a thread switched into the namespace with setns(2) ([Lab.Do]).
//
// [Scenarios] lists the article's failure modes (issue 5): firewall rules,
// traffic, and tshark [Check]s that prove the capture shows the failure.
// [Lab.RunScenario] runs one and returns its capture, taken by tcpdump on
// the client's veth0 ([CaptureFilter]); [Verify] runs the checks. The tests
// also compare the analyzer's findings with the expected codes, and with
// SFBTRACE_LAB_OUT set they copy each capture there (make lab: pcaps/lab).
//
// Namespace names carry [Prefix], the test process id and a sequence number,
// so parallel runs do not collide; [New] first removes namespaces left by
// runs whose process is gone, and registers a cleanup that stops every
// process it started and deletes its namespaces, also when a test fails.
//
// Everything needs root (CAP_NET_ADMIN, CAP_NET_RAW) and the tools listed in
// [Tools]; [New] skips the test with a clear message when either is missing.
// The package is Linux-only; elsewhere [New] skips.
//
// Client methods ([Lab.Do], [Lab.Run], [Lab.SendRTP], [Lab.DialTLS], ...)
// may run concurrently on one Lab; set-up methods ([Lab.Firewall],
// [Lab.StartPeers], [Lab.StartCapture]) are meant to be called in sequence.
// Separate Labs are independent.
package lab
