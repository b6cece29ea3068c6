package classifier

import (
	"math/bits"
	"unicode/utf8"
)

// cat is a keyword category. Each word or two-word phrase of the prompt is
// looked up once in the classifier's keyword table.
type cat uint8

const (
	catNone       cat = iota
	catCode           // programming words: python, function, debug, ...
	catMath           // mathematical vocabulary: equation, integral, prime, ...
	catHard           // proof / derivation / optimisation / design / architecture requests
	catReason         // multi-step reasoning cues: why, explain, step by step, ...
	catConstraint     // explicit constraints: must, exactly, at least, ...
	catLength         // requested output length: detailed, essay, comprehensive, ...
	catEasy           // easy transformations of a provided text: summarise, translate, ...
	catQuant          // quantitative questions: how many, how much, total, ...
	catNumWord        // spelled numbers and ratios: half, twice, dozen, ...
	catDomain         // specialist STEM / law / medicine vocabulary
	numCats
)

// easyWindow is how many bytes at the start and at the end of a message are
// treated as its instruction when looking for easy-task cues, so that a long
// pasted document that happens to contain "summary" does not count.
const easyWindow = 320

// counts is what one pass over the prompt text collects: raw material for
// the token estimate and for the complexity signals.
type counts struct {
	// Token estimate inputs (pre-tokenizer pieces, as cl100k_base splits).
	wordLen      [7]int // letter runs of length 1-2, 3-4, 5-6, 7-8, 9-10, 11-12, 13+
	capWords     int    // letter runs starting with an upper-case letter (names are often split)
	known        int    // lowercase letter runs of minVocabWord+ letters that are one token
	capKnown     int    // Capitalised letter runs of minVocabWord+ letters that are one token
	capUnknown   int    // Capitalised letter runs that are not
	unknownLen   [5]int // other letter runs of minVocabWord+ letters: 3-4, 5-6, 7-8, 9-11, 12+ letters
	wordExtra    int    // letters beyond 12 in long runs
	caseBreaks   int    // lower->upper transitions inside a letter run (camelCase)
	digitGroups  int    // digit runs split in groups of three
	spacedNums   int    // digit runs right after a space (the space is its own token)
	punctRuns    int    // runs of ASCII punctuation
	punctChars   int    // ASCII punctuation characters
	glued        int    // one punctuation character glued to the word after it (_name, .method)
	newlineRuns  int    // runs of line breaks
	spaceRuns    int    // runs of two or more spaces or tabs
	multiByte    int    // non-ASCII runes below U+0800 (accented Latin, Cyrillic, ...)
	wideRunes    int    // non-ASCII runes from U+0800 other than the two below (symbols, emoji)
	typoRunes    int    // general punctuation U+2000-U+206F (’ “ ” — …), often merged
	cjkRunes     int    // CJK and other runes from U+2E80
	messageCount int    // messages and other framed pieces, for the per-message overhead

	// Signal inputs.
	words        int
	proseNumbers int // numbers outside code lines
	questions    int
	fences       int // ``` markers
	codeLines    int
	codeSyms     int // { } ; == != -> => in any line
	mathSyms     int // binary operators between operands, ^, outside code lines
	latex        int // \command sequences
	mathRunes    int // unicode math symbols
	listItems    int
	choiceBits   uint8 // multiple-choice markers seen: bit i for option A+i
	kw           [numCats]int

	// Learned-scorer inputs.
	optionLines int // lines that open with a lettered option ("A.", "(B)", "C)")
	optionBytes int // bytes of those lines
	optionWords int // distinct words of minVocabWord+ letters on the first maxOptions option lines
	sharedWords int // those of them on two or more of those lines
}

// scanner walks text once, run by run (a word eight bytes at a time),
// hashing each word's lowercased ASCII letters and looking complete words
// (and the pair with the previous word) up in the keyword table. It never
// allocates.
type scanner struct {
	kw    *keywords
	vocab *vocabSet
	c     counts
	// skipped counts the bytes the window left out (Classifier.text).
	skipped int

	prevH   uint64 // hash of the previous word if it is a pair's first word (kwVal.head); else 0
	inFence bool

	// Learned-scorer terms (see learned.go): terms is nil for the hand
	// weights; rec is set only when fitting, and prevWord with it.
	terms    *termTable
	ts       termScan
	rec      termRecorder
	prevWord string

	// Words of the option lines, for how much wording the options share
	// (optionWord): a set of word hashes, each with a bit per option line.
	optLine  int // option lines seen so far; the current one's bit is 1<<(optLine-1)
	optUsed  int
	optKeys  [optSlots]uint64 // word hash | 1; 0 = empty
	optLines [optSlots]uint8
}

