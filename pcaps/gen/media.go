package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"
)

const (
	turnRealm = "rtcmedia"
	turnPass  = "bXkgc2VjcmV0IHBhc3N3b3Jk"
	software  = "Microsoft-Teams/1.0"
)

// stunRetransmits is the RFC 5389 7.2.1 schedule (RTO 500 ms, Rc 7).
var stunRetransmits = []float64{0, 500, 1500, 3500, 7500, 15500, 31500}

func (c *capture) tid() []byte   { return c.randBytes(12) }
func (c *capture) tid16() []byte { return c.randBytes(16) }

func (c *capture) turnUser() string {
	// 44 bytes: a multiple of 4, as RFC 3489 / MS-TURN parsers expect.
	return fmt.Sprintf("AgAAJA%08X%08XmXqDbzOE+3sp0kzGvW0j==", c.rng.Uint32(), c.rng.Uint32())
}

// allocOutcome selects how the second (authenticated) Allocate is answered.
type allocOutcome int

const (
	allocOK allocOutcome = iota
	allocForbidden
	allocUnanswered
)

// turnAllocate runs an RFC 5766 Allocate on the UDP flow cli->srv: the first
// request is challenged with 401 (normal), the second is answered per outcome.
// It returns the time after the exchange.
func (c *capture) turnAllocate(at time.Duration, cli, srv, mapped, relayed netip.AddrPort, outcome allocOutcome, notes ...string) time.Duration {
	note := func(i int) string {
		if i < len(notes) {
			return notes[i]
		}
		return ""
	}
	reqTransport := attrU32(attrRequestedTransport, 17<<24)
	t1 := c.tid()
	c.udp(at, cli, srv, stunMsg{typ: stunAllocateRequest, tid: t1, attrs: []stunAttr{reqTransport, attrStr(attrSoftware, software)}, fingerprint: true}.bytes(), note(0))
	at += ms(24)
	nonce := fmt.Sprintf("%016x", c.rng.Uint64())
	c.udp(at, srv, cli, stunMsg{typ: stunAllocateError, tid: t1, attrs: []stunAttr{errorCode(401, "Unauthorized"), attrStr(attrRealm, turnRealm), attrStr(attrNonce, nonce)}, fingerprint: true}.bytes(), note(1))
	at += ms(3)
	user := c.turnUser()
	key := longTermKey(user, turnRealm, turnPass)
	t2 := c.tid()
	req2 := stunMsg{typ: stunAllocateRequest, tid: t2, attrs: []stunAttr{reqTransport, attrStr(attrUsername, user), attrStr(attrRealm, turnRealm), attrStr(attrNonce, nonce), attrStr(attrSoftware, software)}, key: key, fingerprint: true}.bytes()
	switch outcome {
	case allocOK:
		c.udp(at, cli, srv, req2, note(2))
		at += ms(24)
		c.udp(at, srv, cli, stunMsg{typ: stunAllocateSuccess, tid: t2, attrs: []stunAttr{
			xorAddr(attrXorRelayedAddress, relayed, t2), xorAddr(attrXorMappedAddress, mapped, t2),
			attrU32(attrLifetime, 600), attrStr(attrSoftware, software)}, key: key, fingerprint: true}.bytes(), note(3))
	case allocForbidden:
		c.udp(at, cli, srv, req2, note(2))
		at += ms(24)
		c.udp(at, srv, cli, stunMsg{typ: stunAllocateError, tid: t2, attrs: []stunAttr{errorCode(403, "Forbidden"), attrStr(attrSoftware, software)}, key: key, fingerprint: true}.bytes(), note(3))
	case allocUnanswered:
		for i, off := range stunRetransmits {
			n := ""
			if i == 0 {
				n = note(2)
			}
			c.udp(at+ms(off), cli, srv, req2, n)
		}
		at += ms(stunRetransmits[len(stunRetransmits)-1])
	}
	return at + ms(1)
}

