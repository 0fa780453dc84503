package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sfbtrace/sfbtrace/analyze"
	"github.com/sfbtrace/sfbtrace/capture"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

const analyzeExamples = `
Examples:
  sfbtrace analyze customer.pcapng
  sfbtrace analyze --flows trace1.pcap trace2.pcap.gz      # merged in time order
  sfbtrace analyze --format json -o report.json customer.pcapng
  tcpdump -w - -i eth0 | sfbtrace analyze -               # from stdin
  sfbtrace analyze --fail-on error customer.pcapng        # exit 1 on error findings
  sfbtrace analyze --endpoints worldwide.json customer.pcapng
`

type analyzeOpts struct {
	format    string
	output    string
	flows     bool
	failOn    string
	endpoints string
	readFiles []string
	progress  bool
	maxFlows  int
	workers   int
	cpuProf   string
	memProf   string
	timeouts  analyze.Options // the expiry durations only
}

func runAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o analyzeOpts
	fs := pflag.NewFlagSet("analyze", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.format, "format", "table", "report format: table, json or csv")
	fs.StringVarP(&o.output, "output", "o", "", "write the report to `FILE` instead of stdout")
	fs.BoolVar(&o.flows, "flows", false, "table: list every flow")
	fs.StringVar(&o.failOn, "fail-on", "", "exit 1 when findings of this severity (error or warning) exist")
	fs.StringVar(&o.endpoints, "endpoints", "", "Office 365 endpoint JSON `FILE` (Microsoft's format) instead of the embedded snapshot")
	fs.StringArrayVarP(&o.readFiles, "read", "r", nil, "read packets from `FILE` (like tcpdump -r; may repeat)")
	fs.BoolVar(&o.progress, "progress", true, "show a progress bar on a terminal for large files")
	fs.IntVar(&o.maxFlows, "max-flows", 0, "bound on flow records held (memory); past 3/4 of it finished flows fold into look-alikes (0 = 250000)")
	fs.IntVar(&o.workers, "workers", 0, "flow-table workers (0 = one per CPU)")
	fs.DurationVar(&o.timeouts.UDPTimeout, "udp-timeout", 10*time.Minute, "a UDP flow silent this long (capture time) is finished; a later packet starts a new flow")
	fs.DurationVar(&o.timeouts.DNSTimeout, "dns-timeout", 30*time.Second, "the same for DNS over UDP")
	fs.DurationVar(&o.timeouts.MediaTimeout, "media-timeout", time.Minute, "the same for UDP media (STUN or RTP seen)")
	fs.DurationVar(&o.timeouts.TCPTimeout, "tcp-timeout", 9*time.Hour, "the same for an established TCP connection (the idle-cut finding needs it long)")
	fs.DurationVar(&o.timeouts.TCPOpenTimeout, "tcp-open-timeout", 2*time.Minute, "the same for a TCP handshake that never completed")
	fs.DurationVar(&o.timeouts.CloseGrace, "close-grace", 10*time.Second, "how long a TCP connection is kept after FIN or RST, for late packets")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile to `FILE` (for performance work)")
	fs.StringVar(&o.memProf, "memprofile", "", "write a heap profile to `FILE` at the end")
	fs.MarkHidden("cpuprofile")
	fs.MarkHidden("memprofile")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sfbtrace analyze [flags] FILE...\n\nAnalyze capture files (pcap or pcapng, gzip-compressed or not; - = stdin).\n\nFlags:\n%s%s", fs.FlagUsages(), analyzeExamples)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "sfbtrace analyze: %v\n", err)
		return exitUsage
	}
	if !slices.Contains(analyze.Formats, o.format) {
		fmt.Fprintf(stderr, "sfbtrace analyze: invalid --format %q (want table, json or csv)\n", o.format)
		return exitUsage
	}
	if o.failOn != "" && o.failOn != "error" && o.failOn != "warning" {
		fmt.Fprintf(stderr, "sfbtrace analyze: invalid --fail-on %q (want error or warning)\n", o.failOn)
		return exitUsage
	}
	files := append(o.readFiles, fs.Args()...)
	if len(files) == 0 {
		fmt.Fprintln(stderr, "sfbtrace analyze: no capture file given (try 'sfbtrace analyze -h')")
		return exitUsage
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"udp-timeout", o.timeouts.UDPTimeout}, {"dns-timeout", o.timeouts.DNSTimeout}, {"media-timeout", o.timeouts.MediaTimeout}, {"tcp-timeout", o.timeouts.TCPTimeout},
		{"tcp-open-timeout", o.timeouts.TCPOpenTimeout}, {"close-grace", o.timeouts.CloseGrace}} {
		if t.d <= 0 {
			fmt.Fprintf(stderr, "sfbtrace analyze: invalid --%s %v (want a positive duration, e.g. 90s)\n", t.name, t.d)
			return exitUsage
		}
	}
	opts := analyze.Options{MaxFlows: o.maxFlows, Workers: o.workers,
		NoFlowList: o.format == "table" && !o.flows,
		UDPTimeout: o.timeouts.UDPTimeout, DNSTimeout: o.timeouts.DNSTimeout, MediaTimeout: o.timeouts.MediaTimeout, TCPTimeout: o.timeouts.TCPTimeout,
		TCPOpenTimeout: o.timeouts.TCPOpenTimeout, CloseGrace: o.timeouts.CloseGrace}
	if o.cpuProf != "" {
		stop, err := startCPUProfile(o.cpuProf)
		if err != nil {
			fmt.Fprintf(stderr, "sfbtrace: %v\n", err)
			return exitUsage
		}
		defer stop()
	}
	if o.memProf != "" {
		defer writeHeapProfile(o.memProf, stderr)
	}
	if o.endpoints != "" {
		ep, err := analyze.LoadEndpoints(o.endpoints)
		if err != nil {
			fmt.Fprintf(stderr, "sfbtrace: %v\n", err)
			return exitUsage
		}
		opts.Endpoints = ep
	}
	src, err := capture.Open(files...)
	if err != nil {
		fmt.Fprintf(stderr, "sfbtrace: %v\n", err)
		return exitUsage
	}
	defer src.Close()
	stopProgress := startProgress(ctx, src, stderr, o.progress)
	rep, err := analyze.Run(ctx, src, opts)
	stopProgress()
	if err != nil {
		fmt.Fprintf(stderr, "sfbtrace: %v\n", err)
		return exitUsage
	}
	for _, w := range rep.Capture.Warnings {
		fmt.Fprintf(stderr, "sfbtrace: warning: %s\n", w)
	}
	out := stdout
	if o.output != "" {
		f, err := os.Create(o.output)
		if err != nil {
			fmt.Fprintf(stderr, "sfbtrace: cannot write report: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		out = f
	}
	if err := analyze.Render(out, rep, analyze.RenderOptions{Format: o.format, Flows: o.flows}); err != nil {
		fmt.Fprintf(stderr, "sfbtrace: writing report: %v\n", err)
		return exitUsage
	}
	if o.failOn != "" {
		for _, f := range rep.Findings {
			if f.Severity == analyze.SeverityError || (o.failOn == "warning" && f.Severity == analyze.SeverityWarning) {
				return exitFailOn
			}
		}
	}
	return exitOK
}

// progressMin is the input size above which a progress bar is shown.
const progressMin = 8 << 20

// startProgress shows a progress bar on stderr while reading, only when
// stderr is a terminal and the input is large. It returns a stop function.
func startProgress(ctx context.Context, src capture.Source, stderr io.Writer, enabled bool) func() {
	f, ok := stderr.(*os.File)
	if !enabled || !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	_, total := capture.Progress(src)
	if total < progressMin {
		return func() {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("reading"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				d, _ := capture.Progress(src)
				bar.Set64(d)
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		bar.Finish()
		bar.Clear()
	}
}
