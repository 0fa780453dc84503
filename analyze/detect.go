package analyze

import "sort"

// detectContext is what every detector sees.
type detectContext struct {
	a     *Analyzer
	flows []*judged // in id order
	rep   *Report
}

// detector returns findings, one per root cause.
type detector func(dc *detectContext) []Finding

// detectors run in this order; each is independent.
var detectors = []detector{}

func (dc *detectContext) groupCalls() {}

var severityRank = map[Severity]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if severityRank[fs[i].Severity] != severityRank[fs[j].Severity] {
			return severityRank[fs[i].Severity] < severityRank[fs[j].Severity]
		}
		if !fs[i].FirstSeen.Equal(fs[j].FirstSeen) {
			return fs[i].FirstSeen.Before(fs[j].FirstSeen)
		}
		return fs[i].Code < fs[j].Code
	})
}

func verdicts(js []*judged, fs []Finding) []Verdict { return []Verdict{} }

func remediation(fs []Finding) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, f := range fs {
		if f.Remediation != "" && !seen[f.Remediation] && f.Severity != SeverityInfo {
			seen[f.Remediation] = true
			out = append(out, f.Remediation)
		}
	}
	return out
}
