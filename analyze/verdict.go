package analyze

import "sort"

// Features the article lists, in its order, as the report names them.
const (
	FeatureSignIn       = "sign-in/SIP"
	FeaturePresence     = "presence"
	FeatureOutlook      = "Outlook integration"
	FeatureFileTransfer = "file transfer"
	FeatureAudio        = "audio"
	FeatureVideo        = "video"
	FeatureSharing      = "desktop sharing"
	FeaturePush         = "push"
)

// Verdict statuses.
const (
	StatusOK      = "ok"
	StatusFailing = "failing"
	StatusNotSeen = "not seen"
)

// featuresOf says which features a flow serves. Sign-in/SIP (and
// presence, which rides on the SIP connection) is TCP to the Skype area or
// identity on 443/5061 or a SIP flow; Outlook integration is the Exchange
// area; file transfer is SharePoint or desktop sharing / PSOM data
// collaboration; media by modality; push is TCP 5223.
func featuresOf(ep *Endpoints, j *judged) []string {
	area := j.o365()
	if area == "" && j.name() != "" {
		area = ep.AreaOfName(j.name())
	}
	var fs []string
	if j.Proto == protoTCP {
		sp := j.serverPort()
		switch {
		case sp == 5223 || j.Class == ClassPush:
			return []string{FeaturePush}
		case j.Class == ClassSIP:
			fs = append(fs, FeatureSignIn, FeaturePresence)
		case (sp == 443 || sp == 5061) && j.Class == ClassHTTPS && (area == AreaSkype || area == AreaCommon && !isCRLName(j.name())):
			fs = append(fs, FeatureSignIn, FeaturePresence)
		case (sp == 443 || sp == 80) && area == AreaExchange:
			fs = append(fs, FeatureOutlook)
		case (sp == 443 || sp == 80) && area == AreaSharePoint:
			fs = append(fs, FeatureFileTransfer)
		}
		if j.Class == ClassPSOM {
			fs = append(fs, FeatureFileTransfer)
		}
	}
	if j.Proto == protoUDP && j.Class == ClassSIP {
		fs = append(fs, FeatureSignIn, FeaturePresence)
	}
	if j.Call != 0 || isMediaClass(j.Class) {
		local, ok := j.localMediaEnd()
		if !ok {
			local = j.Client()
		}
		switch flowModality(j, local) {
		case ClassAudio:
			fs = append(fs, FeatureAudio)
		case ClassVideo:
			fs = append(fs, FeatureVideo)
		case ClassDesktopShare:
			fs = append(fs, FeatureSharing, FeatureFileTransfer)
		}
	}
	return fs
}

// verdicts gives each feature the article lists a status from the flows
// that serve it and the findings on those flows: failing when an error
// finding touches it (or every candidate of its media failed), ok when seen
// otherwise (warnings listed), not seen when no flow serves it.
func verdicts(ep *Endpoints, js []*judged, fs []Finding) []Verdict {
	order := []string{FeatureSignIn, FeaturePresence, FeatureOutlook, FeatureFileTransfer, FeatureAudio, FeatureVideo, FeatureSharing, FeaturePush}
	seen := map[string]bool{}
	flowsOf := map[string][]bool{} // by flow id (1..len(js))
	mark := func(f string, id int) {
		v := flowsOf[f]
		if v == nil {
			v = make([]bool, len(js)+1)
			flowsOf[f] = v
		}
		v[id] = true
	}
	// media: per feature and call, did any pair work?
	callWorks := map[string]map[int32]bool{}
	// Name-based areas use the analyzer's endpoint data (--endpoints or
	// the embedded snapshot), like the addresses.
	if ep == nil {
		ep = DefaultEndpoints()
	}
	for _, j := range js {
		// UDP to the Office 365 relays outside any call (no modality
		// known): a failure there fails every media feature; success
		// alone does not show that a feature was used.
		if j.Call == 0 && j.Proto == protoUDP && isSTUNPort(j.serverPort()) && j.o365() != "" {
			for _, f := range []string{FeatureAudio, FeatureVideo, FeatureSharing} {
				mark(f, int(j.ID))
			}
		}
		for _, f := range featuresOf(ep, j) {
			seen[f] = true
			mark(f, int(j.ID))
			if j.Call != 0 && (f == FeatureAudio || f == FeatureVideo || f == FeatureSharing) {
				if callWorks[f] == nil {
					callWorks[f] = map[int32]bool{}
				}
				callWorks[f][j.Call] = callWorks[f][j.Call] || j.conn != connFailed && j.conn != connNone
			}
		}
	}
	out := make([]Verdict, 0, len(order))
	for _, feat := range order {
		v := Verdict{Feature: feat, Status: StatusNotSeen}
		codes := map[string]bool{}
		failing := false
		for _, f := range fs {
			if f.Severity == SeverityInfo || f.Code == CodeCaptureGaps || f.Code == CodeCaptureTruncated {
				continue
			}
			hit := false
			for _, id := range f.Flows {
				if v := flowsOf[feat]; id < len(v) && v[id] {
					hit = true
					break
				}
			}
			// DNS failures of the names sign-in needs hit sign-in and
			// presence even when no flow followed.
			if f.Code == CodeDNSFailure && (feat == FeatureSignIn || feat == FeaturePresence) {
				hit = true
			}
			if !hit {
				continue
			}
			codes[f.Code] = true
			if f.Severity == SeverityError {
				failing = true
			}
		}
		for _, works := range callWorks[feat] {
			if !works {
				failing = true
			}
		}
		switch {
		case failing:
			v.Status = StatusFailing
		case seen[feat]:
			v.Status = StatusOK
		}
		for c := range codes {
			v.Findings = append(v.Findings, c)
		}
		sort.Strings(v.Findings)
		out = append(out, v)
	}
	return out
}