// maxOptions and optSlots bound the option-word set: words of options past
// the eighth, or past three quarters of the slots, are not counted.
const (
	maxOptions = 8
	optSlots   = 256
)

// optionWord adds the word with hash h to the current option line's words.
func (s *scanner) optionWord(h uint64) {
	if s.optLine == 0 || s.optLine > maxOptions || s.optUsed >= optSlots*3/4 {
		return
	}
	bit := uint8(1) << (s.optLine - 1)
	h |= 1
	for i := h & (optSlots - 1); ; i = (i + 1) & (optSlots - 1) {
		switch s.optKeys[i] {
		case h:
			s.optLines[i] |= bit
			return
		case 0:
			s.optKeys[i] = h
			s.optLines[i] = bit
			s.optUsed++
			return
		}
	}
}

// optionCounts sets optionWords and sharedWords from the option-word set.
func (s *scanner) optionCounts() {
	if s.optUsed == 0 {
		return
	}
	shared := 0
	for i, k := range s.optKeys {
		if k != 0 && s.optLines[i]&(s.optLines[i]-1) != 0 {
			shared++
		}
	}
	s.c.optionWords, s.c.sharedWords = s.optUsed, shared
}

// Byte classes for the scanner's run loop.
const (
	clsPunct uint8 = iota
	clsLetter
	clsDigit
	clsSpace
	clsNewline
	clsHigh // first byte of a non-ASCII rune
)

func byteClasses() *[256]uint8 {
	var t [256]uint8
	for i := range t {
		b := byte(i)
		switch {
		case b >= 0x80:
			t[i] = clsHigh
		case isAlpha(b):
			t[i] = clsLetter
		case isDigit(b):
			t[i] = clsDigit
		case b == ' ' || b == '\t':
			t[i] = clsSpace
		case b == '\n' || b == '\r':
			t[i] = clsNewline
		}
	}
	return &t
}

// line holds what is known about the line being scanned.
type line struct {
	nums, math, letters int
	code                bool
	last                byte // last non-blank byte
	option              int  // 1 + offset of the line's start when it opens with a lettered option; 0 otherwise
}

