package classifier

import (
	"math/bits"
	"strings"
)

// keywords is the classifier's lookup table, built once per New and read
// only afterwards. Keys are lowercase ASCII words, or "word word" pairs for
// phrases (hyphens and apostrophes split words, so "step-by-step" is seen as
// the pair "by step" and "don't" as "don t").
//
// It is an open-addressing table of 64-bit word hashes, which the scanner
// computes while it reads a word's letters, so a lookup is an index and a
// compare. Two different words colliding in 64 bits is negligible (a
// few thousand keys). The learned model's terms live in the same table
// (Classifier.New adds them), so a word costs one probe for its keyword
// category and its term weight, and a pair one more.
type keywords struct {
	class  *[256]uint8 // byte classes for the scanner
	hashes []uint64    // 0 = empty slot; probed apart from vals to stay in cache
	vals   []kwVal
	mask   uint64
	// suffixes: some key is a suffix term (else the scanner skips that probe).
	suffixes bool
}

// kwVal is what a key maps to: its keyword category, the slot of its
// weights in the model's term table (-1: not a term), and whether the word
// is the first of some pair key (else the scanner does not look the pair
// with the next word up).
type kwVal struct {
	term int32
	cat  cat
	head bool
}

const (
	hashSeed  uint64 = 0x243f6a8885a308d3 // pi's fraction, a nothing-up-my-sleeve start
	hashPrime uint64 = 0x9e3779b97f4a7c15 // odd; 2^64 / golden ratio
	// lowerBits lowercases eight ASCII letters at once.
	lowerBits uint64 = 0x2020202020202020
)

// hashLower hashes the ASCII letters w, lowercased, as the scanner does
// while it reads them: eight bytes at a time (little-endian, the last
// chunk padded with zero bytes, so a word whose length is a multiple of
// eight ends with an all-zero chunk), each chunk mixed in with hashChunk.
// A word of up to seven letters costs one multiplication.
func hashLower(w string) uint64 {
	h := hashSeed
	for len(w) >= 8 {
		h = hashChunk(h, load64(w, 0)|lowerBits)
		w = w[8:]
	}
	var x uint64
	for i := len(w) - 1; i >= 0; i-- {
		x = x<<8 | uint64(w[i]|0x20)
	}
	return hashChunk(h, x)
}

// hashChunk mixes the eight bytes x into h: the 128-bit product with an
// odd constant, folded (wyhash's mum), so every input bit reaches the low
// bits the tables index by.
func hashChunk(h, x uint64) uint64 {
	hi, lo := bits.Mul64(h^x, hashPrime)
	return hi ^ lo
}

// load64 returns the eight bytes t[i:i+8] as a little-endian integer (one
// load: the compiler combines the byte loads).
func load64(t string, i int) uint64 {
	t = t[i : i+8]
	return uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
		uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
}

// finishHash mixes a hash (splitmix64 finaliser) and keeps it non-zero.
func finishHash(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return nonZero(h)
}

// nonZero keeps a hash off 0, which marks an empty table slot.
func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// pairHash combines two finished word hashes, order-sensitively.
func pairHash(a, b uint64) uint64 { return finishHash(a*0x9e3779b97f4a7c15 ^ b) }

// wordHash is the hash of a lowercase ASCII word, as the scanner computes
// it.
func wordHash(w string) uint64 { return nonZero(hashLower(w)) }

// probe returns the slot of key h, or the empty slot that ends its probe
// sequence, whose value is that of no key (no category, term -1, not a
// pair's first word).
func (k *keywords) probe(h uint64) uint64 {
	i := h & k.mask
	for k.hashes[i] != h && k.hashes[i] != 0 {
		i = (i + 1) & k.mask
	}
	return i
}

// find returns the value of key h; a missing key gets that of no key.
func (k *keywords) find(h uint64) *kwVal { return &k.vals[k.probe(h)] }

// slot returns h's value, claiming an empty slot if h is new.
func (k *keywords) slot(h uint64) *kwVal {
	i := h & k.mask
	for k.hashes[i] != 0 && k.hashes[i] != h {
		i = (i + 1) & k.mask
	}
	k.hashes[i] = h
	return &k.vals[i]
}

func (k *keywords) insert(h uint64, c cat) { k.slot(h).cat = c }

// insertPair adds the pair a b (finished word hashes) and marks a as a
// pair's first word.
func (k *keywords) insertPair(a, b uint64) *kwVal {
	k.slot(a).head = true
	return k.slot(pairHash(a, b))
}

// addTerms adds the model's terms (see termTable) to the table.
func (k *keywords) addTerms(t *termTable) {
	for i, h := range t.hashes {
		if h == 0 {
			continue
		}
		name := t.names[i]
		switch name[0] {
		case 's':
			k.suffixes = true
		case 'b':
			first, _, _ := strings.Cut(name[2:], " ")
			k.slot(wordHash(first)).head = true
		}
		k.slot(h).term = int32(i)
	}
}

// keywordCount bounds the number of keys newKeywords adds (words, pairs
// and pairs' first words).
const keywordCount = 700

