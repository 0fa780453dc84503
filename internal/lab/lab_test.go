//go:build linux

package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// TestLab runs every scenario as a subtest, checks its capture with tshark
// and, when SFBTRACE_LAB_OUT names a folder, copies the capture there as
// <NN-name>.pcap (make lab: pcaps/lab).
func TestLab(t *testing.T) {
	if why := Usable(); why != "" {
		t.Skip("skipping: " + why)
	}
	out := os.Getenv("SFBTRACE_LAB_OUT")
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			start := time.Now()
			l := New(t)
			path, err := l.RunScenario(s)
			if err != nil {
				t.Fatalf("%s: %v", s.Title, err)
			}
			t.Logf("%s: capture %s in %v", s.Title, path, time.Since(start).Round(10*time.Millisecond))
			for _, msg := range Verify(path, s.Checks) {
				t.Errorf("capture check: %s", msg)
			}
			if _, ok := expected[s.Name]; !ok {
				t.Errorf("no expected findings for %s in expect_test.go", s.Name)
			}
			checkFindings(t, s.Name, path)
			if out != "" && !t.Failed() {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(out, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(out, s.Name+".pcap"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestCommittedCapturesTshark re-checks the committed captures in pcaps/lab
// with the scenarios' tshark filters (no root needed, only tshark).
func TestCommittedCapturesTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipping: tshark not installed (apt-get install -y tshark)")
	}
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			path := pcaptest.Pcaps(filepath.Join("lab", s.Name+".pcap"))
			if _, err := os.Stat(path); err != nil {
				t.Skipf("skipping: %s not generated (run make lab as root)", path)
			}
			for _, msg := range Verify(path, s.Checks) {
				t.Errorf("capture check: %s", msg)
			}
		})
	}
}
