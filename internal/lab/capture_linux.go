//go:build linux

package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CaptureFilter keeps IP traffic and ICMPv6 errors; it drops ARP and
// neighbour discovery, which say nothing about the firewall and only make
// the committed captures bigger.
const CaptureFilter = "tcp or udp or icmp or (ip6 and ip6[6] == 58 and ip6[40] < 128)"

// Capture is a running tcpdump on the client's interface.
type Capture struct {
	Path string
	proc *Proc
}

// StartCapture starts tcpdump on the client's veth0, writing name.pcap in
// Dir, and returns once it is listening.
func (l *Lab) StartCapture(name string) (*Capture, error) {
	path := filepath.Join(l.Dir, name+".pcap")
	// -Z root: tcpdump would drop to its own user and could not write Dir.
	// --immediate-mode: without it packets wait in the kernel ring until a
	// block fills or times out, and those still waiting at SIGINT are lost.
	// -U: write each packet at once, so a killed run still leaves a file.
	p, err := l.Start(l.Client, "tcpdump-"+name, "tcpdump", "-i", "veth0", "-n", "--immediate-mode", "-U", "-Z", "root",
		"-s", "0", "-w", path, CaptureFilter)
	if err != nil {
		return nil, err
	}
	if err := p.WaitOutput("listening on", 5*time.Second); err != nil {
		return nil, err
	}
	return &Capture{Path: path, proc: p}, nil
}

// Stop ends the capture with SIGINT (tcpdump then flushes and closes the
// file) and returns its path.
func (c *Capture) Stop() (string, error) {
	// Let the last replies and ICMP errors arrive.
	time.Sleep(200 * time.Millisecond)
	if c.proc.Exited() {
		return c.Path, fmt.Errorf("tcpdump ended before the scenario did (%v):\n%s", c.proc.err, c.proc.Output())
	}
	if err := c.proc.Stop(syscall.SIGINT, 3*time.Second); err != nil {
		return c.Path, err
	}
	return c.Path, nil
}

// Check is a tshark display filter that must match at least Min frames of
// a capture (exactly 0 when Min is 0 and None is set).
type Check struct {
	Why    string
	Filter string
	Min    int
	None   bool // the filter must match nothing
}

// CountFrames returns how many frames of the capture match each tshark
// display filter, in one pass (tshark -z io,stat). Filters must not
// contain commas, which separate them there.
func CountFrames(path string, filters ...string) ([]int, error) {
	spec := "io,stat,0"
	for _, f := range filters {
		if strings.Contains(f, ",") {
			return nil, fmt.Errorf("tshark filter %q: commas are not allowed", f)
		}
		spec += "," + f
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tshark", "-n", "-r", path, "-q", "-z", spec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tshark -r %s -z %s: %w: %s", path, spec, err, strings.TrimSpace(stderr.String()))
	}
	// The one interval row: "| 0.0 <> 7.4 | F1 | B1 | F2 | B2 | ... |".
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, "<>") {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for len(cells) > 0 && strings.TrimSpace(cells[len(cells)-1]) == "" {
			cells = cells[:len(cells)-1] // padding when the title is wider
		}
		if len(cells) != 1+2*len(filters) {
			break
		}
		counts := make([]int, len(filters))
		for i := range filters {
			n, err := strconv.Atoi(strings.TrimSpace(cells[1+2*i]))
			if err != nil {
				return nil, fmt.Errorf("tshark io,stat row %q: %w", line, err)
			}
			counts[i] = n
		}
		return counts, nil
	}
	return nil, fmt.Errorf("tshark -r %s -z %s: no interval row in\n%s", path, spec, out)
}

// Verify runs the checks on a capture and returns one message per failure.
func Verify(path string, checks []Check) []string {
	filters := make([]string, len(checks))
	for i, c := range checks {
		filters[i] = c.Filter
	}
	counts, err := CountFrames(path, filters...)
	if err != nil {
		return []string{err.Error()}
	}
	var bad []string
	for i, c := range checks {
		switch n := counts[i]; {
		case c.None && n != 0:
			bad = append(bad, fmt.Sprintf("%s: got %d frames matching %q, want none", c.Why, n, c.Filter))
		case !c.None && n < c.Min:
			bad = append(bad, fmt.Sprintf("%s: got %d frames matching %q, want at least %d", c.Why, n, c.Filter, c.Min))
		}
	}
	return bad
}
