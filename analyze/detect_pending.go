package analyze


func verdicts(js []*judged, fs []Finding) []Verdict { return []Verdict{} }
