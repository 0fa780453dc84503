//go:build unix

package capture

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sfbtrace/sfbtrace/internal/pcaptest"
)

// TestFIFO reads a named pipe (#40): no size, read as a stream.
func TestFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pipe.pcap")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("skipping: mkfifo: %v", err)
	}
	data := pcaptest.Pcap(pcaptest.UDPFrame(60, 1), pcaptest.UDPFrame(60, 2), pcaptest.UDPFrame(60, 3))
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.Write(data)
		w.Close()
	}()
	got, info, err := readAll(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if fi := info.Files[0]; len(got) != 3 || fi.Size != -1 || fi.Truncated {
		t.Errorf("got %d packets size %d truncated %v, want 3, -1, false", len(got), fi.Size, fi.Truncated)
	}
}
