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
	cpuProf   string
	memProf   string
}

func runAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o analyzeOpts
	// The analyzer's own defaults are the flags' defaults.
	opts := analyze.Options{}.WithDefaults()
	fs := pflag.NewFlagSet("analyze", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.format, "format", "table", "report format: table, json or csv")
	fs.StringVarP(&o.output, "output", "o", "", "write the report to `FILE` instead of stdout")
	fs.BoolVar(&o.flows, "flows", false, "table: list every flow")
	fs.StringVar(&o.failOn, "fail-on", "", "exit 1 when findings of this severity (error or warning) exist")
	fs.StringVar(&o.endpoints, "endpoints", "", "Office 365 endpoint JSON `FILE` (Microsoft's format) instead of the embedded snapshot")
	fs.StringArrayVarP(&o.readFiles, "read", "r", nil, "read packets from `FILE` (like tcpdump -r; may repeat)")
	fs.BoolVar(&o.progress, "progress", true, "show a progress bar on a terminal for large files")
	fs.IntVar(&opts.MaxFlows, "max-flows", opts.MaxFlows, "bound on flow records held (memory); past a quarter of it finished flows fold into look-alikes")
	fs.IntVar(&opts.Workers, "workers", 0, "flow-table workers (0 = one per CPU)")
	timeouts := []struct {
		name string
		d    *time.Duration
		help string
	}{
		{"udp-timeout", &opts.UDPTimeout, "a UDP flow silent this long (capture time) is finished; a later packet starts a new flow"},
		{"dns-timeout", &opts.DNSTimeout, "the same for DNS over UDP with a query unanswered (answered: the close grace)"},
		{"media-timeout", &opts.MediaTimeout, "the same for UDP media (STUN or RTP seen)"},
		{"tcp-timeout", &opts.TCPTimeout, "the same for an established TCP connection (the idle-cut finding needs it long)"},
		{"tcp-open-timeout", &opts.TCPOpenTimeout, "the same for a TCP handshake that never completed"},
		{"close-grace", &opts.CloseGrace, "how long a flow is kept after FIN or RST (or DNS answered), for late packets"},
	}
	for _, t := range timeouts {
		fs.DurationVar(t.d, t.name, *t.d, t.help)
	}
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
	for _, t := range timeouts {
		if *t.d <= 0 {
			fmt.Fprintf(stderr, "sfbtrace analyze: invalid --%s %v (want a positive duration, e.g. 90s)\n", t.name, *t.d)
			return exitUsage
		}
	}
	ro := analyze.RenderOptions{Format: o.format, Flows: o.flows}
	opts = opts.ForOutput(ro)
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
	if err := analyze.Render(out, rep, ro); err != nil {
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
