package analyze

// Detectors still being written; each returns no finding for now.

func detectTURNAllocateFailed(dc *detectContext) []Finding   { return nil }
func detectOneWayMedia(dc *detectContext) []Finding          { return nil }
func detectSourcePortOutOfRange(dc *detectContext) []Finding { return nil }
func detectMediaQuality(dc *detectContext) []Finding         { return nil }
func detectNATMappingChanged(dc *detectContext) []Finding    { return nil }
func detectTLSIntercepted(dc *detectContext) []Finding       { return nil }
func detectViaProxy(dc *detectContext) []Finding             { return nil }
func detectDNSFailure(dc *detectContext) []Finding           { return nil }

func (dc *detectContext) groupCalls() {}

func verdicts(js []*judged, fs []Finding) []Verdict { return []Verdict{} }