// newKeywords builds the table, with room for extra more keys (the learned
// model's terms). The lists describe kinds of tasks, not any particular
// dataset.
func newKeywords(extra int) *keywords {
	size := 1024
	for size < 2*(keywordCount+2*extra) { // at least twice the keys (a term pair adds its first word)
		size *= 2
	}
	k := &keywords{hashes: make([]uint64, size), vals: make([]kwVal, size), mask: uint64(size - 1), class: byteClasses()}
	for i := range k.vals {
		k.vals[i] = kwVal{term: -1} // an empty slot's value is no key's
	}
	add := func(c cat, list string) {
		for _, w := range strings.Fields(list) {
			if a, b, ok := strings.Cut(w, "_"); ok {
				k.insertPair(wordHash(a), wordHash(b)).cat = c
				continue
			}
			k.insert(wordHash(w), c)
		}
	}
	add(catCode, `code coding program programs programming script scripts function functions
		python javascript typescript java golang rust kotlin swift cpp csharp php ruby perl scala haskell
		sql html css json yaml regex regexp api apis endpoint debug debugging bug bugs compile compiler
		refactor implement implementation def lambda struct structs pointer pointers array arrays
		recursion recursive runtime exception stacktrace traceback segfault unittest pytest dataframe
		pandas numpy react django flask bash shell linux docker kubernetes git leetcode
		a_function the_function this_function a_program a_script this_code the_code my_code
		binary_tree linked_list hash_map data_structure data_structures`)
	add(catMath, `equation equations solve solving integral integrals integrate derivative derivatives
		differentiate calculus algebra algebraic polynomial polynomials quadratic matrix matrices
		eigenvalue eigenvalues eigenvector determinant probability probabilities theorem primes
		factorial sqrt logarithm logarithms exponent exponential geometry triangle triangles
		circle radius diameter perimeter hypotenuse angle angles area volume fraction fractions
		ratio ratios inequality inequalities modulo divisible divisor remainder irrational rational
		integers vector vectors converge convergence divergent series arithmetic geometric
		combinatorics permutation permutations combinations variance deviation median
		statistics statistical expectation sine cosine tangent trigonometry vertex vertices
		prime_number prime_numbers expected_value square_root real_numbers natural_numbers
		the_sum the_product the_area`)
	add(catHard, `prove proof proofs derive derivation derivations optimize optimise optimizing
		optimising optimization optimisation optimal architecture architect architecting design
		designing scalable scalability distributed concurrency concurrent consensus rigorous rigorously
		formally formalize lemma asymptotic complexity algorithm algorithms invariant invariants
		tradeoff tradeoffs throughput latency replication sharding consistency fault_tolerant
		trade_off trade_offs system_design time_complexity space_complexity big_o from_scratch
		edge_cases counterexample linearizable lock_free wait_free deadlock race_condition`)
	add(catReason, `why explain explanation reason reasoning logic logical logically deduce deduction
		infer inference implies therefore puzzle riddle paradox suppose assume assuming hypothetical
		compare comparison contrast evaluate analyze analyse analysis critique justify argue
		argument determine conclude conclusion consequences implications relationship
		step_by by_step think_through what_if pros_and reasons_why`)
	add(catConstraint, `must exactly only without ensure avoid never always require requires required
		requirement requirements constraint constraints limit maximum minimum strictly
		at_least at_most no_more more_than less_than fewer_than don_t do_not must_not should_not
		make_sure each_sentence`)
	add(catLength, `detailed comprehensive thorough thoroughly essay elaborate extensive lengthy
		paragraphs pages chapter chapters report whitepaper in_depth full_length long_form`)
	add(catEasy, `summarize summarise summarizing summarising summary summarization tldr extract
		extracting translate translating translation classify categorize categorise rewrite rephrase
		paraphrase proofread reformat shorten sentiment keywords tl_dr fix_the correct_the
		the_grammar grammatical_errors spelling_mistakes`)
	add(catQuant, `total altogether average remaining calculate compute percentage profit earns
		earned earn spend spends spent costs cost price per each left
		how_many how_much how_long how_far how_old how_fast how_tall how_often what_percentage
		what_percent what_fraction in_total`)
	add(catNumWord, `half twice double triple thrice dozen dozens quarter third thirds two three four
		five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty hundred
		hundreds thousand thousands million percent`)
	add(catDomain, `quantum entropy enthalpy thermodynamics thermodynamic kinetic momentum velocity
		acceleration torque voltage circuit capacitor resistor magnetic electron electrons photon
		wavelength molecule molecules molecular molar oxidation isotope ions orbital nucleus
		homomorphism isomorphism subgroup subgroups abelian cardinality topology manifold lagrangian
		hamiltonian stochastic regression estimator heteroskedasticity econometric autocorrelation
		bayesian gradient tautology syllogism propositional predicate entails tort plaintiff
		defendant statute negligence jurisdiction liability appellate constitutional hearsay
		testimony felony misdemeanor patient diagnosis symptoms syndrome pathology pharmacology
		enzyme enzymes chromosome antibody mutation physiological clinical dosage mg
		presents_with year_old most_likely`)
	return k
}
