// Package guard refuses semantic-cache matches between prompts that look
// alike but ask different things.
//
// Embedding similarity (lexical or neural) is high for "What is 15% of 80?"
// and "What is 15% of 90?", yet the same answer cannot serve both. Check
// compares the facts that flip an answer while changing few words: numbers,
// named entities, negation, direction words and the writing system.
package guard

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Reasons returned by Check when it refuses a pair.
const (
	ReasonScript   = "script differs"
	ReasonNumbers  = "numbers differ"
	ReasonNegation = "negation differs"
	ReasonAntonym  = "antonym differs"
	ReasonEntities = "entities differ"
)

// Check reports whether a cached answer for prompt a may serve prompt b (the
// relation is symmetric). It refuses (ok false, with a short machine reason)
// when the two prompts differ in:
//
//   - the dominant writing system (Latin, Cyrillic, Han, ...): ReasonScript;
//   - the multiset of numbers: digit runs (with "1,000" = "1000", "3.50" =
//     "3.5", leading zeros dropped, so dates and times compare part by part)
//     and spelled-out numbers ("five" = "5", "dozen" = "12", "hundred" =
//     "100"): ReasonNumbers;
//   - the count of negations (not, no, never, none, nobody, nothing,
//     neither, nor, cannot, without, nowhere, and "n't" forms): ReasonNegation;
//   - direction or comparison words, canonicalised so synonyms agree
//     ("larger" = "bigger"): when both prompts use an axis (more/less,
//     before/after, increase/decrease, max/min, largest/smallest,
//     above/below, first/last, ascending/descending, encrypt/decrypt, ...)
//     they must use the same side of it: ReasonAntonym;
//   - named entities: a word capitalised other than at the start of a
//     sentence, an acronym, a camelCase or snake_case identifier, a dotted
//     name, a URL or e-mail address, or a quoted string, found in one prompt
//     but not (case-insensitively) in the other: ReasonEntities;
//   - where those facts sit: per clause (split at punctuation and at
//     conjunctions such as "and", "but", "because"), in order, the
//     negations, the numbers with the unit written next to them ("5 km" is
//     not "5 miles", "$5" not "5"), the direction words and the entities of
//     either prompt must be the same. "Flights from Paris to Rome" vs "from
//     Rome to Paris", or "not" moved to the other clause: ReasonPosition.
//
// It errs on the side of refusing: "twenty five" vs "25" or "Obama" vs "the
// president" are refused. It does not detect entities the writer did not
// capitalise ("capital of france" vs "capital of spain"), nor a change of
// language within one script. Check is safe for concurrent use; it does not
// allocate for prompts of up to 32 words without thousands separators.
func Check(a, b string) (ok bool, reason string) {
	var fa, fb facts
	fa.scan(a)
	fb.scan(b)
	switch {
	case fa.script != fb.script && fa.script != scriptNone && fb.script != scriptNone:
		return false, ReasonScript
	case !sameMultiset(fa.nums.items(), fb.nums.items()):
		return false, ReasonNumbers
	case fa.neg != fb.neg:
		return false, ReasonNegation
	case !sameDirections(fa.dirs.items(), fb.dirs.items()) || !sameDirections(fb.dirs.items(), fa.dirs.items()):
		return false, ReasonAntonym
	case !entitiesIn(&fa, &fb) || !entitiesIn(&fb, &fa):
		return false, ReasonEntities
	case !samePositions(a, b, fa.ents.items(), fb.ents.items(), bothAxes(fa.dirs.items(), fb.dirs.items())):
		return false, ReasonPosition
	}
	return true, ""
}

// facts are what Check compares, extracted in one pass over a prompt.
type facts struct {
	words  list // every word token, original case
	nums   list // normalised numbers
	dirs   list // canonical direction words
	ents   list // entity words (compared case-insensitively with words)
	exact  list // URLs, e-mails, identifiers, quoted strings (compared exactly)
	chunks list // whitespace-separated chunks, trimmed of punctuation
	neg    int
	script script
}

// list is an append-only list of strings that lives inline (on the stack)
// up to its first 32 items.
type list struct {
	n      int
	inline [32]string
	more   []string
}

func (l *list) add(s string) {
	if l.n < len(l.inline) {
		l.inline[l.n] = s
	} else {
		l.more = append(l.more, s)
	}
	l.n++
}

