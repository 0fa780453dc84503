package proto

// SIPMessage is the start line and a few headers of a SIP message
// (RFC 3261 §7). Slices alias the input.
type SIPMessage struct {
	Request    bool
	Method     []byte // request method, e.g. REGISTER
	StatusCode int    // response status, e.g. 401
	CallID     []byte
	FromHost   []byte // host part of the From URI (no user, no port)
	ToHost     []byte
	CSeqMethod []byte // method in CSeq: what a response answers
	// Size is the message length (headers + Content-Length body) when it
	// is complete in the input, else 0: callers walk TCP streams with it.
	Size int
}

// ParseSIP parses the SIP message at the start of b. It never allocates.
func ParseSIP(b []byte) (SIPMessage, bool) {
	var m SIPMessage
	line, rest, ok := sipLine(b)
	if !ok {
		return m, false
	}
	if hasPrefixFold(line, "SIP/2.0 ") {
		if len(line) < 11 || !digit(line[8]) || !digit(line[9]) || !digit(line[10]) || len(line) > 11 && line[11] != ' ' {
			return m, false
		}
		m.StatusCode = int(line[8]-'0')*100 + int(line[9]-'0')*10 + int(line[10]-'0')
		if m.StatusCode < 100 {
			return m, false
		}
	} else {
		sp := indexByte(line, ' ')
		if sp <= 0 || !hasSuffixFold(line, " SIP/2.0") || sp+len(" SIP/2.0") >= len(line) {
			return m, false
		}
		for _, c := range line[:sp] {
			if c < 'A' || c > 'Z' { // methods are upper-case tokens in practice
				return m, false
			}
		}
		m.Request, m.Method = true, line[:sp]
	}
	contentLength := -1
	for {
		if len(rest) == 0 {
			return m, true // headers cut (UDP fragment or TCP segment): keep what we have
		}
		line, rest, ok = sipLine(rest)
		if !ok {
			return m, true
		}
		if len(line) == 0 {
			break
		}
		colon := indexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name, val := trimSpace(line[:colon]), trimSpace(line[colon+1:])
		switch {
		case equalFold(name, "call-id") || equalFold(name, "i"):
			m.CallID = val
		case equalFold(name, "from") || equalFold(name, "f"):
			m.FromHost = sipHost(val)
		case equalFold(name, "to") || equalFold(name, "t"):
			m.ToHost = sipHost(val)
		case equalFold(name, "cseq"):
			if sp := indexByte(val, ' '); sp > 0 {
				m.CSeqMethod = trimSpace(val[sp+1:])
			}
		case equalFold(name, "content-length") || equalFold(name, "l"):
			n := 0
			for _, c := range val {
				if !digit(c) || n > 1<<24 {
					n = -1
					break
				}
				n = n*10 + int(c-'0')
			}
			contentLength = n
		}
	}
	if contentLength >= 0 && contentLength <= len(rest) {
		m.Size = len(b) - len(rest) + contentLength
	}
	return m, true
}

// sipLine splits off one CRLF- (or LF-) terminated line.
func sipLine(b []byte) (line, rest []byte, ok bool) {
	i := indexByte(b, '\n')
	if i < 0 {
		return nil, nil, false
	}
	line = b[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, b[i+1:], true
}

// sipHost returns the host of the first sip:/sips: URI in a From/To value.
func sipHost(v []byte) []byte {
	i := -1
	for j := 0; j+4 <= len(v); j++ {
		if equalFold(v[j:j+4], "sip:") {
			i = j + 4
			break
		}
		if j+5 <= len(v) && equalFold(v[j:j+5], "sips:") {
			i = j + 5
			break
		}
	}
	if i < 0 {
		return nil
	}
	u := v[i:]
	end := len(u)
	for j, c := range u {
		if c == '>' || c == ';' || c == '?' || c == ' ' || c == ',' {
			end = j
			break
		}
	}
	u = u[:end]
	if at := lastIndexByte(u, '@'); at >= 0 {
		u = u[at+1:]
	}
	if len(u) > 0 && u[0] == '[' {
		if j := indexByte(u, ']'); j > 0 {
			return u[1:j]
		}
		return u
	}
	if c := indexByte(u, ':'); c >= 0 {
		u = u[:c]
	}
	return u
}

func digit(c byte) bool { return c >= '0' && c <= '9' }

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares ASCII case-insensitively without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, s string) bool { return len(b) >= len(s) && equalFold(b[:len(s)], s) }
func hasSuffixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[len(b)-len(s):], s)
}