// msturnAllocate runs an MS-TURN (MS-TURN v6 header without magic cookie,
// MAGIC-COOKIE attribute first) Allocate: 401 challenge, then 0x0103 success.
// The success carries MAPPED-ADDRESS (0x0001) = relayed address and
// XOR-MAPPED-ADDRESS as MS-TURN numbers it (0x8020) = reflexive address.
func (c *capture) msturnAllocate(at time.Duration, cli, srv, mapped, relayed netip.AddrPort, streamType uint16, notes ...string) time.Duration {
	note := func(i int) string {
		if i < len(notes) {
			return notes[i]
		}
		return ""
	}
	magic := attrU32(attrMSMagicCookie, msturnMagicCookieVal)
	version := attrU32(attrMSVersion, 6)
	sq := stunAttr{attrMSServiceQuality, binary.BigEndian.AppendUint32(nil, uint32(streamType)<<16|1)}
	connID := c.randBytes(20)
	seqAttr := func(n uint32) stunAttr {
		return stunAttr{attrMSSequenceNumber, binary.BigEndian.AppendUint32(append([]byte(nil), connID...), n)}
	}
	t1 := c.tid16()
	c.udp(at, cli, srv, stunMsg{typ: stunAllocateRequest, tid: t1, attrs: []stunAttr{magic, version, sq, attrU32(attrBandwidth, 1000)}}.bytes(), note(0))
	at += ms(25)
	nonce := fmt.Sprintf("%032x", c.rng.Uint64())
	c.udp(at, srv, cli, stunMsg{typ: stunAllocateError, tid: t1, attrs: []stunAttr{magic, errorCode(401, "Unauthorized"), attrStr(attrRealm, turnRealm), attrStr(attrNonce, nonce)}}.bytes(), note(1))
	at += ms(3)
	user := c.turnUser()
	key := longTermKey(user, turnRealm, turnPass)
	t2 := c.tid16()
	c.udp(at, cli, srv, stunMsg{typ: stunAllocateRequest, tid: t2, attrs: []stunAttr{magic, version, attrStr(attrUsername, user), attrStr(attrRealm, turnRealm), attrStr(attrNonce, nonce), sq, seqAttr(1)}, key: key}.bytes(), note(2))
	at += ms(25)
	c.udp(at, srv, cli, stunMsg{typ: stunAllocateSuccess, tid: t2, attrs: []stunAttr{magic, version,
		mappedAddr(attrMappedAddress, relayed), xorAddrKey(0x8020, mapped, t2), attrU32(attrLifetime, 480), seqAttr(1)}, key: key}.bytes(), note(3))
	return at + ms(1)
}

// iceCheck returns an ICE connectivity check (RFC 8445 7.1.2) from local to remote.
func (c *capture) iceCheck(remoteUfrag, localUfrag, pwd string, prio uint32) []byte {
	return stunMsg{typ: stunBindingRequest, tid: c.tid(), attrs: []stunAttr{
		attrStr(attrUsername, remoteUfrag+":"+localUfrag),
		attrU32(attrPriority, prio),
		{attrICEControlling, c.randBytes(8)},
	}, key: []byte(pwd), fingerprint: true}.bytes()
}

// binding emits a STUN Binding request and (if mapped is valid) its success
// response carrying XOR-MAPPED-ADDRESS.
func (c *capture) binding(at time.Duration, cli, srv, mapped netip.AddrPort, reqNote, respNote string) time.Duration {
	t := c.tid()
	c.udp(at, cli, srv, stunMsg{typ: stunBindingRequest, tid: t, attrs: []stunAttr{attrStr(attrSoftware, software)}, fingerprint: true}.bytes(), reqNote)
	if !mapped.IsValid() {
		return at
	}
	at += ms(23)
	c.udp(at, srv, cli, stunMsg{typ: stunBindingSuccess, tid: t, attrs: []stunAttr{xorAddr(attrXorMappedAddress, mapped, t), attrStr(attrSoftware, software)}, fingerprint: true}.bytes(), respNote)
	return at + ms(1)
}

// unansweredSTUN emits msg on the RFC 5389 retransmission schedule; the
// retransmissions reuse the transaction id (identical bytes).
func (c *capture) unansweredSTUN(at time.Duration, cli, srv netip.AddrPort, msg []byte, note string) time.Duration {
	for i, off := range stunRetransmits {
		n := ""
		if i == 0 {
			n = note
		}
		c.udp(at+ms(off), cli, srv, msg, n)
	}
	return at + ms(stunRetransmits[len(stunRetransmits)-1])
}

// Media modalities.
type modality struct {
	name     string
	pt       uint8
	clock    int           // RTP clock rate
	interval time.Duration // packet spacing
	minLen   int           // payload bytes
	maxLen   int
}

var (
	audioSILK = modality{"audio", 104, 16000, 20 * time.Millisecond, 38, 62}
	videoH264 = modality{"video", 122, 90000, 200 * time.Millisecond, 160, 320}
	sharing   = modality{"desktop-share", 127, 90000, time.Second, 400, 900}
)

