//go:build linux

package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CertNames are the DNS names of the TLS peer's certificate.
var CertNames = []string{"*.lync.com", "*.online.lync.com", "*.teams.microsoft.com", "*.tr.teams.microsoft.com"}

// StartPeers starts the Office 365 side in the o365 namespace and waits
// until every listener is bound:
//   - coturn on UDP and TCP 3478, 3479, 3480 and 3481 (one instance each) on
//     every o365 address, relay ports 40000-40999 on Edge and EdgeV6;
//   - openssl s_server on TCP 443 (all addresses), echoing each line
//     reversed (-rev), so TLS carries data both ways;
//   - socat UDP and TCP echo on [EchoPorts];
//   - socat TCP echo on 5223.
func (l *Lab) StartPeers() error {
	cert, key, err := l.writeCert()
	if err != nil {
		return err
	}
	// One coturn per port: coturn listens on one port plus an alternate
	// one used only for RFC 5780 tests, which we turn off so a binding is
	// one request and one response.
	for i, port := range []int{3478, 3479, 3480, 3481} {
		args := []string{"turnserver", "-n", "--no-tls", "--no-dtls", "--no-cli",
			"--listening-port", strconv.Itoa(port),
			"-L", Edge, "-L", Edge2, "-L", Relay, "-L", EdgeV6,
			"--relay-ip", Edge, "--relay-ip", EdgeV6,
			"--min-port", "40000", "--max-port", "40999",
			"--lt-cred-mech", "--user", TURNUser + ":" + TURNPass, "--realm", TURNRealm,
			"--fingerprint", "--no-software-attribute", "--no-rfc5780",
			"--log-file", "stdout", "--simple-log",
			"--pidfile", filepath.Join(l.Dir, fmt.Sprintf("turnserver%d.pid", i)),
			"--db", filepath.Join(l.Dir, fmt.Sprintf("turndb%d", i)),
		}
		if _, err := l.Start(l.O365, fmt.Sprintf("turnserver-%d", port), args...); err != nil {
			return err
		}
	}
	for _, family := range []string{"-4", "-6"} {
		if _, err := l.Start(l.O365, "s_server-443"+family, "openssl", "s_server", family, "-accept", "443",
			"-cert", cert, "-key", key, "-rev", "-quiet"); err != nil {
			return err
		}
	}
	for _, p := range EchoPorts {
		if _, err := l.Start(l.O365, fmt.Sprintf("echo-udp-%d", p), "socat",
			fmt.Sprintf("UDP6-RECVFROM:%d,ipv6only=0,fork,reuseaddr", p), "PIPE"); err != nil {
			return err
		}
		if _, err := l.Start(l.O365, fmt.Sprintf("echo-tcp-%d", p), "socat",
			fmt.Sprintf("TCP6-LISTEN:%d,ipv6only=0,fork,reuseaddr", p), "PIPE"); err != nil {
			return err
		}
	}
	if _, err := l.Start(l.O365, "push-5223", "socat", "TCP6-LISTEN:5223,ipv6only=0,fork,reuseaddr", "PIPE"); err != nil {
		return err
	}
	want := []string{"udp:3478", "udp:3479", "udp:3480", "udp:3481",
		"tcp:3478", "tcp:3479", "tcp:3480", "tcp:3481", "tcp:443", "tcp:5223"}
	for _, p := range EchoPorts {
		want = append(want, fmt.Sprintf("udp:%d", p), fmt.Sprintf("tcp:%d", p))
	}
	return l.WaitListening(l.O365, want, 5*time.Second)
}

// WaitListening waits until namespace ns has a socket bound to each
// "proto:port" in want.
func (l *Lab) WaitListening(ns string, want []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := l.Run(ns, 3*time.Second, "ss", "-Hlnut")
		if err != nil {
			return err
		}
		bound := map[string]bool{}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			i := strings.LastIndexByte(f[4], ':')
			bound[f[0]+":"+f[4][i+1:]] = true
		}
		var missing []string
		for _, w := range want {
			if !bound[w] {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("peers not listening within %v: %s\n%s", timeout, strings.Join(missing, ", "), l.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logs returns the tail of every process log, for failure messages.
func (l *Lab) logs() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, p := range l.procs {
		out := p.Output()
		if len(out) > 600 {
			out = "..." + out[len(out)-600:]
		}
		fmt.Fprintf(&b, "--- %s (exited %v)\n%s\n", p.Name, p.Exited(), out)
	}
	return b.String()
}

// CAName is the issuer of the lab's server certificate. It names
// Microsoft because the analyzer reports a certificate for an Office 365 name
// from any other issuer as TLS interception (visible in TLS 1.2), and only
// the interception scenarios should look like that.
const CAName = "sfbtrace lab stand-in for Microsoft Azure TLS Issuing CA"

// writeCert makes a lab CA and an ECDSA server certificate for [CertNames]
// signed by it, in Dir.
func (l *Lab) writeCert() (certFile, keyFile string, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: CAName, Organization: []string{"sfbtrace lab"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: CertNames[0], Organization: []string{"sfbtrace lab"}},
		DNSNames:     CertNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(l.Dir, "cert.pem"), filepath.Join(l.Dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}
