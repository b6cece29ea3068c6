package classifier

import (
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

// scanner walks text once, byte by byte, hashing each word's lowercased
// ASCII letters as it goes and looking complete words (and the pair with the
// previous word) up in the keyword table. It never allocates.
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
	cls := s.kw.class
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
				if j < n && t[j] != '\n' && t[j] != '\r' && s.lineOpen(t[j:], indent, &ln.code) {
					ln.option = 1 + j
					s.optLine++
				}
			}
		}
		b := t[i]
		switch cls[b] {
		case clsLetter:
			j := i
			lastLower := false
			uppers := 0
			if b < 'a' {
				s.c.capWords++
			}
			h := hashSeed // the word's hash, lowercased, as wordHash computes it
			for j < n {
				c := t[j]
				if c-'a' < 26 {
					lastLower = true
					h = (h ^ uint64(c)) * hashPrime
					j++
					continue
				}
				if c-'A' >= 26 {
					break
				}
				uppers++
				if lastLower {
					s.c.caseBreaks++
				}
				lastLower = false
				h = (h ^ uint64(c|0x20)) * hashPrime
				j++
			}
			run := j - i
			fh := finishHash(h)
			if run >= minVocabWord {
				switch {
				case uppers == 0 && s.vocab.has(fh):
					s.c.known++
				case uppers == 1 && b < 'a' && s.vocab.has(fh^capSalt):
					s.c.capKnown++
				case uppers == 1 && b < 'a':
					s.c.capUnknown++
					s.c.unknownLen[unknownBucket(run)]++
				default:
					s.c.unknownLen[unknownBucket(run)]++
				}
			}
			ln.letters += run
			ln.last = 'a'
			s.c.wordLen[bucket(run)]++
			if run > 12 {
				s.c.wordExtra += run - 12
			}
			if signals {
				if s.rec != nil {
					s.record(t, i, j)
				}
				if ln.option > 0 && run >= minVocabWord {
					s.optionWord(fh)
				}
				s.endWord(t, i, j, fh, i < easyWindow || n-j < easyWindow)
			}
			i = j
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
				if signals {
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
	if indent >= 4 && !isListOpen(rest) {
		*code = true
	}
	switch {
	case hasPrefix(rest, ">>>"), hasPrefix(rest, "def "), hasPrefix(rest, "class "),
		hasPrefix(rest, "import "), hasPrefix(rest, "from "), hasPrefix(rest, "#include"),
		hasPrefix(rest, "return "), hasPrefix(rest, "func "), hasPrefix(rest, "function "),
		hasPrefix(rest, "public "), hasPrefix(rest, "private "), hasPrefix(rest, "const "),
		hasPrefix(rest, "let "), hasPrefix(rest, "var "), hasPrefix(rest, "fn "),
		hasPrefix(rest, "SELECT "), hasPrefix(rest, "select "), hasPrefix(rest, "package "),
		hasPrefix(rest, "for ("), hasPrefix(rest, "if ("), hasPrefix(rest, "while ("),
		hasPrefix(rest, "#!"), hasPrefix(rest, "//"), hasPrefix(rest, "}"):
		if !hasPrefix(rest, "from ") || containsByteSeq(rest, " import ") {
			*code = true
		}
	}
	if isListOpen(rest) {
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

// endWord looks the finished word t[i:j] (hash h), the pair it forms with
// the previous word and, if the model has suffix terms, its last suffixLen
// letters up in the keyword table: one probe each gives the keyword
// category and the learned term. Term weights are added in the order word,
// pair, suffix.
func (s *scanner) endWord(t string, i, j int, h uint64, instruction bool) {
	s.c.words++
	kw := s.kw
	head := false
	if e := kw.find(h); e != nil {
		if e.cat != catNone {
			s.count(e.cat, instruction)
		}
		if e.term >= 0 && s.terms != nil {
			s.ts.add(s.terms, int(e.term))
		}
		head = e.head
	}
	if s.prevH != 0 {
		if e := kw.find(pairHash(s.prevH, h)); e != nil {
			if e.cat != catNone {
				s.count(e.cat, instruction)
			}
			if e.term >= 0 && s.terms != nil {
				s.ts.add(s.terms, int(e.term))
			}
		}
	}
	if kw.suffixes && s.terms != nil && j-i >= suffixMinWord {
		if e := kw.find(suffixHash(t[j-suffixLen : j])); e != nil && e.term >= 0 {
			s.ts.add(s.terms, int(e.term))
		}
	}
	s.prevH = 0
	if head {
		s.prevH = h
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

func unknownBucket(n int) int {
	switch {
	case n <= 4:
		return 0
	case n <= 6:
		return 1
	case n <= 8:
		return 2
	case n <= 11:
		return 3
	}
	return 4
}

func bucket(n int) int {
	if n > 12 {
		return 6
	}
	return (n - 1) / 2
}

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
