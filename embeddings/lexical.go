package embeddings

import (
	"context"
	"math"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// DefaultLexicalDim is the vector length NewLexical uses when given dim <= 0.
const DefaultLexicalDim = 512

// LexicalWindowBytes is how much of each text Lexical reads (cut back to a
// UTF-8 boundary).
const LexicalWindowBytes = 64 << 10

// lexicalVersion names the feature recipe. Bump it whenever tokenisation,
// features, weights or hashing change, so vectors stored by an older recipe
// are never compared with new ones.
const lexicalVersion = "lexical-v1"

// Feature groups and their share of the squared norm of a vector. Each group
// is normalised on its own before mixing, so the cosine of two vectors is
// close to the weighted mean of the per-group cosines.
const (
	wordWeight   = 0.60 // word unigrams
	bigramWeight = 0.10 // adjacent word pairs (a little word order)
	charWeight   = 0.30 // character 3-5-grams inside words (inflections, typos)

	stopwordWeight = 0.35 // unigram weight of very common function words
	minCharGram    = 3
	maxCharGram    = 5
)

// Lexical is a local embedder based on feature hashing: no model files, no
// network, deterministic across processes and platforms.
//
// A text is lower-cased and split into words (runs of Unicode letters, digits
// and marks; apostrophes inside words are dropped, other punctuation
// separates words). Three feature groups are hashed into Dim buckets with a
// signed 64-bit FNV-1a hash (fixed seed): word unigrams (common function
// words down-weighted), word bigrams, and character 3- to 5-grams of each
// word padded with boundary marks. Term frequency is sublinear (1 + ln tf).
// Each group is normalised, the groups are mixed with fixed weights, and the
// result is L2-normalised, so the dot product of two vectors is their cosine.
//
// What it can and cannot do: Lexical measures surface overlap. It matches
// near-duplicates, re-orderings, small edits, typos, inflections and
// rephrasings that keep most of the same words ("how do I reverse a string in
// python" ~ "how can I reverse a python string"). It does NOT understand
// meaning: synonyms with no shared letters ("car" vs "automobile") look
// unrelated, and two questions that share most words but ask different things
// ("capital of France" vs "capital of Spain") look similar. Use it with the
// cache guard and the DefaultLexicalThreshold calibrated on STS-B, or use an
// embeddings-API model for paraphrase-level matching.
//
// An empty text (or one with no letters or digits) embeds to the zero
// vector, whose cosine with anything is 0. Only the first LexicalWindowBytes
// of a text are embedded, so one call costs O(window) memory however long
// the text (the semantic cache skips prompts that long anyway). Lexical is
// safe for concurrent use.
type Lexical struct {
	dim  int
	name string
	p    lexParams
}

// lexParams are the recipe's weights (fixed by lexicalVersion).
type lexParams struct {
	word, bigram, char, stop float64
	minGram, maxGram         int
}

func defaultLexParams() lexParams {
	return lexParams{word: wordWeight, bigram: bigramWeight, char: charWeight, stop: stopwordWeight, minGram: minCharGram, maxGram: maxCharGram}
}

var _ Embedder = (*Lexical)(nil)

// NewLexical returns a Lexical embedder producing vectors of length dim
// (DefaultLexicalDim when dim <= 0). Its Name is "lexical-v1/<dim>".
func NewLexical(dim int) *Lexical {
	if dim <= 0 {
		dim = DefaultLexicalDim
	}
	return &Lexical{dim: dim, name: lexicalVersion + "/" + strconv.Itoa(dim), p: defaultLexParams()}
}

// Name returns "lexical-v1/<dim>".
func (l *Lexical) Name() string { return l.name }

// Dim returns the vector length.
func (l *Lexical) Dim() int { return l.dim }

// Embed returns one L2-normalised vector per text. It never fails except
// when ctx is already done.
func (l *Lexical) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	backing := make([]float32, len(texts)*l.dim)
	out := make([][]float32, len(texts))
	s := lexScratch{p: l.p}
	longest := 0
	for _, t := range texts {
		longest = max(longest, len(t))
	}
	longest = min(longest, LexicalWindowBytes)
	s.text = make([]byte, 0, longest+16)
	s.words = make([][2]int, 0, longest/2+4)
	s.feats = make([]uint64, 0, 3*longest+16)
	s.runes = make([]rune, 0, 64)
	for i, t := range texts {
		v := backing[i*l.dim : (i+1)*l.dim : (i+1)*l.dim]
		s.embed(t, v)
		out[i] = v
	}
	return out, nil
}

