package guard

import (
	"bytes"
	"unicode"
)

// numberWord returns the digits of a spelled-out number (lower-case ASCII
// input), or "".
func numberWord(w []byte) string {
	switch string(w) {
	case "zero":
		return "0"
	case "one":
		return "1"
	case "two":
		return "2"
	case "three":
		return "3"
	case "four":
		return "4"
	case "five":
		return "5"
	case "six":
		return "6"
	case "seven":
		return "7"
	case "eight":
		return "8"
	case "nine":
		return "9"
	case "ten":
		return "10"
	case "eleven":
		return "11"
	case "twelve", "dozen":
		return "12"
	case "thirteen":
		return "13"
	case "fourteen":
		return "14"
	case "fifteen":
		return "15"
	case "sixteen":
		return "16"
	case "seventeen":
		return "17"
	case "eighteen":
		return "18"
	case "nineteen":
		return "19"
	case "twenty":
		return "20"
	case "thirty":
		return "30"
	case "forty":
		return "40"
	case "fifty":
		return "50"
	case "sixty":
		return "60"
	case "seventy":
		return "70"
	case "eighty":
		return "80"
	case "ninety":
		return "90"
	case "hundred":
		return "100"
	case "thousand":
		return "1000"
	case "million":
		return "1000000"
	case "billion":
		return "1000000000"
	case "half":
		return "0.5"
	case "twice":
		return "x2"
	case "thrice":
		return "x3"
	}
	return ""
}

// isNegation reports negating words (lower-case ASCII input), including
// contractions with or without the apostrophe.
func isNegation(w []byte) bool {
	switch string(w) {
	case "not", "no", "never", "none", "nobody", "nothing", "neither", "nor",
		"cannot", "without", "nowhere", "noone",
		"dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "cant",
		"couldnt", "wouldnt", "shouldnt", "wont", "havent", "hasnt", "hadnt",
		"mustnt", "neednt", "aint":
		return true
	}
	return bytes.HasSuffix(w, []byte("n't"))
}

// direction returns the canonical form of a direction or comparison word
// (lower-case ASCII input), or "". Words on the same side of an axis share a
// form ("larger" and "bigger" are "+size"), so synonyms agree and opposites
// differ.
func direction(w []byte) string {
	switch string(w) {
	case "more", "most", "greater", "greatest":
		return "+amount"
	case "less", "least", "fewer", "fewest", "lesser":
		return "-amount"
	case "larger", "largest", "bigger", "biggest", "large", "big":
		return "+size"
	case "smaller", "smallest", "small", "little":
		return "-size"
	case "higher", "highest", "high", "taller", "tallest", "tall":
		return "+height"
	case "lower", "lowest", "low", "shorter", "shortest":
		return "-height"
	case "longer", "longest", "long":
		return "+length"
	case "max", "maximum", "maximize", "maximise":
		return "+max"
	case "min", "minimum", "minimize", "minimise":
		return "-max"
	case "increase", "increases", "increasing", "increased", "raise", "grow":
		return "+change"
	case "decrease", "decreases", "decreasing", "decreased", "reduce", "shrink":
		return "-change"
	case "before", "earlier", "earliest", "prior":
		return "-time"
	case "after", "later", "latest", "since":
		return "+time"
	case "above", "over", "up", "upper":
		return "+vertical"
	case "below", "under", "down", "beneath":
		return "-vertical"
	case "first", "start", "beginning":
		return "-order"
	case "last", "end", "final":
		return "+order"
	case "best", "better":
		return "+quality"
	case "worst", "worse":
		return "-quality"
	case "faster", "fastest", "fast", "quicker", "quickest":
		return "+speed"
	case "slower", "slowest", "slow":
		return "-speed"
	case "older", "oldest", "old":
		return "+age"
	case "younger", "youngest", "newer", "newest", "young":
		return "-age"
	case "ascending":
		return "+sort"
	case "descending":
		return "-sort"
	case "add", "insert", "append":
		return "+edit"
	case "remove", "delete", "drop":
		return "-edit"
	case "encrypt", "encode", "compress", "serialize", "serialise":
		return "+codec"
	case "decrypt", "decode", "decompress", "deserialize", "deserialise":
		return "-codec"
	case "import", "imports":
		return "+io"
	case "export", "exports":
		return "-io"
	case "true":
		return "+bool"
	case "false":
		return "-bool"
	case "buy", "bought", "buying":
		return "+trade"
	case "sell", "sold", "selling":
		return "-trade"
	case "win", "won", "winning", "wins":
		return "+outcome"
	case "lose", "lost", "losing", "loses":
		return "-outcome"
	case "positive":
		return "+sign"
	case "negative":
		return "-sign"
	case "left":
		return "+side"
	case "right":
		return "-side"
	case "north":
		return "+ns"
	case "south":
		return "-ns"
	case "east":
		return "+ew"
	case "west":
		return "-ew"
	case "hot", "hotter", "hottest", "warm", "warmer":
		return "+temp"
	case "cold", "colder", "coldest", "cool", "cooler":
		return "-temp"
	}
	return ""
}

type script uint8

const (
	scriptNone script = iota
	scriptLatin
	scriptCyrillic
	scriptGreek
	scriptArabic
	scriptHebrew
	scriptHan
	scriptKana
	scriptHangul
	scriptDevanagari
	scriptThai
	scriptOther
	numScripts
)

// dominantScript returns the writing system of most letters in s (kana wins
// over Han when present, as Japanese mixes both).
func dominantScript(s string) script {
	var counts [numScripts]int
	for _, r := range s {
		if !unicode.IsLetter(r) {
			continue
		}
		counts[scriptOf(r)]++
	}
	if counts[scriptKana] > 0 {
		counts[scriptKana] += counts[scriptHan]
		counts[scriptHan] = 0
	}
	best := scriptNone
	for sc := scriptLatin; sc < numScripts; sc++ {
		if counts[sc] > counts[best] {
			best = sc
		}
	}
	return best
}

func scriptOf(r rune) script {
	switch {
	case r < 0x250 || unicode.Is(unicode.Latin, r):
		return scriptLatin
	case unicode.Is(unicode.Cyrillic, r):
		return scriptCyrillic
	case unicode.Is(unicode.Greek, r):
		return scriptGreek
	case unicode.Is(unicode.Arabic, r):
		return scriptArabic
	case unicode.Is(unicode.Hebrew, r):
		return scriptHebrew
	case unicode.Is(unicode.Han, r):
		return scriptHan
	case unicode.Is(unicode.Hiragana, r), unicode.Is(unicode.Katakana, r):
		return scriptKana
	case unicode.Is(unicode.Hangul, r):
		return scriptHangul
	case unicode.Is(unicode.Devanagari, r):
		return scriptDevanagari
	case unicode.Is(unicode.Thai, r):
		return scriptThai
	}
	return scriptOther
}
