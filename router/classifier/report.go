package classifier

import (
	"fmt"
	"io"
	"strings"
)

// NamedCurve is one router's curve in a comparison.
type NamedCurve struct {
	Name  string
	Curve Curve
}

// Scores returns c's up score for each prompt (the ranking eval uses).
func Scores(c *Classifier, ex []Labelled) []float64 {
	out := make([]float64, len(ex))
	for i := range ex {
		out[i] = c.Classify(ex[i].Req).Score
	}
	return out
}

// SizeScores ranks by prompt tokens only.
func SizeScores(c *Classifier, ex []Labelled) []float64 {
	out := make([]float64, len(ex))
	for i := range ex {
		out[i] = float64(c.Classify(ex[i].Req).Tokens)
	}
	return out
}

// QualityOf returns the weak and strong qualities of ex.
func QualityOf(ex []Labelled) (weak, strong []float64) {
	weak = make([]float64, len(ex))
	strong = make([]float64, len(ex))
	for i, e := range ex {
		weak[i], strong[i] = e.Weak, e.Strong
	}
	return weak, strong
}

// WriteCurves writes a comparison table: APGR, the strong share needed to
// recover 50%, 80% and 95% of the quality gap (PGR), the share needed to
// keep 95% of the strong model's quality, and the quality kept at 40%.
// markdown selects a Markdown table instead of aligned text.
func WriteCurves(w io.Writer, curves []NamedCurve, markdown bool) error {
	var b strings.Builder
	head := []string{"router", "APGR", "share@PGR50", "share@PGR80", "share@PGR95", "share@95%quality", "kept@40%share"}
	if markdown {
		fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	} else {
		fmt.Fprintf(&b, "%-28s %6s %12s %12s %12s %17s %14s\n", head[0], head[1], head[2], head[3], head[4], head[5], head[6])
	}
	for _, nc := range curves {
		c := &nc.Curve
		kept, _ := c.At(0.40)
		cells := []string{
			nc.Name, fmt.Sprintf("%.3f", c.APGR),
			pct(c.ShareForPGR(0.5)), pct(c.ShareForPGR(0.8)), pct(c.ShareForPGR(0.95)),
			pct(c.ShareForKept(0.95)), pct(kept),
		}
		if markdown {
			fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
		} else {
			fmt.Fprintf(&b, "%-28s %6s %12s %12s %12s %17s %14s\n", cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCurvePoints writes quality kept and PGR at strong shares 0, 10%, ...,
// 100% for each curve.
func WriteCurvePoints(w io.Writer, curves []NamedCurve) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s", "kept (PGR) at share")
	for p := 0; p <= 100; p += 10 {
		fmt.Fprintf(&b, " %11s", fmt.Sprintf("%d%%", p))
	}
	b.WriteByte('\n')
	for _, nc := range curves {
		fmt.Fprintf(&b, "%-28s", nc.Name)
		for p := 0; p <= 100; p += 10 {
			fmt.Fprintf(&b, " %11s", fmt.Sprintf("%.3f(%.2f)", nc.Curve.Kept[p], nc.Curve.PGR[p]))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }
