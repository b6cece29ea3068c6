package guard

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ReasonPosition is returned when both prompts hold the same facts but in
// different places: a negation in another clause, a number with another
// unit, entities or direction words in another order.
const ReasonPosition = "facts differ in position"

// samePositions reports whether a and b carry the same facts in the same
// clauses, in the same order. A fact is a negation, a number with the unit
// written next to it ("5 km", "$5", "15%"), a direction word on an axis
// both prompts use, or an entity word of either prompt (ents, compared
// case-insensitively); punctuation and conjunctions ("and", "but",
// "because", ...) end a clause. Clauses without facts are ignored, so
// padding and rephrasing around the facts still match. Facts are compared
// as 64-bit hashes; it does not allocate for prompts of up to 64 facts.
func samePositions(a, b string, entsA, entsB []string, axes func(string) bool) bool {
	var sa, sb seq
	clauseFacts(&sa, a, entsA, entsB, axes)
	clauseFacts(&sb, b, entsA, entsB, axes)
	return slices.Equal(sa.items(), sb.items())
}

// seq is a fact sequence: fact hashes with clauseEnd between clauses,
// inline up to 64 items.
type seq struct {
	n      int
	inline [64]uint64
	more   []uint64
	open   bool // the current clause has a fact
}

const clauseEnd = 0

func (q *seq) add(h uint64) {
	if h == clauseEnd {
		h = 1
	}
	q.push(h)
	q.open = true
}

func (q *seq) end() {
	if q.open {
		q.push(clauseEnd)
		q.open = false
	}
}

func (q *seq) push(h uint64) {
	if q.n < len(q.inline) {
		q.inline[q.n] = h
	} else {
		q.more = append(q.more, h)
	}
	q.n++
}

func (q *seq) items() []uint64 {
	if q.n <= len(q.inline) {
		return q.inline[:q.n]
	}
	return append(q.inline[:], q.more...)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashFold hashes kind then s lower-cased, rune by rune.
func hashFold(kind byte, s string) uint64 {
	h := uint64(fnvOffset)
	h = (h ^ uint64(kind)) * fnvPrime
	for _, r := range s {
		r = unicode.ToLower(r)
		for r > 0 {
			h = (h ^ uint64(r&0xff)) * fnvPrime
			r >>= 8
		}
	}
	return h
}

func hashMore(h uint64, s string) uint64 {
	h = (h ^ 0xff) * fnvPrime
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// clauseFacts appends the facts of s to q, clause by clause.
func clauseFacts(q *seq, s string, entsA, entsB []string, axes func(string) bool) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isWordRune(r) {
			switch r {
			case '.', '!', '?', ';', ':', ',', '\n', '(', ')':
				if !(r == '.' || r == ',') || i+1 >= len(s) || s[i+1] < '0' || s[i+1] > '9' {
					q.end()
				}
			}
			i += n
			continue
		}
		if unicode.IsDigit(r) {
			j := numberEnd(s, i)
			h := hashMore(hashFold('#', normNumber(s[i:j])), currencyBefore(s[:i]))
			unit, k := unitAfter(s, j)
			q.add(hashMore(h, unit))
			i = k
			continue
		}
		j := wordEnd(s, i)
		w := s[i:j]
		i = j
		var buf [24]byte
		if lw, ok := lowerASCII(&buf, w); ok {
			if clauseWord(lw) {
				q.end()
				continue
			}
			if v := numberWord(lw); v != "" {
				unit, k := unitAfter(s, j)
				q.add(hashMore(hashMore(hashFold('#', v), ""), unit))
				i = k
				continue
			}
			if isNegation(lw) {
				q.add(hashFold('!', ""))
				continue
			}
			if d := direction(lw); d != "" {
				if axes(d) {
					q.add(hashFold('d', d))
				}
				continue
			}
		}
		if containsFold(entsA, w) || containsFold(entsB, w) {
			q.add(hashFold('e', w))
		}
	}
	q.end()
}

