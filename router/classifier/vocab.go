package classifier

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"sync"

	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// minVocabWord is the shortest word looked up in the vocabulary: shorter
// words are nearly always one token.
const minVocabWord = 3

// capSalt tells a capitalised word's hash from the lowercase one's.
const capSalt uint64 = 0x5bd1e9955bd1e995

// vocabSet holds the hashes (see wordHash) of the ASCII words of minVocabWord
// letters or more that are a single cl100k_base token, with or without a
// leading space: all-lowercase words under their hash, Capitalised words
// under their lowercased hash xor capSalt. The token estimator counts such a
// word as one token and estimates the others from their length. Immutable
// once built.
//
// The table keeps 32-bit fingerprints (the hash's high half) at the slot
// its low bits pick, so it is half the size (512 KB, and fewer cache
// misses per word). A word not in the vocabulary matches a stored
// fingerprint with probability about 2^-32 per slot probed: under one in a
// million prompts of 2,000 tokens, and then the estimate is off by a token.
type vocabSet struct {
	fps  []uint32 // open addressing; 0 = empty
	mask uint64
}

func vocabFP(h uint64) uint32 { return uint32(h>>32) | 1 }

func (v *vocabSet) has(h uint64) bool {
	fp := vocabFP(h)
	for i := h & v.mask; ; i = (i + 1) & v.mask {
		switch v.fps[i] {
		case fp:
			return true
		case 0:
			return false
		}
	}
}

// sharedVocab builds the vocabulary set once per process from the
// cl100k_base file embedded by tiktoken-go-loader (about 30 ms, 1 MB) and
// shares it between classifiers, so a config reload does not rebuild it.
// Like bpeSetup, this is read-only data after the first New.
var sharedVocab struct {
	once sync.Once
	set  *vocabSet
	err  error
}

func loadVocab() (*vocabSet, error) {
	sharedVocab.once.Do(func() {
		sharedVocab.set, sharedVocab.err = buildVocab()
	})
	return sharedVocab.set, sharedVocab.err
}

func buildVocab() (*vocabSet, error) {
	data, err := assets.Assets.ReadFile("cl100k_base.tiktoken")
	if err != nil {
		return nil, fmt.Errorf("classifier: read embedded cl100k_base vocabulary: %w", err)
	}
	const size = 1 << 17 // power of two, over twice the ~46k qualifying tokens
	v := &vocabSet{fps: make([]uint32, size), mask: size - 1}
	var tok [128]byte
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		sp := bytes.IndexByte(line, ' ')
		if sp <= 0 || base64.StdEncoding.DecodedLen(sp) > len(tok) {
			continue
		}
		n, err := base64.StdEncoding.Decode(tok[:], line[:sp])
		if err != nil {
			return nil, fmt.Errorf("classifier: bad cl100k_base vocabulary line: %w", err)
		}
		w := tok[:n]
		if len(w) > 0 && w[0] == ' ' {
			w = w[1:]
		}
		if len(w) < minVocabWord {
			continue
		}
		var h uint64
		switch {
		case allLower(w):
			h = wordHash(string(w))
		case w[0] >= 'A' && w[0] <= 'Z' && allLower(w[1:]):
			lw := append([]byte(nil), w...)
			lw[0] |= 0x20
			h = wordHash(string(lw)) ^ capSalt
		default:
			continue
		}
		i, fp := h&v.mask, vocabFP(h)
		for v.fps[i] != 0 && v.fps[i] != fp {
			i = (i + 1) & v.mask
		}
		v.fps[i] = fp
	}
	return v, nil
}

func allLower(w []byte) bool {
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
