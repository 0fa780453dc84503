package analyze

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// maxTableCalls bounds the calls listed in the table without --flows: a
// gateway capture can hold thousands.
const maxTableCalls = 30

// Formats accepted by Render.
var Formats = []string{"table", "json", "csv"}

// RenderOptions select what the table shows.
type RenderOptions struct {
	Format string // table (default), json, csv
	Flows  bool   // table: one row per flow
}

// Render writes the report in the chosen format.
func Render(w io.Writer, rep *Report, o RenderOptions) error {
	switch o.Format {
	case "", "table":
		return renderTable(w, rep, o)
	case "json":
		return renderJSON(w, rep)
	case "csv":
		return renderCSV(w, rep)
	}
	return fmt.Errorf("invalid --format %q (want table, json or csv)", o.Format)
}

// renderJSON writes what a json.Encoder indenting by two spaces writes,
// but the flow and call lists one element at a time. A gateway's report
// lists a hundred thousand flows and tens of thousands of calls: encoded
// whole, the text was held twice over while it grew (600 MB and 12 s for
// the 1 GB corpus).
func renderJSON(w io.Writer, rep *Report) error {
	// The lists streamed are written empty in the head, then spliced in;
	// an empty one is left as it is (nil is null, as the encoder writes).
	head := *rep
	if rep.FlowCount() > 0 {
		head.Flows = []FlowReport{}
	}
	if len(rep.Calls) > 0 {
		head.Calls = []Call{}
	}
	b, err := json.MarshalIndent(&head, "", "  ")
	if err != nil {
		return err
	}
	lists := []struct {
		mark string // the report's own key, the only one at this depth: a key in a string has its quotes escaped
		n    int
		each func(func(any) error) error
	}{
		{"\n  \"flows\": []", rep.FlowCount(), func(f func(any) error) error {
			return rep.EachFlow(func(r *FlowReport) error { return f(r) })
		}},
		{"\n  \"calls\": []", len(rep.Calls), func(f func(any) error) error {
			for i := range rep.Calls {
				if err := f(&rep.Calls[i]); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var one bytes.Buffer
	enc := json.NewEncoder(&one)
	enc.SetIndent("    ", "  ") // as an element of a list at the report's first depth
	// In field order: each list's key comes after the last one's.
	rest := b
	for _, l := range lists {
		if l.n == 0 {
			continue
		}
		i := bytes.Index(rest, []byte(l.mark))
		if i < 0 {
			return fmt.Errorf("internal error: no %s in the JSON report", l.mark[4:])
		}
		end := i + len(l.mark)
		bw.Write(rest[:end-1]) // up to the list's "["
		sep := "\n    "
		err := l.each(func(v any) error {
			one.Reset()
			if err := enc.Encode(v); err != nil {
				return err
			}
			bw.WriteString(sep)
			bw.Write(bytes.TrimSuffix(one.Bytes(), []byte("\n")))
			sep = ",\n    "
			return nil
		})
		if err != nil {
			return err
		}
		bw.WriteString("\n  ]")
		rest = rest[end:]
	}
	bw.Write(rest)
	bw.WriteByte('\n')
	return bw.Flush()
}

func newTable(w io.Writer, header ...any) *tablewriter.Table {
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNormal),
		tablewriter.WithMaxWidth(160),
	)
	t.Header(header...)
	return t
}

func renderTable(w io.Writer, rep *Report, o RenderOptions) error {
	c := &rep.Capture
	fmt.Fprintf(w, "sfbtrace report: %s\n", strings.Join(c.Files, ", "))
	dur := "-"
	if c.Start != nil {
		dur = fmt.Sprintf("%.3f s (%s .. %s)", c.DurationSec, c.Start.Format("2006-01-02 15:04:05.000"), c.End.Format("15:04:05.000"))
	}
	fmt.Fprintf(w, "packets: %d  bytes: %d  duration: %s  link types: %s\n", c.Packets, c.Bytes, dur, strings.Join(c.LinkTypes, ", "))
	if len(c.Problems) > 0 {
		keys := make([]string, 0, len(c.Problems))
		for k := range c.Problems {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, c.Problems[k]))
		}
		fmt.Fprintf(w, "decode problems: %s\n", strings.Join(parts, ", "))
	}
	if c.Truncated {
		fmt.Fprintf(w, "PARTIAL: the capture is incomplete (see warnings)\n")
	}
	for _, wn := range c.Warnings {
		fmt.Fprintf(w, "warning: %s\n", firstLine(wn))
	}
	if len(rep.Verdicts) > 0 {
		fmt.Fprintln(w, "\nFeatures")
		t := newTable(w, "feature", "status", "findings")
		for _, v := range rep.Verdicts {
			t.Append(v.Feature, v.Status, strings.Join(v.Findings, ", "))
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nFindings")
	if len(rep.Findings) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		t := newTable(w, "#", "severity", "code", "finding", "flows", "frames")
		for i, f := range rep.Findings {
			flows := joinInts(f.Flows, 6)
			if f.MoreFlows > 0 {
				flows += fmt.Sprintf(" (+%d folded)", f.MoreFlows)
			}
			t.Append(i+1, string(f.Severity), f.Code, f.Title, flows, joinInts64(f.Frames, 6))
		}
		if err := t.Render(); err != nil {
			return err
		}
		for i, f := range rep.Findings {
			fmt.Fprintf(w, "\n[%d] %s %s: %s\n", i+1, strings.ToUpper(string(f.Severity)), f.Code, f.Title)
			wrap(w, f.Detail, "    ", 100)
			if f.Remediation != "" {
				wrap(w, "Fix: "+f.Remediation, "    ", 100)
			}
			if len(f.Frames) > 0 {
				fmt.Fprintf(w, "    Check in Wireshark: frame.number in {%s}\n", joinInts64(f.Frames, 12))
			}
		}
	}
	if len(rep.Remediation) > 0 {
		fmt.Fprintln(w, "\nRemediation (rules to add or change)")
		for i, r := range rep.Remediation {
			fmt.Fprintf(w, "  %d. %s\n", i+1, r)
		}
	}
	fmt.Fprintln(w, "\nFlows by class")
	t := newTable(w, "class", "flows", "packets c2s", "packets s2c", "bytes c2s", "bytes s2c", "unanswered")
	for _, s := range rep.Classes {
		t.Append(s.Class, s.Flows, s.Packets.C2S, s.Packets.S2C, s.Bytes.C2S, s.Bytes.S2C, s.Unanswered)
	}
	if err := t.Render(); err != nil {
		return err
	}
	if len(rep.Calls) > 0 {
		fmt.Fprintln(w, "\nCalls")
		t := newTable(w, "call", "start", "modality", "connectivity", "flows", "why")
		calls := rep.Calls
		if len(calls) > maxTableCalls && !o.Flows {
			calls = calls[:maxTableCalls]
		}
		for _, c := range calls {
			for _, s := range c.Streams {
				t.Append(c.ID, c.Start.Format("15:04:05.000"), s.Modality, s.Connectivity, joinInts(s.Flows, 8), s.Why)
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
		if more := len(rep.Calls) - len(calls) + rep.CallsOmitted; more > 0 {
			fmt.Fprintf(w, "  ... %d more calls (all of them with --flows or --format json)\n", more)
		}
	}
	if o.Flows {
		fmt.Fprintln(w, "\nFlows")
		if err := renderFlowTable(w, rep); err != nil {
			return err
		}
	}
	return nil
}

// flowTableBlock is how many flows one table lists: a longer list is
// printed as tables of this many rows, each with its header. The table
// package holds and measures every row, at a cost that grows faster than
// the rows (28 s for the 1 GB corpus's 120 000 flows in one table).
const flowTableBlock = 2000

func renderFlowTable(w io.Writer, rep *Report) error {
	newFlows := func() *tablewriter.Table {
		return newTable(w, "id", "proto", "client", "server", "class", "o365", "name", "pkts c2s/s2c", "bytes c2s/s2c", "state", "first frame")
	}
	t, n := newFlows(), 0
	err := rep.EachFlow(func(f *FlowReport) error {
		if n == flowTableBlock {
			if err := t.Render(); err != nil {
				return err
			}
			t, n = newFlows(), 0
		}
		n++
		name := f.SNI
		if name == "" {
			name = f.DNSName
		}
		state := f.State
		if f.Folded > 0 {
			state += fmt.Sprintf(" (+%d alike)", f.Folded)
		}
		return t.Append(f.ID, f.Transport, f.Client, f.Server, f.Class, f.O365, name,
			fmt.Sprintf("%d/%d", f.Packets.C2S, f.Packets.S2C), fmt.Sprintf("%d/%d", f.Bytes.C2S, f.Bytes.S2C), state, f.FirstFrame)
	})
	if err != nil {
		return err
	}
	return t.Render()
}

// wrap prints text in lines of at most width columns, each indented.
func wrap(w io.Writer, text, indent string, width int) {
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			fmt.Fprintln(w, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		fmt.Fprintln(w, line)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func joinInts(v []int, max int) string {
	var b strings.Builder
	for i, x := range v {
		if i == max {
			fmt.Fprintf(&b, " +%d more", len(v)-max)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(x))
	}
	return b.String()
}

func joinInts64(v []int64, max int) string {
	w := make([]int, len(v))
	for i, x := range v {
		w[i] = int(x)
	}
	return joinInts(w, max)
}

func renderCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "transport", "client", "server", "class", "evidence", "o365", "packets_c2s", "packets_s2c",
		"bytes_c2s", "bytes_s2c", "first", "last", "first_frame", "state", "sni", "dns_name", "connectivity", "folded"})
	err := rep.EachFlow(func(f *FlowReport) error {
		return cw.Write([]string{strconv.Itoa(f.ID), f.Transport, f.Client, f.Server, f.Class, strings.Join(f.Evidence, " "), f.O365,
			strconv.FormatInt(f.Packets.C2S, 10), strconv.FormatInt(f.Packets.S2C, 10),
			strconv.FormatInt(f.Bytes.C2S, 10), strconv.FormatInt(f.Bytes.S2C, 10),
			csvTime(f.First), csvTime(f.Last),
			strconv.FormatInt(f.FirstFrame, 10), f.State, f.SNI, f.DNSName, f.Connectivity, strconv.FormatInt(f.Folded, 10)})
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// csvTime formats a timestamp with nanoseconds, "" when unknown.
func csvTime(t Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02T15:04:05.000000000Z07:00")
}
