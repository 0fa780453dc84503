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