// items returns the list as a slice; it allocates only past 32 items.
func (l *list) items() []string {
	if l.n <= len(l.inline) {
		return l.inline[:l.n]
	}
	return append(l.inline[:], l.more...)
}

func (f *facts) scan(s string) {
	f.script = dominantScript(s)
	f.scanQuoted(s)
	f.scanChunks(s)
	f.scanWords(s)
}

// scanQuoted records the contents of "double", “curly” and `backtick` quotes.
func (f *facts) scanQuoted(s string) {
	for _, q := range [...][2]string{{`"`, `"`}, {"`", "`"}, {"“", "”"}} {
		rest := s
		for {
			i := strings.Index(rest, q[0])
			if i < 0 {
				break
			}
			rest = rest[i+len(q[0]):]
			j := strings.Index(rest, q[1])
			if j < 0 {
				break
			}
			if inner := strings.TrimSpace(rest[:j]); inner != "" {
				f.exact.add(inner)
			}
			rest = rest[j+len(q[1]):]
		}
	}
}

// scanChunks records URLs, e-mail addresses and code identifiers, found in
// whitespace-separated chunks.
func (f *facts) scanChunks(s string) {
	for c := range strings.FieldsSeq(s) {
		c = strings.TrimRightFunc(strings.TrimLeftFunc(c, isOpener), isCloser)
		if c == "" {
			continue
		}
		f.chunks.add(c)
		if isURLOrEmail(c) || isIdentifier(c) {
			f.exact.add(c)
		}
	}
}

func isOpener(r rune) bool {
	switch r {
	case '(', '[', '{', '<', '"', '\'', '`', '“', '‘':
		return true
	}
	return false
}

func isCloser(r rune) bool {
	switch r {
	case ')', ']', '}', '>', ',', ';', ':', '!', '?', '.', '"', '\'', '`', '”', '’':
		return true
	}
	return false
}

func isURLOrEmail(c string) bool {
	if strings.Contains(c, "://") || strings.HasPrefix(c, "www.") {
		return true
	}
	at := strings.IndexByte(c, '@')
	return at > 0 && strings.IndexByte(c[at:], '.') > 1
}

// isIdentifier reports code-like names: snake_case, dotted names (os.path),
// calls (foo()), or camelCase (lower then upper: getUser, iPhone).
func isIdentifier(c string) bool {
	var prevLower, hasLetter bool
	for i := 0; i < len(c); i++ {
		ch := c[i]
		switch {
		case ch == '_' && i > 0 && i < len(c)-1:
			return true
		case ch == '(' && strings.HasSuffix(c, ")"):
			return hasLetter
		case ch == '.' && i > 0 && i < len(c)-1 && isASCIILetter(c[i-1]) && isASCIILetter(c[i+1]):
			return true
		case ch >= 'A' && ch <= 'Z' && prevLower:
			return true
		}
		prevLower = ch >= 'a' && ch <= 'z'
		hasLetter = hasLetter || isASCIILetter(ch)
	}
	return false
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// scanWords splits s into word tokens and classifies each as a number,
// negation, direction word or entity.
func (f *facts) scanWords(s string) {
	sentenceStart := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isWordRune(r) {
			switch r {
			case '.', '!', '?', '\n':
				// "3.5" keeps its dot: numbers are read whole below
				sentenceStart = true
			}
			i += n
			continue
		}
		if unicode.IsDigit(r) {
			j := numberEnd(s, i)
			f.nums.add(normNumber(s[i:j]))
			i = j
			sentenceStart = false
			continue
		}
		j := wordEnd(s, i)
		w := s[i:j]
		f.words.add(w)
		f.classify(w, sentenceStart)
		sentenceStart = false
		i = j
	}
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) }

// wordEnd returns the end of the letter run starting at i; apostrophes
// between letters stay inside ("don't"); digits end it ("5km" -> 5, km).
func wordEnd(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsLetter(r) || unicode.IsMark(r) {
			i += n
			continue
		}
		if r == '\'' || r == '’' {
			next, _ := utf8.DecodeRuneInString(s[i+n:])
			if i+n < len(s) && unicode.IsLetter(next) {
				i += n
				continue
			}
		}
		break
	}
	return i
}

// numberEnd returns the end of the number starting at i: digits with single
// ',' or '.' between digits ("1,000.50").
func numberEnd(s string, i int) int {
	for i < len(s) {
		c := s[i]
		if c >= '0' && c <= '9' {
			i++
			continue
		}
		if (c == ',' || c == '.') && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
			i++
			continue
		}
		if c >= 0x80 { // other Unicode digits
			r, n := utf8.DecodeRuneInString(s[i:])
			if unicode.IsDigit(r) {
				i += n
				continue
			}
		}
		break
	}
	return i
}

// normNumber drops thousands commas, leading zeros and trailing fractional
// zeros: "1,000" -> "1000", "007" -> "7", "3.50" -> "3.5", "2.0" -> "2". It
// allocates only when it has to remove a comma.
func normNumber(n string) string {
	if strings.IndexByte(n, ',') >= 0 {
		n = strings.ReplaceAll(n, ",", "")
	}
	if dot := strings.IndexByte(n, '.'); dot >= 0 && strings.IndexByte(n[dot+1:], '.') < 0 {
		n = strings.TrimRight(n, "0")
		n = strings.TrimSuffix(n, ".")
	}
	for len(n) > 1 && n[0] == '0' && n[1] != '.' {
		n = n[1:]
	}
	return n
}

// classify files one word token.
func (f *facts) classify(w string, sentenceStart bool) {
	var buf [24]byte
	if lw, ok := lowerASCII(&buf, w); ok {
		if v := numberWord(lw); v != "" {
			f.nums.add(v)
			return
		}
		if isNegation(lw) {
			f.neg++
			return
		}
		if d := direction(lw); d != "" {
			f.dirs.add(d)
			return
		}
	}
	if isEntity(w, sentenceStart) {
		f.ents.add(w)
	}
}

// lowerASCII lower-cases an ASCII word of up to len(buf) bytes into buf
// (curly apostrophes become '); ok is false for longer or non-ASCII words.
func lowerASCII(buf *[24]byte, w string) ([]byte, bool) {
	n := 0
	for i := 0; i < len(w); i++ {
		c := w[i]
		if n == len(buf) {
			return nil, false
		}
		if c >= 0x80 {
			if strings.HasPrefix(w[i:], "’") {
				buf[n] = '\''
				n++
				i += len("’") - 1
				continue
			}
			return nil, false
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	return buf[:n], true
}

// isEntity: capitalised other than at a sentence start (except "I" and its
// contractions), or an acronym (two or more capitals) anywhere.
func isEntity(w string, sentenceStart bool) bool {
	r, _ := utf8.DecodeRuneInString(w)
	if !unicode.IsUpper(r) {
		return false
	}
	if w == "I" || strings.HasPrefix(w, "I'") || strings.HasPrefix(w, "I’") {
		return false
	}
	upper := 0
	for _, c := range w {
		if unicode.IsUpper(c) {
			upper++
		}
	}
	return !sentenceStart || upper >= 2
}

// entitiesIn reports whether every entity of a occurs in b: entity words as
// a word of b (case-insensitively), exact strings as a substring of b.
func entitiesIn(a, b *facts) bool {
	words, exact, chunks := b.words.items(), b.exact.items(), b.chunks.items()
	for _, e := range a.ents.items() {
		if !containsFold(words, e) {
			return false
		}
	}
	for _, e := range a.exact.items() {
		if !slices.Contains(exact, e) && !containsFold(chunks, e) {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, w := range list {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}

func sameMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// bothAxes returns a filter of the direction words whose axis both
// prompts use (a one-sided direction word is left to the threshold).
func bothAxes(a, b []string) func(string) bool {
	return func(d string) bool {
		inA, inB := false, false
		for _, e := range a {
			inA = inA || e[1:] == d[1:]
		}
		for _, e := range b {
			inB = inB || e[1:] == d[1:]
		}
		return inA && inB
	}
}

// sameDirections reports whether, on every axis that both prompts use, each
// side of the axis used by a is used by b too. A direction word only one
// prompt uses ("sort" vs "sort descending") is left to the similarity
// threshold.
func sameDirections(a, b []string) bool {
	for _, d := range a {
		axisInB, sideInB := false, false
		for _, e := range b {
			if e[1:] == d[1:] {
				axisInB = true
				sideInB = sideInB || e[0] == d[0]
			}
		}
		if axisInB && !sideInB {
			return false
		}
	}
	return true
}
