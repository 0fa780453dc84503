package analyze

import "net/netip"

// payloadState holds what the payload parsers learned about a flow.
type payloadState struct{}

func (s *payloadState) observe(a *Analyzer, f *Flow, side int, frame, ts int64, r *decodeResult) {}

// dnsState maps answered addresses to the names clients looked up.
type dnsState struct{}

func (s *payloadState) sni() string               { return "" }
func (s *payloadState) evidence() []string        { return nil }
func (s *payloadState) mediaOverTCP() bool        { return false }
func (s *payloadState) guessModality() string     { return "" }
func (s *payloadState) hasRTP() bool              { return false }
func (s *payloadState) hasSTUN() bool             { return false }
func (s *payloadState) sawPayload() bool          { return false }
func (s *payloadState) isSIP() bool               { return false }
func (s *payloadState) fillReport(fr *FlowReport) {}
func (d *dnsState) nameFor(a netip.Addr) string   { return "" }
