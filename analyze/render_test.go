package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestRenderJSONAsEncoder: the JSON report, written a flow at a time, is
// byte for byte what encoding the whole report at once writes, with flows
// and without (an empty list is [], a nil one null, as the encoder writes).
func TestRenderJSONAsEncoder(t *testing.T) {
	reps := map[string]*Report{
		"empty lists": {Flows: []FlowReport{}, Findings: []Finding{}, Calls: []Call{}},
		"nil lists":   {},
	}
	for _, p := range projectCaptures(t) {
		reps[p] = runFile(t, p, Options{})
	}
	for name, rep := range reps {
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			t.Fatal(err)
		}
		if err := Render(&got, rep, RenderOptions{Format: "json"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: streamed JSON differs from the encoder's (%d vs %d bytes)", name, got.Len(), want.Len())
		}
	}
}

// TestStreamFlowsSameReport: with StreamFlows the rows are made as they are
// written, not kept in Report.Flows, and every format is the same.
func TestStreamFlowsSameReport(t *testing.T) {
	for _, p := range projectCaptures(t) {
		kept, streamed := runFile(t, p, Options{}), runFile(t, p, Options{StreamFlows: true})
		if len(streamed.Flows) != 0 || streamed.FlowCount() != len(kept.Flows) {
			t.Fatalf("%s: %d flows kept, %d to stream; want 0 and %d", p, len(streamed.Flows), streamed.FlowCount(), len(kept.Flows))
		}
		for _, o := range []RenderOptions{{Format: "json"}, {Format: "csv"}, {Format: "table", Flows: true}} {
			var want, got bytes.Buffer
			if err := Render(&want, kept, o); err != nil {
				t.Fatal(err)
			}
			if err := Render(&got, streamed, o); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("%s %+v: streamed report differs (%d vs %d bytes)", p, o, got.Len(), want.Len())
			}
		}
	}
}

// TestFlowTableBlocks: a long flow list is printed as tables of
// flowTableBlock rows, each with its header, and no row is lost.
func TestFlowTableBlocks(t *testing.T) {
	rep := &Report{}
	n := 2*flowTableBlock + 1
	for i := 1; i <= n; i++ {
		rep.Flows = append(rep.Flows, FlowReport{ID: i, Transport: "udp", Client: "10.0.0.1:50000", Server: "52.112.0.1:3478", State: "answered"})
	}
	var b bytes.Buffer
	if err := Render(&b, rep, RenderOptions{Flows: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	headers := strings.Count(out, "|  id  | proto |")
	rows := regexp.MustCompile(`(?m)^\| (\d+) +\| udp `).FindAllStringSubmatch(out, -1)
	if headers != 3 || len(rows) != n || rows[0][1] != "1" || rows[n-1][1] != fmt.Sprint(n) {
		t.Errorf("%d tables and %d rows (first %v), want 3 tables and %d rows in order", headers, len(rows), rows[:1], n)
	}
}

// TestRowsOnlySameCSV: the CSV report reads only the rows' own fields, so
// RowsOnly (no per-protocol summaries kept, calls not described) writes
// the same CSV; the summaries are indeed not kept.
func TestRowsOnlySameCSV(t *testing.T) {
	summaries := 0
	for _, p := range projectCaptures(t) {
		full, rows := runFile(t, p, Options{StreamFlows: true}), runFile(t, p, Options{StreamFlows: true, RowsOnly: true})
		var want, got bytes.Buffer
		if err := Render(&want, full, RenderOptions{Format: "csv"}); err != nil {
			t.Fatal(err)
		}
		if err := Render(&got, rows, RenderOptions{Format: "csv"}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: CSV differs with RowsOnly (%d vs %d bytes)", p, got.Len(), want.Len())
		}
		count := func(r *Report) (n int) {
			r.EachFlow(func(f *FlowReport) error {
				if f.TLS != nil || f.STUN != nil || f.RTP != nil {
					n++
				}
				return nil
			})
			return n
		}
		summaries += count(full)
		if n := count(rows); n != 0 {
			t.Errorf("%s: %d rows carry per-protocol summaries with RowsOnly", p, n)
		}
	}
	if summaries == 0 {
		t.Fatal("no flow with a per-protocol summary in the project captures: the test proves nothing")
	}
}

// TestForOutputSameReport: the analysis ForOutput sets up for each output
// (no flow list for the table, rows only for CSV, rows made as written)
// writes what the full analysis writes.
func TestForOutputSameReport(t *testing.T) {
	outputs := []struct {
		ro                             RenderOptions
		noFlowList, rowsOnly, streamed bool
	}{
		{RenderOptions{Format: "table"}, true, false, false},
		{RenderOptions{Format: "table", Flows: true}, false, false, true},
		{RenderOptions{Format: "json"}, false, false, true},
		{RenderOptions{Format: "csv"}, false, true, true},
	}
	for _, o := range outputs {
		opts := Options{}.ForOutput(o.ro)
		if opts.NoFlowList != o.noFlowList || opts.RowsOnly != o.rowsOnly || opts.StreamFlows != o.streamed {
			t.Errorf("%+v: options %+v", o.ro, opts)
		}
	}
	for _, p := range projectCaptures(t) {
		full := runFile(t, p, Options{})
		for _, o := range outputs {
			var want, got bytes.Buffer
			if err := Render(&want, full, o.ro); err != nil {
				t.Fatal(err)
			}
			if err := Render(&got, runFile(t, p, Options{}.ForOutput(o.ro)), o.ro); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("%s %+v: report differs from the full analysis's (%d vs %d bytes)", p, o.ro, got.Len(), want.Len())
			}
		}
	}
}
