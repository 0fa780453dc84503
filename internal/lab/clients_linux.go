//go:build linux

package lab

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread switched into namespace ns (setns(2)), so the
// sockets fn opens live there; they stay there when used from other
// goroutines. The thread is thrown away afterwards (the goroutine returns
// still locked), so no other goroutine ever runs in ns.
func (l *Lab) Do(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// hostPort joins an address and a port, bracketing IPv6.
func hostPort(addr string, port int) string { return net.JoinHostPort(addr, strconv.Itoa(port)) }

// RTPResult says what an RTP exchange saw.
type RTPResult struct{ Sent, Echoed int }

// SendRTP sends n RTP version 2 packets (payload type pt, 20 ms apart,
// 40-byte payload) from the client's srcPort to
// dst:dstPort and counts the echoes that come back within a short wait.
func (l *Lab) SendRTP(srcPort int, dst string, dstPort, n int, pt byte) (RTPResult, error) {
	var res RTPResult
	err := l.Do(l.Client, func() error {
		src := ClientV4
		if netip.MustParseAddr(dst).Is6() {
			src = ClientV6
		}
		la, err := net.ResolveUDPAddr("udp", hostPort(src, srcPort))
		if err != nil {
			return err
		}
		ra, err := net.ResolveUDPAddr("udp", hostPort(dst, dstPort))
		if err != nil {
			return err
		}
		c, err := net.DialUDP("udp", la, ra)
		if err != nil {
			return err
		}
		defer c.Close()
		pkt := make([]byte, 12+40) // 40 bytes: a 20 ms SILK frame; keeps captures small
		ssrc := uint32(0x5FB00000 | srcPort)
		for i := range n {
			pkt[0] = 0x80 // V=2, no padding, no extension, no CSRC
			pkt[1] = pt
			if i == 0 {
				pkt[1] |= 0x80 // marker on the first packet of a talkspurt
			}
			binary.BigEndian.PutUint16(pkt[2:], uint16(1000+i))
			binary.BigEndian.PutUint32(pkt[4:], uint32(160*i))
			binary.BigEndian.PutUint32(pkt[8:], ssrc)
			for j := 12; j < len(pkt); j++ {
				pkt[j] = byte(i + j)
			}
			if _, err := c.Write(pkt); err == nil {
				res.Sent++
			}
			time.Sleep(20 * time.Millisecond)
		}
		buf := make([]byte, 2048)
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for res.Echoed < n {
			if _, err := c.Read(buf); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				// ICMP errors surface as ECONNREFUSED/EHOSTUNREACH on a
				// connected socket: keep reading until the deadline.
				continue
			}
			res.Echoed++
		}
		return nil
	})
	return res, err
}

// DialTCP connects from the client to dst:port, sends a line and waits for
// its echo; it gives up after timeout (SYN retransmissions happen at 1 s,
// 3 s, ...).
func (l *Lab) DialTCP(dst string, port int, timeout time.Duration) error {
	return l.Do(l.Client, func() error {
		c, err := net.DialTimeout("tcp", hostPort(dst, port), timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		if _, err := c.Write([]byte("push keepalive\n")); err != nil {
			return err
		}
		_, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
}

// TLSOptions shapes a TLS client connection.
type TLSOptions struct {
	SrcPort  int           // client source port; 0 = ephemeral
	SNI      string        // server name
	Messages []string      // lines sent, each answered (reversed) by s_server
	Idle     time.Duration // pause before sending the last message
	Timeout  time.Duration // per operation; default 3 s
}

// DialTLS opens a TLS connection from the client to dst:443 and exchanges
// the messages. It returns the number of answers and the first error, which
// for a cut connection is the reset.
func (l *Lab) DialTLS(dst string, o TLSOptions) (answers int, err error) {
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Second
	}
	err = l.Do(l.Client, func() error {
		d := net.Dialer{Timeout: o.Timeout}
		if o.SrcPort != 0 {
			src := ClientV4
			if netip.MustParseAddr(dst).Is6() {
				src = ClientV6
			}
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src), Port: o.SrcPort}
		}
		conn, err := d.Dial("tcp", hostPort(dst, 443))
		if err != nil {
			return err
		}
		defer conn.Close()
		// TLS 1.2 as Teams media relays use it; the certificate is the lab's own.
		c := tls.Client(conn, &tls.Config{ServerName: o.SNI, InsecureSkipVerify: true,
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12})
		_ = c.SetDeadline(time.Now().Add(o.Timeout))
		if err := c.Handshake(); err != nil {
			return err
		}
		r := bufio.NewReader(c)
		for i, m := range o.Messages {
			if i == len(o.Messages)-1 && o.Idle > 0 {
				time.Sleep(o.Idle)
			}
			_ = c.SetDeadline(time.Now().Add(o.Timeout))
			if _, err := c.Write([]byte(m + "\n")); err != nil {
				return err
			}
			if _, err := r.ReadString('\n'); err != nil {
				return err
			}
			answers++
		}
		// close_notify and FIN, then read the server's close_notify and FIN:
		// closing with its alert unread would make the kernel answer RST.
		if err := c.CloseWrite(); err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, c)
		return nil
	})
	return answers, err
}

// TLSHello runs openssl s_client from the client to dst:443 with server
// name sni; stdin is empty, so it closes right after the handshake.
func (l *Lab) TLSHello(dst, sni string) (string, error) {
	return l.Run(l.Client, 3*time.Second, "openssl", "s_client", "-connect", hostPort(dst, 443),
		"-servername", sni, "-brief", "-no_ign_eof")
}

// STUNBinding runs turnutils_stunclient against dst:port (one binding
// request, no RFC 5780 tests), giving up after 3 s.
func (l *Lab) STUNBinding(dst string, port int) (string, error) {
	return l.Run(l.Client, 3*time.Second, "turnutils_stunclient", "-p", strconv.Itoa(port), dst)
}

// TURNAllocate runs turnutils_uclient against dst:port: an Allocate (401
// challenge, then authenticated), a permission for the echo on Edge:55000
// (EdgeV6 for IPv6) and two 64-byte messages through the relay. tcp selects TURN
// over TCP. It gives up after 3 s: uclient idles a few seconds between the
// allocation and the data, so a run cut by the timeout may still have
// allocated ("Received relay addr" in the output).
func (l *Lab) TURNAllocate(dst string, port int, tcp bool) (string, error) {
	// The peer is the echo on the edge itself: an echo on another local
	// address would answer from the address routing picks, which the
	// relay's permission does not cover.
	peer := Edge
	if netip.MustParseAddr(dst).Is6() {
		peer = EdgeV6
	}
	args := []string{"turnutils_uclient", "-v", "-n", "2", "-m", "1", "-c", "-l", "64", "-z", "20",
		"-u", TURNUser, "-w", TURNPass, "-e", peer, "-r", "55000", "-p", strconv.Itoa(port)}
	if tcp {
		args = append(args, "-t")
	}
	return l.Run(l.Client, 3*time.Second, append(args, dst)...)
}