// text scans one piece of prompt text in a single pass over runs of bytes of
// one class. signals=false counts tokens only (tool schemas, tool call
// arguments, response formats).
func (s *scanner) text(t string, signals bool) {
	s.c.messageCount++
	s.prevH = 0
	s.prevWord = ""
	kw := s.kw
	cls := kw.class
	n := len(t)
	var ln line
	lineStart := true
	for i := 0; i < n; {
		if lineStart {
			lineStart = false
			if signals {
				j, indent := i, 0
				for j < n && (t[j] == ' ' || t[j] == '\t') {
					indent++
					if t[j] == '\t' {
						indent += 3
					}
					j++
				}
				if j < n && t[j] != '\n' && t[j] != '\r' && (indent >= 4 || s.inFence || mayOpen(t[j])) && s.lineOpen(t[j:], indent, &ln.code) {
					ln.option = 1 + j
					s.optLine++
				}
			}
		}
		b := t[i]
		switch cls[b] {
		case clsLetter:
			// One word per iteration; a single space between two words
			// (nothing to count) keeps the loop going.
			for {
				// The word's first eight bytes at once: where it ends, its
				// hash and its upper-case letters.
				var x uint64
				if i+8 <= n {
					x = load64(t, i)
				} else {
					x = loadTail(t, i)
				}
				var j int
				var h uint64
				uppers := 0
				if nl := ^letterBits(x) & hiBits; nl != 0 {
					j = i + bits.TrailingZeros64(nl)>>3
					keep := (nl&-nl)>>7 - 1 // the bytes before the first non-letter
					h = nonZero(hashChunk(hashSeed, (x|lowerBits)&keep))
					if up := ^(x << 2) & hiBits & keep; up != 0 { // letters with bit 5 (lower case) clear
						uppers = 1
						if up != 0x80 {
							uppers = bits.OnesCount64(up)
							s.c.caseBreaks += bits.OnesCount64((x << 2 & hiBits & keep) << 8 & up)
						}
					}
				} else {
					j, h, uppers = s.letters(t, i)
				}
				run := j - i
				if run >= minVocabWord {
					switch {
					case uppers == 0 && s.vocab.has(h):
						s.c.known++
					case uppers == 1 && b < 'a' && s.vocab.has(h^capSalt):
						s.c.capKnown++
					case uppers == 1 && b < 'a':
						s.c.capUnknown++
						s.c.unknownLen[unknownBucket(run)]++
					default:
						s.c.unknownLen[unknownBucket(run)]++
					}
				}
				if b < 'a' {
					s.c.capWords++
				}
				ln.letters += run
				ln.last = 'a'
				s.c.wordLen[bucket(run)]++
				s.c.wordExtra += max(run-12, 0)
				if signals {
					if s.rec != nil {
						s.record(t, i, j)
					}
					if ln.option > 0 && run >= minVocabWord {
						s.optionWord(h)
					}
					// The keyword table probes of the word and of the pair
					// with the previous word, inline: they seldom find
					// anything (found counts that), but a pair's first word
					// is common ("the", "a", "how").
					s.c.words++
					e := &kw.vals[kw.probe(h)]
					if e.cat != catNone || e.term >= 0 {
						s.found(e, i < easyWindow || n-j < easyWindow)
					}
					if s.prevH != 0 {
						if p := &kw.vals[kw.probe(pairHash(s.prevH, h))]; p.cat != catNone || p.term >= 0 {
							s.found(p, i < easyWindow || n-j < easyWindow)
						}
					}
					if kw.suffixes {
						s.suffix(t, i, j)
					}
					s.prevH = 0
					if e.head {
						s.prevH = h
					}
				}
				i = j
				if j+1 >= n || t[j] != ' ' || cls[t[j+1]] != clsLetter {
					break
				}
				i++
				b = t[i]
			}
		case clsDigit:
			var prev byte
			if i > 0 {
				prev = t[i-1]
			}
			if !isAlpha(prev) && prev != '_' && !listMarker(t, i, &ln) {
				ln.nums++
			}
			if prev == ' ' {
				s.c.spacedNums++
			}
			j := i
			for {
				k := j
				for k < n && isDigit(t[k]) {
					k++
				}
				s.c.digitGroups += (k - j + 2) / 3
				// 3.5 and 1,000 are one number.
				if k+1 < n && (t[k] == '.' || t[k] == ',') && isDigit(t[k+1]) {
					s.c.punctChars++
					j = k + 1
					continue
				}
				j = k
				break
			}
			ln.last = '0'
			i = j
		case clsSpace:
			j := i + 1
			for j < n && cls[t[j]] == clsSpace {
				j++
			}
			if j-i >= 2 {
				s.c.spaceRuns++
			}
			i = j
		case clsNewline:
			s.c.newlineRuns++
			for ; i < n && (cls[t[i]] == clsNewline || cls[t[i]] == clsSpace); i++ {
				if t[i] == '\n' {
					s.endLine(&ln, signals, i)
					lineStart = true
					if i+1 < n && cls[t[i+1]] == clsSpace {
						// Let the line-start code measure the indentation.
						i++
						break
					}
				}
			}
		case clsHigh:
			r, size := utf8.DecodeRuneInString(t[i:])
			switch {
			case r < 0x800:
				s.c.multiByte++
			case r >= 0x2000 && r <= 0x206F:
				s.c.typoRunes++
			case r >= 0x2E80:
				s.c.cjkRunes++
			default:
				s.c.wideRunes++
			}
			if signals && isMathRune(r) {
				s.c.mathRunes++
			}
			ln.last = 'x'
			s.prevH = 0
			s.prevWord = ""
			i += size
		default:
			s.c.punctRuns++
			j := i
			for ; j < n && cls[t[j]] == clsPunct; j++ {
				s.c.punctChars++
				if signals && punctOp(t[j]) {
					var prev byte
					if j > 0 {
						prev = t[j-1]
					}
					s.punct(t, j, prev, &ln.math)
				}
			}
			if j == i+1 && j < n && cls[t[j]] == clsLetter {
				s.c.glued++
			}
			ln.last = t[j-1]
			i = j
		}
	}
	s.endLine(&ln, signals, n)
}