// clauseWord reports a conjunction that starts a new clause.
func clauseWord(w []byte) bool {
	switch string(w) {
	case "and", "but", "or", "because", "while", "whereas", "although", "though",
		"if", "unless", "then", "so", "yet", "when", "since":
		return true
	}
	return false
}

func currencyBefore(s string) string {
	r, _ := utf8.DecodeLastRuneInString(s)
	switch r {
	case '$':
		return "usd"
	case '€':
		return "eur"
	case '£':
		return "gbp"
	case '¥':
		return "jpy"
	}
	return ""
}

// unitAfter reads the unit written right after a number ending at j: a
// '%' or '°' sign, or a unit word (after at most one space). It returns the
// canonical unit ("" for none) and where scanning goes on.
func unitAfter(s string, j int) (string, int) {
	if j < len(s) && s[j] == '%' {
		return "percent", j + 1
	}
	k := j
	if k < len(s) && s[k] == ' ' {
		k++
	}
	if strings.HasPrefix(s[k:], "°") {
		k += len("°")
		if k < len(s) && (s[k]|0x20 == 'c' || s[k]|0x20 == 'f') {
			return "deg" + string(s[k]|0x20), k + 1
		}
		return "deg", k
	}
	if k >= len(s) {
		return "", j
	}
	r, _ := utf8.DecodeRuneInString(s[k:])
	if !unicode.IsLetter(r) {
		return "", j
	}
	e := wordEnd(s, k)
	var buf [24]byte
	lw, ok := lowerASCII(&buf, s[k:e])
	if !ok {
		return "", j
	}
	if u := unitWord(string(lw)); u != "" {
		return u, e
	}
	return "", j
}

// unitWord returns the canonical name of a unit word, or "".
func unitWord(w string) string {
	switch w {
	case "km", "kms", "kilometer", "kilometers", "kilometre", "kilometres":
		return "km"
	case "m", "meter", "meters", "metre", "metres":
		return "m"
	case "cm", "centimeter", "centimeters", "centimetre", "centimetres":
		return "cm"
	case "mm", "millimeter", "millimeters":
		return "mm"
	case "mi", "mile", "miles":
		return "mi"
	case "ft", "foot", "feet":
		return "ft"
	case "inch", "inches":
		return "in"
	case "kg", "kgs", "kilogram", "kilograms", "kilo", "kilos":
		return "kg"
	case "g", "gram", "grams":
		return "g"
	case "mg", "milligram", "milligrams":
		return "mg"
	case "lb", "lbs", "pound", "pounds":
		return "lb"
	case "oz", "ounce", "ounces":
		return "oz"
	case "l", "liter", "liters", "litre", "litres":
		return "l"
	case "ml", "milliliter", "milliliters", "millilitre", "millilitres":
		return "ml"
	case "gallon", "gallons", "gal":
		return "gal"
	case "s", "sec", "secs", "second", "seconds":
		return "s"
	case "min", "mins", "minute", "minutes":
		return "min"
	case "h", "hr", "hrs", "hour", "hours":
		return "h"
	case "day", "days":
		return "day"
	case "week", "weeks":
		return "week"
	case "month", "months":
		return "month"
	case "year", "years", "yr", "yrs":
		return "year"
	case "percent", "pct":
		return "percent"
	case "usd", "dollar", "dollars":
		return "usd"
	case "eur", "euro", "euros":
		return "eur"
	case "gbp":
		return "gbp"
	case "kb", "kilobyte", "kilobytes":
		return "kb"
	case "mb", "megabyte", "megabytes":
		return "mb"
	case "gb", "gigabyte", "gigabytes":
		return "gb"
	case "tb", "terabyte", "terabytes":
		return "tb"
	case "mph":
		return "mph"
	case "kph", "kmh":
		return "kph"
	case "celsius":
		return "degc"
	case "fahrenheit":
		return "degf"
	case "kelvin":
		return "k"
	}
	return ""
}