// lexScratch holds buffers reused across the texts of one Embed call.
type lexScratch struct {
	p     lexParams
	text  []byte   // lower-cased words, back to back
	words [][2]int // word spans in text
	feats []uint64 // hashes of one feature group
	runes []rune   // one padded word
}

func (s *lexScratch) embed(t string, v []float32) {
	if len(t) > LexicalWindowBytes {
		n := LexicalWindowBytes
		for n > 0 && !utf8.RuneStart(t[n]) {
			n--
		}
		t = t[:n]
	}
	s.tokenize(t)
	if len(s.words) == 0 {
		return
	}
	dim := uint64(len(v))

	// word unigrams, with function words down-weighted
	s.feats = s.feats[:0]
	for _, w := range s.words {
		// the lowest bit of a unigram hash marks a function word
		h := hashBytes(seedWord, s.text[w[0]:w[1]]) &^ 1
		if isStopword(s.text[w[0]:w[1]]) {
			h |= 1
		}
		s.feats = append(s.feats, h)
	}
	addGroup(v, dim, s.feats, s.p.word, func(h uint64) float64 {
		if h&1 == 1 {
			return s.p.stop
		}
		return 1
	})

	// word bigrams
	if len(s.words) > 1 {
		s.feats = s.feats[:0]
		for i := 1; i < len(s.words); i++ {
			a, b := s.words[i-1], s.words[i]
			h := hashBytes(seedBigram, s.text[a[0]:a[1]])
			h = hashByte(h, 0)
			h = hashMore(h, s.text[b[0]:b[1]])
			s.feats = append(s.feats, h)
		}
		addGroup(v, dim, s.feats, s.p.bigram, nil)
	}

	// character n-grams within padded words
	s.feats = s.feats[:0]
	for _, w := range s.words {
		s.runes = append(s.runes[:0], '<')
		for _, r := range string(s.text[w[0]:w[1]]) {
			s.runes = append(s.runes, r)
		}
		s.runes = append(s.runes, '>')
		for n := s.p.minGram; n <= s.p.maxGram; n++ {
			for i := 0; i+n <= len(s.runes); i++ {
				s.feats = append(s.feats, hashRunes(seedChar, s.runes[i:i+n]))
			}
		}
	}
	addGroup(v, dim, s.feats, s.p.char, nil)

	normalize(v)
}

// tokenize lower-cases t into s.text and records word spans in s.words.
// English contractions are expanded ("what's" -> what is, "don't" -> do
// not, "can't" -> can not); other apostrophes inside a word join it
// ("o'clock" -> oclock).
func (s *lexScratch) tokenize(t string) {
	s.text, s.words = s.text[:0], s.words[:0]
	start := -1
	end := func() {
		if start >= 0 {
			s.words = append(s.words, [2]int{start, len(s.text)})
			start = -1
		}
	}
	for i := 0; i < len(t); {
		r, n := utf8.DecodeRuneInString(t[i:])
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			if start < 0 {
				start = len(s.text)
			}
			s.text = utf8.AppendRune(s.text, unicode.ToLower(r))
		case (r == '\'' || r == '’') && start >= 0:
			if skip, ok := s.contraction(start, t[i+n:]); ok {
				i += n + skip
				start = -1
				continue
			}
			// otherwise the apostrophe joins the word when a letter follows
			if next, _ := utf8.DecodeRuneInString(t[i+n:]); !unicode.IsLetter(next) {
				end()
			}
		default:
			end()
		}
		i += n
	}
	end()
}