// Bit masks for eight bytes at a time.
const (
	hiBits  uint64 = 0x8080808080808080 // the high bit of each byte
	lowBits uint64 = 0x7f7f7f7f7f7f7f7f
)

// letterBits has the high bit of each byte of x that is an ASCII letter.
func letterBits(x uint64) uint64 {
	y := (x | lowerBits) & lowBits // fold case; a letter is now in 'a'..'z'
	ge := y + 0x1f1f1f1f1f1f1f1f   // high bit: y >= 'a' (no carry: y <= 0x7f)
	gt := y + 0x0505050505050505   // high bit: y > 'z'
	return ge &^ gt &^ x & hiBits  // and not a byte >= 0x80
}

// letters reads the run of eight or more ASCII letters starting at t[i],
// eight bytes at a time, and returns where it ends, its hash (as wordHash
// computes it for the lowercased run) and its count of upper-case
// letters. It counts the run's lower-to-upper case breaks (camelCase).
func (s *scanner) letters(t string, i int) (end int, h uint64, uppers int) {
	h = hashSeed
	var prevLower uint64 // high bit set: the byte before the chunk was lower-case
	for ; ; i += 8 {
		var x uint64
		if i+8 <= len(t) {
			x = load64(t, i)
		} else {
			x = loadTail(t, i)
		}
		nl := ^letterBits(x) & hiBits
		keep := (nl&-nl)>>7 - 1 // the bytes before the first non-letter; all if none
		up := ^(x << 2) & hiBits & keep
		lo := x << 2 & hiBits & keep
		uppers += bits.OnesCount64(up)
		s.c.caseBreaks += bits.OnesCount64((lo<<8 | prevLower) & up)
		h = hashChunk(h, (x|lowerBits)&keep)
		if nl != 0 {
			return i + bits.TrailingZeros64(nl)>>3, nonZero(h), uppers
		}
		prevLower = lo >> 56
	}
}

// loadTail is load64 for the last bytes of t, from i, padded with zero
// bytes.
func loadTail(t string, i int) uint64 {
	var x uint64
	for k := len(t) - 1; k >= i; k-- {
		x = x<<8 | uint64(t[k])
	}
	return x
}

// endLine settles whether the finished line, which ends at offset end, was
// code and resets ln.
func (s *scanner) endLine(ln *line, signals bool, end int) {
	if signals {
		if ln.option > 0 {
			s.c.optionLines++
			s.c.optionBytes += end - (ln.option - 1)
		}
		if ln.last == ';' || ln.last == '{' || ln.last == '}' {
			ln.code = true
		}
		if ln.code || (s.inFence && ln.letters+ln.nums > 0) {
			s.c.codeLines++
		} else {
			s.c.proseNumbers += ln.nums
			s.c.mathSyms += ln.math
		}
	}
	*ln = line{}
}

// lineOpen inspects the first non-blank characters of a line and reports
// whether the line opens with a lettered option.
func (s *scanner) lineOpen(rest string, indent int, code *bool) bool {
	if hasPrefix(rest, "```") || hasPrefix(rest, "~~~") {
		s.c.fences++
		s.inFence = !s.inFence
		*code = true
		return false
	}
	if s.inFence {
		*code = true
		return false
	}
	list := isListOpen(rest)
	if indent >= 4 && !list || codeOpen(rest) {
		*code = true
	}
	if list {
		s.c.listItems++
	}
	// Multiple-choice option at line start: "A.", "A)", "(A)", "A:".
	if len(rest) >= 3 {
		l, p := rest[0], rest[1]
		if l == '(' && len(rest) >= 4 {
			l, p = rest[1], rest[2]
			if p == ')' {
				p = '.'
			}
		}
		if u := l &^ 0x20; u >= 'A' && u <= 'E' && (p == '.' || p == ')' || p == ':') {
			s.c.choiceBits |= 1 << (u - 'A')
			return true
		}
	}
	return false
}

// Bytes a line can open with for lineOpen to find something when the line
// is not indented by four or more and not in a fence: a fence, a code
// opening (codeOpen), a list item (isListOpen; 0xE2 starts "•") or a
// lettered option.
const (
	opens0 uint64 = 1<<'#' | 1<<'(' | 1<<'*' | 1<<'+' | 1<<'-' | 1<<'/' | 0x3ff<<'0' | 1<<'>'
	opens1 uint64 = 0x1f<<('A'-64) | 1<<('S'-64) | 1<<('`'-64) | 0x3f<<('a'-64) | 1<<('i'-64) | 1<<('l'-64) |
		1<<('p'-64) | 1<<('r'-64) | 1<<('s'-64) | 1<<('v'-64) | 1<<('w'-64) | 1<<('}'-64) | 1<<('~'-64)
)

