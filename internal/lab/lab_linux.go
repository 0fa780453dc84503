//go:build linux

package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Prefix starts the name of every namespace the lab creates.
const Prefix = "sfblab-"

// Addresses of the topology (see the package comment).
const (
	ClientV4   = "192.168.50.2"
	ClientV6   = "fd00:50::2"
	FWClientV4 = "192.168.50.1" // the firewall's client-side address: source of its ICMP errors
	FWClientV6 = "fd00:50::1"
	FWServerV4 = "192.168.51.1"
	FWServerV6 = "fd00:51::1"
	O365LinkV4 = "192.168.51.2"
	O365LinkV6 = "fd00:51::2"

	Edge    = "52.112.0.10"   // TURN, TLS 443, media echo: Skype id 11/12 range 52.112.0.0/14
	Edge2   = "52.112.0.11"   // a second TLS 443 front end
	Relay   = "52.113.0.20"   // another TURN listener address
	Push    = "17.57.146.20"  // Apple push service (17.0.0.0/8), TCP 5223
	EdgeV6  = "2603:1027::10" // Skype id 12 range 2603:1027::/48
	EdgeV6b = "2603:1027::11"
)

// TURN credentials of the static coturn user.
const (
	TURNUser  = "lab"
	TURNPass  = "labpass"
	TURNRealm = "lync.com"
)

// EchoPorts are the ports of the socat UDP and TCP echo servers in o365.
var EchoPorts = []int{50010, 50055, 51000, 55000, 59999}

// Tools are the programs the lab runs.
var Tools = []string{"ip", "iptables", "ip6tables", "sysctl", "ss", "tcpdump", "tshark",
	"turnserver", "turnutils_stunclient", "turnutils_uclient", "socat", "openssl"}

// Lab is one client — fw — o365 topology with its processes.
type Lab struct {
	tb     testing.TB
	Client string // namespace names
	FW     string
	O365   string
	Dir    string // logs, certificate, captures

	mu    sync.Mutex
	procs []*Proc
}

var (
	seq       atomic.Int32
	sweepOnce sync.Once
)

// Usable reports why the lab cannot run here, or "" when it can.
func Usable() string {
	if os.Geteuid() != 0 {
		return "firewall lab needs root (network namespaces, iptables, tcpdump); run `sudo make lab`"
	}
	var missing []string
	for _, t := range Tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return "firewall lab needs " + strings.Join(missing, ", ") +
			": apt-get install -y coturn socat iptables nftables tcpdump iproute2 openssl tshark"
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return "firewall lab needs network namespaces: " + err.Error()
	}
	return ""
}

// New builds the topology, skipping tb when the lab cannot run here. The
// namespaces and every process started through the Lab are removed by a
// tb.Cleanup, also when the test fails.
func New(tb testing.TB) *Lab {
	tb.Helper()
	if why := Usable(); why != "" {
		tb.Skip("skipping: " + why)
	}
	sweepOnce.Do(func() { sweepStale(tb) })
	n := seq.Add(1)
	base := fmt.Sprintf("%s%d-%d-", Prefix, os.Getpid(), n)
	l := &Lab{tb: tb, Client: base + "client", FW: base + "fw", O365: base + "o365", Dir: tb.TempDir()}
	tb.Cleanup(l.close)
	if err := l.build(); err != nil {
		tb.Fatalf("lab: %v", err)
	}
	return l
}

