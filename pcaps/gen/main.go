// Command gen writes the synthetic captures in pcaps/ and the benchmark corpus.
//
//	go run ./pcaps/gen                      # scenario captures + README.md into pcaps/
//	go run ./pcaps/gen -out DIR             # same, into DIR
//	go run ./pcaps/gen -bench FILE -size 1e9 -seed 1
//
// Output is byte-for-byte deterministic: fixed PCG seeds, a fixed base
// timestamp (2026-11-02T09:00:00Z), no map iteration, no wall clock.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	out := fs.String("out", "pcaps", "directory for the scenario captures and README.md")
	bench := fs.String("bench", "", "write the benchmark corpus (classic pcap) to `FILE` instead")
	seed := fs.Uint64("seed", 1, "benchmark corpus seed")
	only := fs.String("only", "", "comma-separated capture names to write (default all)")
	size := int64(1e9)
	fs.Func("size", "benchmark corpus size in `BYTES` (1e9 and 1000000000 both work; default 1e9)", func(s string) error {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 1 || f > 1e13 {
			return fmt.Errorf("invalid size %q (want a byte count such as 1e9)", s)
		}
		size = int64(f)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *bench != "" {
		start := time.Now()
		st, err := writeBench(*bench, size, *seed)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "gen: %s: %d bytes, %d packets, %d flows in %v\n", *bench, st.bytes, st.packets, st.flows, time.Since(start).Round(time.Millisecond))
		return 0
	}
	if err := writeAll(*out, *only); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		return 1
	}
	return 0
}

// writeAll builds every scenario, writes those selected by only, and
// README.md (always, since it documents all of them).
func writeAll(dir, only string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var sel []string
	if only != "" {
		sel = strings.Split(only, ",")
	}
	var readme bytes.Buffer
	readme.WriteString(readmeHead)
	for _, build := range scenarios {
		c := build()
		fs := c.sorted()
		if sel == nil || contains(sel, c.name) {
			var err error
			if fs, err = c.write(dir); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
		c.document(&readme, fs)
	}
	if sel == nil {
		return os.WriteFile(filepath.Join(dir, "README.md"), readme.Bytes(), 0o644)
	}
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

const readmeHead = `# Generated captures

Written by ` + "`go run ./pcaps/gen -out pcaps`" + ` (package ` + "`pcaps/gen`" + `); do not edit by hand —
this file is generated with the captures so frame numbers stay true. ` + "`go test ./pcaps/gen`" + `
checks that regeneration is byte-identical.

This is the contract for the detectors: each capture lists the findings it MUST produce
(code and flows) and the ones it MUST NOT produce. Frame numbers are 1-based as in
Wireshark. Times are offsets from the first packet's base, 2026-11-02T09:00:00Z.

Conventions used in every file unless stated otherwise:

- Client 192.168.1.10 (MAC 00:15:5d:0a:01:10), IPv6 client 2001:db8:10::10; firewall,
  gateway and DNS resolver 192.168.1.1 / 2001:db8:10::1; NAT public address 203.0.113.45.
- TTL: client 128; Internet servers 50 (64 minus 14 hops); firewall/resolver/proxy 64;
  middlebox-forged RSTs 254.
- Office 365 addresses: sipdir.online.lync.com 52.112.196.42, webpoolam41e02.infra.lync.com
  52.112.197.30, teams.microsoft.com 52.113.194.132, login.microsoftonline.com 20.190.151.7,
  outlook.office365.com 52.96.91.34, contoso.sharepoint.com 13.107.136.9, media relay
  worldaz.tr.teams.microsoft.com 52.114.250.27 (and 52.114.250.28), media edge 13.107.64.21;
  IPv6 sipdir 2603:1027::12, teams 2603:1027:0:1::21, relay 2603:1063:2:4::15.
  Apple push 17.57.144.84:5223.
- Client ephemeral (non-media) TCP ports are 49700-49999 or 60000-65000, never 50000-59999.
- Media: audio from 50010 (RTP PT 104 SILK/16000, 20 ms), video from 50030 (PT 122
  X-H264UC/90000), sharing from 50045 (PT 127 x-data/90000); RTCP (PT 200/201) muxed on
  the same ports every 5 s. SRTP payloads are random bytes; RTP headers are in clear.
- Unanswered STUN follows RFC 5389 7.2.1: retransmissions at +0.5, +1.5, +3.5, +7.5,
  +15.5, +31.5 s with the same transaction id. Unanswered SYNs are retransmitted after
  1 s, 2 s and 4 s (sent at t, t+1, t+3, t+7 s).
- A first TURN Allocate answered by 401 is the normal challenge, never a failure.

`

// document appends the README section of c using the frame order fs.
func (c *capture) document(w *bytes.Buffer, fs []frame) {
	fmt.Fprintf(w, "## %s\n\n", c.name)
	format := "classic pcap"
	if c.ng {
		format = "pcapng"
	}
	var links []string
	for _, ifc := range c.ifaces {
		links = append(links, fmt.Sprintf("%s (%s)", ifc.kind.linkType(), ifc.name))
	}
	var span time.Duration
	if len(fs) > 0 {
		span = fs[len(fs)-1].at - fs[0].at
	}
	fmt.Fprintf(w, "%s. %s; link type %s; %d frames over %.3f s.\n\n", c.title, format, strings.Join(links, ", "), len(fs), span.Seconds())
	if c.desc != "" {
		w.WriteString(strings.TrimSpace(c.desc))
		w.WriteString("\n\n")
	}
	w.WriteString("Findings:\n\n")
	for _, e := range c.expects {
		switch {
		case e.code == "":
			fmt.Fprintf(w, "- %s\n", e.flows)
		case e.must:
			fmt.Fprintf(w, "- MUST `%s`: %s\n", e.code, e.flows)
		default:
			fmt.Fprintf(w, "- MUST NOT `%s`: %s\n", e.code, e.flows)
		}
	}
	w.WriteString("\nFrames that matter:\n\n")
	for i, f := range fs {
		if f.note != "" {
			fmt.Fprintf(w, "- %d (t=%.3f s): %s\n", i+1, f.at.Seconds(), f.note)
		}
	}
	c.documentFlows(w, fs)
	for _, l := range c.extra {
		fmt.Fprintf(w, "\n%s\n", l)
	}
	w.WriteString("\n")
}