// mediaOpts configure an RTP exchange on one UDP flow.
type mediaOpts struct {
	c2s, s2c bool
	lossPct  int                       // s2c packets dropped before the capture point, percent
	s2cDelay func(i int) time.Duration // extra network delay of s2c packet i (jitter)
	rtcp     time.Duration             // RTCP interval, 0 = none
	first    string                    // note on the first c2s packet
	firstS2C string                    // note on the first s2c packet
}

// mediaStats are measured on what was written (s2c direction).
type mediaStats struct {
	c2sPackets, s2cPackets, s2cLost int
	jitterMs                        float64 // RFC 3550 interarrival jitter at the end
	maxJitterMs, meanJitterMs       float64
	c2sSSRC, s2cSSRC                uint32
}

// media emits RTP for dur on cli<->srv with modality m and returns stats.
func (c *capture) media(at, dur time.Duration, cli, srv netip.AddrPort, m modality, o mediaOpts) mediaStats {
	tsInc := uint32(int64(m.clock) * int64(m.interval) / int64(time.Second))
	up := newRTP(c.rng, m.pt, tsInc)
	down := newRTP(c.rng, m.pt, tsInc)
	st := mediaStats{c2sSSRC: up.ssrc, s2cSSRC: down.ssrc}
	n := int(dur / m.interval)
	var prevArr time.Duration
	var prevTS uint32
	havePrev := false
	var jitter float64
	lastS2C := time.Duration(-1)
	dropAt := -1
	var jitterSum float64
	jitterN := 0
	for i := 0; i < n; i++ {
		t := at + time.Duration(i)*m.interval
		if o.c2s {
			note := ""
			if i == 0 {
				note = o.first
			}
			c.udp(t+ms(0.3), cli, srv, up.next(c.rng, m.minLen+c.rng.IntN(m.maxLen-m.minLen+1), i == 0, true), note)
			st.c2sPackets++
		}
		if o.s2c {
			ts := down.ts
			// exactly one loss per block of 100/lossPct packets, at a random place
			drop := false
			if o.lossPct > 0 {
				block := 100 / o.lossPct
				if i%block == 0 {
					dropAt = i + c.rng.IntN(block)
				}
				drop = i == dropAt
			}
			pkt := down.next(c.rng, m.minLen+c.rng.IntN(m.maxLen-m.minLen+1), i == 0, true)
			arr := t + ms(11)
			if o.s2cDelay != nil {
				arr += o.s2cDelay(i)
			} else {
				arr += time.Duration(c.rng.IntN(2000)) * time.Microsecond // ordinary network jitter
			}
			if arr <= lastS2C {
				arr = lastS2C + ms(0.2)
			}
			if drop {
				st.s2cLost++
				continue
			}
			lastS2C = arr
			note := ""
			if st.s2cPackets == 0 {
				note = o.firstS2C
			}
			c.udp(arr, srv, cli, pkt, note)
			st.s2cPackets++
			if havePrev {
				// RFC 3550 A.8, in milliseconds
				d := float64(arr-prevArr)/1e6 - float64(int64(ts-prevTS))*1000/float64(m.clock)
				jitter += (math.Abs(d) - jitter) / 16
				st.maxJitterMs = max(st.maxJitterMs, jitter)
				jitterSum += jitter
				jitterN++
			}
			prevArr, prevTS, havePrev = arr, ts, true
		}
		if o.rtcp > 0 && i > 0 && time.Duration(i)*m.interval%o.rtcp == 0 {
			now := base.Add(t)
			if o.c2s {
				c.udp(t+ms(0.5), cli, srv, up.rtcpSR(now, down.ssrc, 0, 0), "")
			} else {
				c.udp(t+ms(0.5), cli, srv, rtcpRR(up.ssrc, down.ssrc, uint32(st.s2cLost), uint32(jitter*float64(m.clock)/1000)), "")
			}
			if o.s2c {
				c.udp(t+ms(11.5), srv, cli, down.rtcpSR(now, up.ssrc, 0, 0), "")
			} else {
				c.udp(t+ms(11.5), srv, cli, rtcpRR(down.ssrc, up.ssrc, 0, 0), "")
			}
		}
	}
	st.jitterMs = jitter
	if jitterN > 0 {
		st.meanJitterMs = jitterSum / float64(jitterN)
	}
	return st
}