// build creates the namespaces, links, addresses and routes.
func (l *Lab) build() error {
	for _, ns := range []string{l.Client, l.FW, l.O365} {
		if _, err := run(5*time.Second, "ip", "netns", "add", ns); err != nil {
			return err
		}
		// No duplicate address detection: addresses are usable at once, and
		// no router solicitations or DAD probes clutter the captures.
		if err := l.Sysctl(ns, map[string]string{
			"net.ipv6.conf.default.accept_dad":           "0",
			"net.ipv6.conf.all.accept_dad":               "0",
			"net.ipv6.conf.default.dad_transmits":        "0",
			"net.ipv6.conf.default.accept_ra":            "0",
			"net.ipv6.conf.default.router_solicitations": "0",
		}); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"-n", l.Client, "link", "set", "lo", "up"},
		{"-n", l.FW, "link", "set", "lo", "up"},
		{"-n", l.O365, "link", "set", "lo", "up"},
		{"-n", l.Client, "link", "add", "veth0", "type", "veth", "peer", "name", "cli0", "netns", l.FW},
		{"-n", l.O365, "link", "add", "veth0", "type", "veth", "peer", "name", "srv0", "netns", l.FW},

		{"-n", l.Client, "addr", "add", ClientV4 + "/24", "dev", "veth0"},
		{"-n", l.Client, "addr", "add", ClientV6 + "/64", "dev", "veth0", "nodad"},
		{"-n", l.FW, "addr", "add", FWClientV4 + "/24", "dev", "cli0"},
		{"-n", l.FW, "addr", "add", FWClientV6 + "/64", "dev", "cli0", "nodad"},
		{"-n", l.FW, "addr", "add", FWServerV4 + "/24", "dev", "srv0"},
		{"-n", l.FW, "addr", "add", FWServerV6 + "/64", "dev", "srv0", "nodad"},
		{"-n", l.O365, "addr", "add", O365LinkV4 + "/24", "dev", "veth0"},
		{"-n", l.O365, "addr", "add", O365LinkV6 + "/64", "dev", "veth0", "nodad"},
		{"-n", l.O365, "addr", "add", Edge + "/32", "dev", "lo"},
		{"-n", l.O365, "addr", "add", Edge2 + "/32", "dev", "lo"},
		{"-n", l.O365, "addr", "add", Relay + "/32", "dev", "lo"},
		{"-n", l.O365, "addr", "add", Push + "/32", "dev", "lo"},
		{"-n", l.O365, "addr", "add", EdgeV6 + "/128", "dev", "lo", "nodad"},
		{"-n", l.O365, "addr", "add", EdgeV6b + "/128", "dev", "lo", "nodad"},

		{"-n", l.Client, "link", "set", "veth0", "up"},
		{"-n", l.FW, "link", "set", "cli0", "up"},
		{"-n", l.FW, "link", "set", "srv0", "up"},
		{"-n", l.O365, "link", "set", "veth0", "up"},

		{"-n", l.Client, "route", "add", "default", "via", FWClientV4},
		{"-n", l.Client, "-6", "route", "add", "default", "via", FWClientV6},
		// fw has no default route: anything not for the lab is unreachable.
		{"-n", l.FW, "route", "add", "52.112.0.0/14", "via", O365LinkV4},
		{"-n", l.FW, "route", "add", "17.0.0.0/8", "via", O365LinkV4},
		{"-n", l.FW, "-6", "route", "add", "2603:1027::/48", "via", O365LinkV6},
		// Source Edge: replies of unbound UDP sockets (the socat echoes)
		// come from the address the client sent to.
		{"-n", l.O365, "route", "add", "192.168.50.0/24", "via", FWServerV4, "src", Edge},
		{"-n", l.O365, "-6", "route", "add", "fd00:50::/64", "via", FWServerV6, "src", EdgeV6},
	}
	for _, s := range steps {
		if _, err := run(5*time.Second, "ip", s...); err != nil {
			return err
		}
	}
	return l.Sysctl(l.FW, map[string]string{
		"net.ipv4.ip_forward":          "1",
		"net.ipv6.conf.all.forwarding": "1",
		// Answer every rejected packet: the default rate limit would drop
		// ICMP errors for back-to-back retransmissions.
		"net.ipv4.icmp_ratelimit": "0",
		"net.ipv6.icmp.ratelimit": "0",
	})
}

// Sysctl sets kernel parameters inside namespace ns.
func (l *Lab) Sysctl(ns string, kv map[string]string) error {
	args := []string{"netns", "exec", ns, "sysctl", "-q", "-w"}
	for k, v := range kv {
		args = append(args, k+"="+v)
	}
	_, err := run(5*time.Second, "ip", args...)
	return err
}