// mayOpen reports whether a line opening with b may be code, a list item
// or an option (see opens0).
func mayOpen(b byte) bool {
	switch {
	case b < 64:
		return opens0>>b&1 != 0
	case b < 128:
		return opens1>>(b-64)&1 != 0
	}
	return b == 0xE2
}

// codeOpen reports whether a line opening with rest (not empty) reads as
// code: a prompt, a keyword of a common language, a comment or a closing
// brace. It switches on the first byte so that a line costs a compare or
// two.
func codeOpen(rest string) bool {
	switch rest[0] {
	case '>':
		return hasPrefix(rest, ">>>")
	case 'd':
		return hasPrefix(rest, "def ")
	case 'c':
		return hasPrefix(rest, "class ") || hasPrefix(rest, "const ")
	case 'i':
		return hasPrefix(rest, "import ") || hasPrefix(rest, "if (")
	case 'f':
		if hasPrefix(rest, "from ") {
			return containsByteSeq(rest, " import ")
		}
		return hasPrefix(rest, "func ") || hasPrefix(rest, "function ") || hasPrefix(rest, "fn ") || hasPrefix(rest, "for (")
	case '#':
		return hasPrefix(rest, "#include") || hasPrefix(rest, "#!")
	case 'r':
		return hasPrefix(rest, "return ")
	case 'p':
		return hasPrefix(rest, "public ") || hasPrefix(rest, "private ") || hasPrefix(rest, "package ")
	case 'l':
		return hasPrefix(rest, "let ")
	case 'v':
		return hasPrefix(rest, "var ")
	case 'S':
		return hasPrefix(rest, "SELECT ")
	case 's':
		return hasPrefix(rest, "select ")
	case 'w':
		return hasPrefix(rest, "while (")
	case '/':
		return hasPrefix(rest, "//")
	case '}':
		return true
	}
	return false
}

// Punctuation that punct counts something for: ? { } ; = - ^ + * / < > \ (.
const (
	punctOps0 uint64 = 1<<'?' | 1<<';' | 1<<'=' | 1<<'-' | 1<<'+' | 1<<'*' | 1<<'/' | 1<<'<' | 1<<'>' | 1<<'('
	punctOps1 uint64 = 1<<('{'-64) | 1<<('}'-64) | 1<<('^'-64) | 1<<('\\'-64)
)

// punctOp reports whether punct counts something for the ASCII byte b.
func punctOp(b byte) bool {
	if b < 64 {
		return punctOps0>>b&1 != 0
	}
	return punctOps1>>(b&63)&1 != 0
}

// punct counts code and math punctuation at t[i].
func (s *scanner) punct(t string, i int, prev byte, lineMath *int) {
	b := t[i]
	next := byte(0)
	if i+1 < len(t) {
		next = t[i+1]
	}
	switch b {
	case '?':
		s.c.questions++
	case '{', '}', ';':
		s.c.codeSyms++
	case '=':
		if next == '=' || prev == '!' || next == '>' {
			s.c.codeSyms++
			return
		}
		*lineMath++
	case '-':
		if next == '>' {
			s.c.codeSyms++
			return
		}
		if isDigit(prevNonSpace(t, i)) && isDigit(nextNonSpace(t, i)) {
			*lineMath++
		}
	case '^':
		*lineMath++
	case '+', '*', '/', '<', '>':
		p, q := prevNonSpace(t, i), nextNonSpace(t, i)
		if (isDigit(p) || p == ')' || isAlpha(p) && !isAlpha(prev2(t, i))) && (isDigit(q) || q == '(' || isAlpha(q)) {
			*lineMath++
		}
	case '\\':
		if i+2 < len(t) && isAlpha(t[i+1]) && isAlpha(t[i+2]) && !isAlpha(prev) {
			s.c.latex++
		}
	case '(':
		// Inline choice "(a)".
		if i+2 < len(t) && t[i+2] == ')' {
			if u := t[i+1] &^ 0x20; u >= 'A' && u <= 'E' {
				s.c.choiceBits |= 1 << (u - 'A')
			}
		}
	}
}