// contraction handles the word s.text[start:] followed by an apostrophe and
// rest. For a known English contraction it appends the word and its expansion
// and returns how many bytes of rest it consumed.
func (s *lexScratch) contraction(start int, rest string) (int, bool) {
	k := 0
	for k < len(rest) && (rest[k]|0x20 >= 'a' && rest[k]|0x20 <= 'z') {
		k++
	}
	if k == 0 || k > 2 || (k < len(rest) && isWordByte(rest[k])) {
		return 0, false
	}
	var exp string
	switch suffix := rest[:k]; {
	case equalFoldASCII(suffix, "t") && len(s.text) > start && s.text[len(s.text)-1] == 'n':
		switch string(s.text[start:]) {
		case "can":
		case "won":
			s.text = append(s.text[:start], "will"...)
		default:
			s.text = s.text[:len(s.text)-1] // "don" -> "do"
		}
		exp = "not"
	case equalFoldASCII(suffix, "s"):
		exp = "is"
	case equalFoldASCII(suffix, "re"):
		exp = "are"
	case equalFoldASCII(suffix, "ve"):
		exp = "have"
	case equalFoldASCII(suffix, "ll"):
		exp = "will"
	case equalFoldASCII(suffix, "d"):
		exp = "would"
	case equalFoldASCII(suffix, "m"):
		exp = "am"
	default:
		return 0, false
	}
	s.words = append(s.words, [2]int{start, len(s.text)})
	at := len(s.text)
	s.text = append(s.text, exp...)
	s.words = append(s.words, [2]int{at, len(s.text)})
	return k, true
}

func isWordByte(c byte) bool {
	return c >= 0x80 || c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z'
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i]|0x20 != b[i] {
			return false
		}
	}
	return true
}

// addGroup adds one feature group to v: features are counted, weighted
// 1+ln(tf) (times weight(h) when weight is non-nil), scaled so the group has
// squared norm share, and added with the sign taken from the hash.
func addGroup(v []float32, dim uint64, feats []uint64, share float64, weight func(uint64) float64) {
	if len(feats) == 0 {
		return
	}
	slices.Sort(feats)
	// first pass: the group's norm over distinct features
	var norm2 float64
	forRuns(feats, func(h uint64, tf int) {
		w := tfWeight(tf)
		if weight != nil {
			w *= weight(h)
		}
		norm2 += w * w
	})
	scale := math.Sqrt(share / norm2)
	forRuns(feats, func(h uint64, tf int) {
		w := tfWeight(tf)
		if weight != nil {
			w *= weight(h)
		}
		h = mix(h)
		idx := h % dim
		if h>>63 == 1 {
			w = -w
		}
		v[idx] += float32(w * scale)
	})
}

// tfWeight is the sublinear term-frequency weight 1 + ln(tf).
func tfWeight(tf int) float64 {
	if tf == 1 {
		return 1
	}
	return 1 + math.Log(float64(tf))
}

// forRuns calls f once per distinct value of the sorted feats with its count.
func forRuns(feats []uint64, f func(h uint64, tf int)) {
	for i := 0; i < len(feats); {
		j := i + 1
		for j < len(feats) && feats[j] == feats[i] {
			j++
		}
		f(feats[i], j-i)
		i = j
	}
}

func normalize(v []float32) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= inv
	}
}

// FNV-1a, 64 bit, with a one-byte group seed so equal strings in different
// groups hash apart. Fixed constants: deterministic across processes.
const (
	fnvOffset  = 14695981039346656037
	fnvPrime   = 1099511628211
	seedWord   = 'w'
	seedBigram = 'b'
	seedChar   = 'c'
)

func hashByte(h uint64, c byte) uint64 { return (h ^ uint64(c)) * fnvPrime }

func hashMore(h uint64, p []byte) uint64 {
	for _, c := range p {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

func hashBytes(seed byte, p []byte) uint64 { return hashMore(hashByte(fnvOffset, seed), p) }

func hashRunes(seed byte, rs []rune) uint64 {
	h := hashByte(fnvOffset, seed)
	for _, r := range rs {
		u := uint32(r)
		h = hashByte(h, byte(u))
		h = hashByte(h, byte(u>>8))
		h = hashByte(h, byte(u>>16))
	}
	return h
}

// mix is the murmur3 64-bit finaliser: it spreads FNV's bits so that the
// bucket (low bits) and the sign (top bit) are independent.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// isStopword reports very common English function words. Negations ("not",
// "no", "never") are deliberately absent: they change meaning.
func isStopword(w []byte) bool {
	switch string(w) {
	case "a", "an", "the", "is", "are", "was", "were", "be", "been", "am",
		"do", "does", "did", "i", "you", "he", "she", "it", "we", "they",
		"me", "my", "your", "his", "her", "its", "our", "their", "this", "that",
		"these", "those", "of", "in", "on", "at", "to", "for", "with", "by",
		"from", "and", "or", "as", "can", "could", "would", "should", "will",
		"shall", "may", "might", "there", "here", "what", "how", "please":
		return true
	}
	return false
}