// Firewall applies rules in the fw namespace. Each rule is an iptables
// argument list; a first element "-6" sends it to ip6tables instead.
func (l *Lab) Firewall(rules ...[]string) error {
	for _, r := range rules {
		tool := "iptables"
		if len(r) > 0 && r[0] == "-6" {
			tool, r = "ip6tables", r[1:]
		}
		args := append([]string{"netns", "exec", l.FW, tool, "-w", "5"}, r...)
		if _, err := run(5*time.Second, "ip", args...); err != nil {
			return err
		}
	}
	return nil
}

// Run runs argv inside namespace ns, killing it after timeout, and returns
// its combined output. A non-zero exit or the timeout is an error that
// still comes with the output: lab clients are expected to fail.
func (l *Lab) Run(ns string, timeout time.Duration, argv ...string) (string, error) {
	return run(timeout, "ip", append([]string{"netns", "exec", ns}, argv...)...)
}

func run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = nil // /dev/null: s_client closes after the handshake
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := startCmd(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: killed after %v", strings.Join(append([]string{name}, args...), " "), timeout)
	} else if err != nil {
		err = fmt.Errorf("%s: %w: %s", strings.Join(append([]string{name}, args...), " "), err,
			strings.TrimSpace(out.String()))
	}
	return out.String(), err
}

// spawn carries process starts to one OS thread that lives as long as the
// test process. Pdeathsig fires when the thread that forked the child exits,
// not the process, and Go ends the thread of every goroutine that returns
// while locked ([Lab.Do] does): a child forked there would be killed when
// an unrelated Do returns.
var (
	spawnOnce sync.Once
	spawn     chan func()
)

func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawn = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked, never returns
			for f := range spawn {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawn <- func() { errc <- cmd.Start() }
	return <-errc
}

// Proc is a background process started by [Lab.Start].
type Proc struct {
	Name string
	Log  string // stdout and stderr
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs argv in the background inside namespace ns, output to
// Dir/name.log. The process is stopped at cleanup if still running.
func (l *Lab) Start(ns, name string, argv ...string) (*Proc, error) {
	log := filepath.Join(l.Dir, name+".log")
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, so Stop reaches children (socat forks); SIGKILL
	// when the test process dies, so an aborted run leaves no peers behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startCmd(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: log, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// Output returns what the process has logged so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends sig to the process group and waits up to wait for it to end,
// then kills the group.
func (p *Proc) Stop(sig syscall.Signal, wait time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(wait):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop on %v within %v: killed", p.Name, sig, wait)
}

// WaitOutput waits up to timeout for the log to contain substr.
func (p *Proc) WaitOutput(substr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(p.Output(), substr) {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before %q: %v\n%s", p.Name, substr, p.err, p.Output())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %q within %v\n%s", p.Name, substr, timeout, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// close stops every process and deletes the namespaces.
func (l *Lab) close() {
	l.mu.Lock()
	procs := l.procs
	l.procs = nil
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.Stop(syscall.SIGTERM, 2*time.Second) }()
	}
	wg.Wait()
	for _, ns := range []string{l.Client, l.FW, l.O365} {
		if err := deleteNamespace(ns); err != nil {
			l.tb.Errorf("lab cleanup: %v", err)
		}
	}
}

// deleteNamespace kills what still runs in ns (only lab processes can be
// there) and deletes it; a namespace already gone is not an error.
func deleteNamespace(ns string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	out, _ := run(5*time.Second, "ip", "netns", "pids", ns)
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_, err := run(5*time.Second, "ip", "netns", "del", ns)
	return err
}

// sweepStale deletes namespaces left by lab runs whose process is gone.
func sweepStale(tb testing.TB) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, Prefix) {
			continue
		}
		pidText, _, _ := strings.Cut(strings.TrimPrefix(name, Prefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // another run in progress
		}
		if err := deleteNamespace(name); err != nil {
			tb.Logf("lab: removing stale namespace %s: %v", name, err)
		} else {
			tb.Logf("lab: removed stale namespace %s", name)
		}
	}
}
