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
type vocabSet struct {
	hashes []uint64 // open addressing; 0 = empty
	mask   uint64
}

func (v *vocabSet) has(h uint64) bool {
	for i := h & v.mask; ; i = (i + 1) & v.mask {
		switch v.hashes[i] {
		case h:
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
	v := &vocabSet{hashes: make([]uint64, size), mask: size - 1}
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
		i := h & v.mask
		for v.hashes[i] != 0 && v.hashes[i] != h {
			i = (i + 1) & v.mask
		}
		v.hashes[i] = h
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