// record passes the terms of the word t[i:j] to s.rec (fitting only): the
// word, the pair with the previous word, and the word's last suffixLen
// letters.
func (s *scanner) record(t string, i, j int) {
	w := lowerASCII(t[i:j])
	s.rec("w:" + w)
	if s.prevWord != "" {
		s.rec("b:" + s.prevWord + " " + w)
	}
	if j-i >= suffixMinWord {
		s.rec("s:" + w[len(w)-suffixLen:])
	}
	s.prevWord = w
}

func lowerASCII(w string) string {
	b := []byte(w)
	for i, c := range b {
		b[i] = c | 0x20
	}
	return string(b)
}

// found counts the keyword category and adds the term weights of the
// table value e of the word or pair just read; instruction: the word is
// in the first or last easyWindow bytes. Term weights are added in the
// order word, pair, suffix.
func (s *scanner) found(e *kwVal, instruction bool) {
	if e.cat != catNone {
		s.count(e.cat, instruction)
	}
	if e.term >= 0 && s.terms != nil {
		s.ts.add(s.terms, int(e.term))
	}
}

// suffix adds the weights of the suffix term of the word t[i:j], if any.
func (s *scanner) suffix(t string, i, j int) {
	if s.terms != nil && j-i >= suffixMinWord {
		if e := s.kw.find(suffixHash(t[j-suffixLen : j])); e.term >= 0 {
			s.ts.add(s.terms, int(e.term))
		}
	}
}

func (s *scanner) count(c cat, instruction bool) {
	if c == catEasy && !instruction {
		return
	}
	s.c.kw[c]++
}

// listMarker reports whether the digits at t[i] open the line as a list
// number ("1." or "2)").
func listMarker(t string, i int, ln *line) bool {
	if ln.letters+ln.nums > 0 {
		return false
	}
	j := i
	for j < len(t) && isDigit(t[j]) {
		j++
	}
	return j < len(t) && (t[j] == '.' || t[j] == ')') && (j+1 == len(t) || t[j+1] == ' ')
}

// unknownBucket is the unknownLen index of a letter run of n letters.
func unknownBucket(n int) int {
	return int("\x00\x00\x00\x00\x00\x01\x01\x02\x02\x03\x03\x03\x04"[min(n, 12)])
}

// bucket is the wordLen index of a letter run of n >= 1 letters.
func bucket(n int) int { return (min(n, 13) - 1) >> 1 }

func isAlpha(b byte) bool { b |= 0x20; return b >= 'a' && b <= 'z' }
func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isListOpen(rest string) bool {
	if len(rest) < 2 {
		return false
	}
	switch rest[0] {
	case '-', '*', '+':
		return rest[1] == ' '
	}
	if hasPrefix(rest, "• ") {
		return true
	}
	i := 0
	for i < len(rest) && i < 3 && isDigit(rest[i]) {
		i++
	}
	return i > 0 && i+1 < len(rest) && (rest[i] == '.' || rest[i] == ')') && rest[i+1] == ' '
}

func prevNonSpace(t string, i int) byte {
	for j := i - 1; j >= 0 && j >= i-3; j-- {
		if t[j] != ' ' {
			return t[j]
		}
	}
	return 0
}

func nextNonSpace(t string, i int) byte {
	for j := i + 1; j < len(t) && j <= i+3; j++ {
		if t[j] != ' ' {
			return t[j]
		}
	}
	return 0
}

// prev2 returns the byte before the operand preceding t[i], so "x+1" counts
// as math but "word/word" does not.
func prev2(t string, i int) byte {
	j := i - 1
	for j >= 0 && t[j] == ' ' {
		j--
	}
	if j >= 1 {
		return t[j-1]
	}
	return 0
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func containsByteSeq(s, sub string) bool {
	// Only the current line matters; stop at the line end.
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i] == '\n' {
			return false
		}
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func isMathRune(r rune) bool {
	switch {
	case r >= 0x2200 && r <= 0x22FF: // mathematical operators
		return true
	case r >= 0x0391 && r <= 0x03C9: // Greek letters
		return true
	}
	switch r {
	case '×', '÷', '±', '≤', '≥', '≠', '√', '∞', '²', '³', '⇒', '→', '↔':
		return true
	}
	return false
}
