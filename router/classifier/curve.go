package classifier

import (
	"errors"
	"math"
	"sort"
)

// Curve is the cost-quality curve of a ranking of labelled prompts: send
// the highest-scored share of them above small (to the strong model), keep
// the rest on the small (weak) model, and measure the mean quality.
//
// Quality "kept" is mean quality divided by the strong model's mean
// quality; PGR (performance gap recovered) is (quality - weak) / (strong -
// weak). Tied scores count as ordered at random (the curve is the
// expectation: linear across a tie).
type Curve struct {
	N            int
	Weak, Strong float64      // mean quality of all-weak and all-strong
	Kept         [101]float64 // quality kept at strong share 0%, 1%, ..., 100%
	PGR          [101]float64 // performance gap recovered at the same shares
	APGR         float64      // mean PGR over shares in [0, 1]; 0.5 for a random ranking

	gain []float64 // cumulative gain (strong - weak) after the top k prompts, k = 0..N
}

// errNoGap is returned when the strong model is not better on the data.
var errNoGap = errors.New("the strong model is not better than the weak one on this data: no gap to recover")

// NewCurve ranks by scores (higher goes up first). weak and strong are each
// prompt's quality in [0, 1] under each model; all three have one entry
// per prompt.
func NewCurve(scores, weak, strong []float64) (Curve, error) {
	n := len(scores)
	if n == 0 || len(weak) != n || len(strong) != n {
		return Curve{}, errors.New("curve: want the same positive number of scores and labels")
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	c := Curve{N: n, gain: make([]float64, n+1)}
	for i := 0; i < n; {
		j := i
		block := 0.0
		for j < n && scores[idx[j]] == scores[idx[i]] {
			block += strong[idx[j]] - weak[idx[j]]
			j++
		}
		for k := i + 1; k <= j; k++ {
			c.gain[k] = c.gain[i] + block*float64(k-i)/float64(j-i)
		}
		i = j
	}
	for i := range weak {
		c.Weak += weak[i]
		c.Strong += strong[i]
	}
	c.Weak /= float64(n)
	c.Strong /= float64(n)
	if c.Strong <= c.Weak {
		return c, errNoGap
	}
	gap := c.Strong - c.Weak
	area := 0.0
	for k := 1; k <= n; k++ {
		area += (c.gain[k-1] + c.gain[k]) / 2
	}
	c.APGR = area / float64(n) / float64(n) / gap
	for p := 0; p <= 100; p++ {
		g := c.gainAt(float64(p) / 100)
		q := c.Weak + g/float64(n)
		c.Kept[p] = q / c.Strong
		c.PGR[p] = (q - c.Weak) / gap
	}
	return c, nil
}

// gainAt interpolates the cumulative gain at a share in [0, 1].
func (c *Curve) gainAt(share float64) float64 {
	x := share * float64(c.N)
	k := int(x)
	if k >= c.N {
		return c.gain[c.N]
	}
	return c.gain[k] + (x-float64(k))*(c.gain[k+1]-c.gain[k])
}

// At returns the quality kept and the PGR at a strong share in [0, 1].
func (c *Curve) At(share float64) (kept, pgr float64) {
	g := c.gainAt(math.Max(0, math.Min(1, share)))
	q := c.Weak + g/float64(c.N)
	return q / c.Strong, (q - c.Weak) / (c.Strong - c.Weak)
}

// ShareForPGR is the smallest strong share (over whole prompts) whose PGR
// reaches p; 1 if none before all prompts go up.
func (c *Curve) ShareForPGR(p float64) float64 {
	need := p * (c.Strong - c.Weak) * float64(c.N)
	return c.firstShare(need)
}

// ShareForKept is the smallest strong share whose quality kept reaches q.
func (c *Curve) ShareForKept(q float64) float64 {
	need := (q*c.Strong - c.Weak) * float64(c.N)
	return c.firstShare(need)
}

func (c *Curve) firstShare(needGain float64) float64 {
	if needGain <= 1e-9 {
		return 0
	}
	for k := 1; k <= c.N; k++ {
		if c.gain[k] >= needGain-1e-9 {
			return float64(k) / float64(c.N)
		}
	}
	return 1
}

// RandomCurve is the expected curve of a router that sends prompts up at
// random: quality grows linearly with the strong share, APGR 0.5.
func RandomCurve(weak, strong []float64) (Curve, error) {
	return NewCurve(make([]float64, len(weak)), weak, strong)
}
