//go:build linux

package lab

import (
	"os"
	"testing"
	"time"
)

func TestHold(t *testing.T) {
	if os.Getenv("LAB_HOLD") == "" {
		t.Skip()
	}
	l := New(t)
	if err := l.StartPeers(); err != nil {
		t.Fatal(err)
	}
	t.Logf("client=%s o365=%s dir=%s", l.Client, l.O365, l.Dir)
	time.Sleep(90 * time.Second)
}
