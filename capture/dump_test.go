package capture

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDump(t *testing.T) {
	var ms []string
	for _, g := range []string{"/work/shared/pcaps/ndpi/*.pcap*", "/work/shared/pcaps/pcapng-suite/output_*/*/*.pcapng"} {
		m, _ := filepath.Glob(g)
		ms = append(ms, m...)
	}
	bad := 0
	for _, m := range ms {
		if filepath.Ext(m) == ".out" { continue }
		out, _ := exec.Command("tshark", "-r", m, "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.encap_type", "-Y", "frame.encap_type != -2 && frame.encap_type != 0").Output()
		got, _, err := readAll(t, m)
		if err != nil { fmt.Println(m, err); continue }
		var mine []string
		for _, p := range got {
			ts := ""
			if p.Timestamp.IsZero() { ts = "0.000000000" } else { ts = fmt.Sprintf("%d.%09d", p.Timestamp.Unix(), p.Timestamp.Nanosecond()) }
			mine = append(mine, fmt.Sprintf("%s\t%d\t%d", ts, p.Length, len(p.Data)))
		}
		var theirs []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l == "" { continue }
			f := strings.Split(l, "\t")
			theirs = append(theirs, strings.Join(f[:3], "\t"))
		}
		if strings.Join(mine, "\n") != strings.Join(theirs, "\n") {
			bad++
			os.WriteFile("/tmp/mine.txt", []byte(strings.Join(mine, "\n")), 0644)
			os.WriteFile("/tmp/theirs.txt", []byte(strings.Join(theirs, "\n")), 0644)
			fmt.Println("DIFF", m, len(mine), len(theirs))
			o, _ := exec.Command("diff", "/tmp/mine.txt", "/tmp/theirs.txt").Output()
			fmt.Println(string(o[:min(len(o), 600)]))
		}
	}
	fmt.Println("files", len(ms), "bad", bad)
}
