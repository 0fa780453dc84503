package analyze

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestRenderJSONAsEncoder: the JSON report, written a flow at a time, is
// byte for byte what encoding the whole report at once writes, with flows
// and without (an empty list, which the encoder writes as []).
func TestRenderJSONAsEncoder(t *testing.T) {
	reps := map[string]*Report{"no flows": {Flows: []FlowReport{}, Findings: []Finding{}}}
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
